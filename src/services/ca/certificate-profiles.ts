import { validateNameRules, type ExtendedKeyUsageName } from '../../ca/index.js'
import { MAX_LIFETIME_SECONDS } from '../../ca/certificate-terms.js'
import { KeybrokerError } from '../../errors.js'
import {
  createProfile as insertProfile,
  deleteProfile as removeProfile,
  getProfile,
  getReferenceValueSets,
  listProfiles,
  policyExists,
  replaceProfile,
  type CertificateProfile,
  type Executor,
} from '../../storage/index.js'
import type { AdminPrincipal } from '../admin-tokens.js'
import { auditAdminChange } from '../audit.js'
import { DEFAULT_POLICY_NAME } from '../policy-admin.js'
import type { Services } from '../services.js'

/**
 * Certificate profiles (issue 16): which names a CA issues to an attested key, with which EKUs
 * and lifetime, gated by reference-value sets and a release policy exactly as a secret is.
 */
export const DEFAULT_LIFETIME_SECONDS = 86_400
export { MAX_LIFETIME_SECONDS }

export interface ProfileInput {
  readonly name: string
  readonly ca: string
  readonly allowedDnsNames?: readonly string[] | undefined
  readonly allowedIpAddresses?: readonly string[] | undefined
  readonly allowedSubject?: Readonly<Partial<Record<string, readonly string[]>>> | undefined
  readonly extendedKeyUsage?: readonly ExtendedKeyUsageName[] | undefined
  readonly lifetimeSeconds?: number | undefined
  readonly referenceValues: readonly string[]
  readonly policy?: string | null | undefined
}

export interface ProfileView {
  readonly name: string
  readonly ca: string
  readonly allowedDnsNames: string[]
  readonly allowedIpAddresses: string[]
  readonly allowedSubject: Record<string, string[]>
  readonly extendedKeyUsage: string[]
  readonly lifetimeSeconds: number
  readonly referenceValues: string[]
  readonly policy: string | null
  readonly createdAt: string
  readonly updatedAt: string
}

export async function createCertificateProfile(s: Services, input: ProfileInput, by: AdminPrincipal): Promise<ProfileView> {
  const row = validated(input)
  let stored: CertificateProfile | undefined
  await s.database.db.transaction(async (tx) => {
    await requireReferenceValues(tx, row.referenceValues)
    if (row.policy !== null) await requirePolicy(tx, row.policy)
    stored = await insertProfile(tx, row, s.now())
    await auditAdminChange(tx, s, by, 'certificate-profile.create', row.name, auditDetail(stored))
  })
  if (stored === undefined) throw new KeybrokerError('internal', 'profile was not written')
  return toView(stored)
}

export async function replaceCertificateProfile(s: Services, input: ProfileInput, by: AdminPrincipal): Promise<ProfileView> {
  const row = validated(input)
  let stored: CertificateProfile | undefined
  await s.database.db.transaction(async (tx) => {
    await requireReferenceValues(tx, row.referenceValues)
    if (row.policy !== null) await requirePolicy(tx, row.policy)
    stored = await replaceProfile(tx, row, s.now())
    await auditAdminChange(tx, s, by, 'certificate-profile.replace', row.name, auditDetail(stored))
  })
  if (stored === undefined) throw new KeybrokerError('internal', 'profile was not written')
  return toView(stored)
}

export async function getCertificateProfile(s: Services, name: string): Promise<ProfileView> {
  const row = await getProfile(s.database.db, name)
  if (row === undefined) throw new KeybrokerError('not-found', `no such certificate profile: ${name}`)
  return toView(row)
}

export async function listCertificateProfiles(s: Services): Promise<ProfileView[]> {
  return (await listProfiles(s.database.db)).map(toView)
}

export async function deleteCertificateProfile(s: Services, name: string, by: AdminPrincipal): Promise<void> {
  await s.database.db.transaction(async (tx) => {
    if (!(await removeProfile(tx, name))) throw new KeybrokerError('not-found', `no such certificate profile: ${name}`)
    await auditAdminChange(tx, s, by, 'certificate-profile.delete', name, {})
  })
}

function validated(input: ProfileInput) {
  const rules = {
    allowedDnsNames: [...(input.allowedDnsNames ?? [])],
    allowedIpAddresses: [...(input.allowedIpAddresses ?? [])],
    allowedSubject: Object.fromEntries(Object.entries(input.allowedSubject ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [[k, [...v]]]))),
  }
  validateNameRules(rules)
  if (rules.allowedDnsNames.length + rules.allowedIpAddresses.length === 0) {
    throw new KeybrokerError('bad-request', 'a profile allows at least one DNS name or IP address pattern')
  }
  const lifetimeSeconds = input.lifetimeSeconds ?? DEFAULT_LIFETIME_SECONDS
  if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds < 60 || lifetimeSeconds > MAX_LIFETIME_SECONDS) {
    throw new KeybrokerError('bad-request', `lifetimeSeconds must be 60..${MAX_LIFETIME_SECONDS}`)
  }
  return {
    name: input.name,
    caName: input.ca,
    ...rules,
    extendedKeyUsage: [...new Set(input.extendedKeyUsage ?? ['serverAuth'])],
    lifetimeSeconds,
    referenceValues: [...input.referenceValues],
    policy: input.policy === undefined || input.policy === null || input.policy === DEFAULT_POLICY_NAME ? null : input.policy,
  }
}

async function requireReferenceValues(ex: Executor, names: readonly string[]): Promise<void> {
  const found = await getReferenceValueSets(ex, names)
  const missing = names.filter((n) => !found.has(n))
  if (missing.length > 0) throw new KeybrokerError('bad-request', `no such reference-value set: ${missing.join(', ')}`)
}

async function requirePolicy(ex: Executor, name: string): Promise<void> {
  if (!(await policyExists(ex, name, true))) throw new KeybrokerError('bad-request', `no such policy: ${name}`)
}

function auditDetail(p: CertificateProfile) {
  return {
    ca: p.caName,
    allowedDnsNames: p.allowedDnsNames,
    allowedIpAddresses: p.allowedIpAddresses,
    allowedSubject: p.allowedSubject,
    extendedKeyUsage: p.extendedKeyUsage,
    lifetimeSeconds: p.lifetimeSeconds,
    referenceValues: p.referenceValues,
    policy: p.policy,
  }
}

export function toView(p: CertificateProfile): ProfileView {
  return {
    name: p.name,
    ca: p.caName,
    allowedDnsNames: [...p.allowedDnsNames],
    allowedIpAddresses: [...p.allowedIpAddresses],
    allowedSubject: { ...p.allowedSubject },
    extendedKeyUsage: [...p.extendedKeyUsage],
    lifetimeSeconds: p.lifetimeSeconds,
    referenceValues: [...p.referenceValues],
    policy: p.policy,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  }
}
