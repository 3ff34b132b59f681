import { CATALOGUED_EVIDENCE_TYPES, expectedClaimJson, parseExpectedClaims } from '../appraisal/index.js'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/index.js'
import {
  createReferenceValueSet,
  deleteReferenceValueSet,
  getReferenceValueSet,
  getReferenceValueSetVersion,
  listReferenceValueSets,
  listReferenceValueSetVersions,
  replaceReferenceValueSet,
  revokeMeasurement,
  type ReferenceValueSet as StoredReferenceValueSet,
  type ReferenceValueInput,
  type StoredProvenance,
} from '../storage/index.js'
import type { AdminPrincipal } from './admin-tokens.js'
import { auditAdminChange } from './audit.js'
import { caServices } from './ca-services.js'
import { isJsonValue } from './json-value.js'
import type { Services } from './services.js'

/** Provenance as the API shows it (JSON). */
export type ProvenanceView = { source: string; [k: string]: unknown }

export interface ReferenceValueView {
  value: string
  createdAt: string
  revokedAt: string | null
  revokeReason: string | null
  expect: unknown[]
  notBefore: string | null
  notAfter: string | null
  provenance: ProvenanceView | null
}

export interface ReferenceValueSetView {
  readonly name: string
  readonly version: number
  readonly allowDebug: boolean
  readonly evidenceType: string | null
  readonly expect: unknown[]
  readonly provenance: ProvenanceView | null
  readonly measurements: ReferenceValueView[]
  readonly createdAt: string
  readonly updatedAt: string
}

/** A value as admins and bundles give it; times RFC 3339. */
export interface ValueInput {
  readonly measurement: string
  readonly notBefore?: string | undefined
  readonly notAfter?: string | undefined
  readonly expect?: readonly unknown[] | undefined
}

export interface ReferenceValuesInput {
  readonly measurements?: readonly string[] | undefined
  readonly values?: readonly ValueInput[] | undefined
  readonly allowDebug: boolean
  readonly evidenceType?: string | undefined
  readonly expect?: readonly unknown[] | undefined
}

/**
 * Checks a set against the claim catalogue (unknown claim or operator: `claim-unknown`, 400)
 * and normalizes it (expectations in canonical JSON, times as Dates).
 */
export function validatedSetInput(
  input: ReferenceValuesInput,
  provenance: StoredProvenance,
): { evidenceType: string | null; expect: JsonValue[]; values: ReferenceValueInput[]; measurements: string[] } {
  const evidenceType = input.evidenceType
  if (evidenceType !== undefined && !CATALOGUED_EVIDENCE_TYPES.includes(evidenceType)) {
    throw new KeybrokerError('claim-unknown', `evidenceType: no claim catalogue for ${JSON.stringify(evidenceType.slice(0, 64))}; known: ${CATALOGUED_EVIDENCE_TYPES.join(', ')}`)
  }
  const expect = parseExpectedClaims(jsonArray(input.expect), evidenceType).map(expectedClaimJson)
  const values = (input.values ?? []).map((v, i) => ({
    measurement: v.measurement,
    notBefore: timeOf(v.notBefore, `values[${i}].notBefore`),
    notAfter: timeOf(v.notAfter, `values[${i}].notAfter`),
    expect: parseExpectedClaims(jsonArray(v.expect), evidenceType, `values[${i}].expect`).map(expectedClaimJson),
    provenance,
  }))
  const measurements = [...(input.measurements ?? [])]
  if (measurements.length + values.length === 0 && expect.length === 0) {
    throw new KeybrokerError('bad-request', 'a set needs measurements, values or expected claims')
  }
  return { evidenceType: evidenceType ?? null, expect, values, measurements }
}

/** Request bodies are parsed JSON; this says so to the type system (and refuses anything else). */
function jsonArray(v: readonly unknown[] | undefined): JsonValue[] {
  const out: JsonValue[] = []
  for (const x of v ?? []) {
    if (!isJsonValue(x)) throw new KeybrokerError('bad-request', 'expect: JSON values only')
    out.push(x)
  }
  return out
}

function timeOf(t: string | undefined, where: string): Date | null {
  if (t === undefined) return null
  const ms = Date.parse(t)
  if (!Number.isFinite(ms)) throw new KeybrokerError('bad-request', `${where}: an RFC 3339 time`)
  return new Date(ms)
}

export function adminProvenance(s: Services, by: AdminPrincipal): StoredProvenance {
  return { source: 'admin', by: by.id, at: s.now().toISOString() }
}

export async function createReferenceValues(
  s: Services,
  input: ReferenceValuesInput & { name: string },
  by: AdminPrincipal,
): Promise<ReferenceValueSetView> {
  const provenance = adminProvenance(s, by)
  const v = validatedSetInput(input, provenance)
  await s.database.db.transaction(async (tx) => {
    const set = await createReferenceValueSet(tx, { name: input.name, ...v, allowDebug: input.allowDebug, provenance, at: s.now() })
    await auditAdminChange(tx, s, by, 'reference-values.create', input.name, auditDetail(set))
  })
  return getReferenceValues(s, input.name)
}

export async function listReferenceValues(s: Services): Promise<ReferenceValueSetView[]> {
  return (await listReferenceValueSets(s.database.db)).map(toView)
}

export async function getReferenceValues(s: Services, name: string): Promise<ReferenceValueSetView> {
  const set = await getReferenceValueSet(s.database.db, name)
  if (set === undefined) throw new KeybrokerError('not-found', `no such reference-value set: ${name}`)
  return toView(set)
}

export async function replaceReferenceValues(
  s: Services,
  name: string,
  input: ReferenceValuesInput,
  by: AdminPrincipal,
): Promise<ReferenceValueSetView> {
  const provenance = adminProvenance(s, by)
  const v = validatedSetInput(input, provenance)
  await s.database.db.transaction(async (tx) => {
    const set = await replaceReferenceValueSet(tx, name, { ...v, allowDebug: input.allowDebug, provenance, at: s.now() })
    await auditAdminChange(tx, s, by, 'reference-values.replace', name, auditDetail(set))
  })
  return getReferenceValues(s, name)
}

/**
 * Revokes one value of a set; with `revokeCertificates`, every unexpired certificate issued on
 * it (matched in this set) is revoked in the same transaction.
 */
export async function revokeReferenceValue(
  s: Services,
  name: string,
  input: { measurement: string; reason: string; revokeCertificates?: boolean | undefined },
  by: AdminPrincipal,
): Promise<ReferenceValueSetView & { revokedCertificates?: string[] }> {
  let revokedCertificates: string[] | undefined
  await s.database.db.transaction(async (tx) => {
    const measurement = input.measurement.toLowerCase()
    await revokeMeasurement(tx, name, measurement, input.reason, s.now())
    await auditAdminChange(tx, s, by, 'reference-values.revoke', name, { measurement: input.measurement, reason: input.reason, revokeCertificates: input.revokeCertificates === true })
    if (input.revokeCertificates === true) revokedCertificates = await (await caServices()).revokeIssuedOnMeasurement(tx, s, name, measurement, by)
  })
  const set = await getReferenceValues(s, name)
  return revokedCertificates === undefined ? set : { ...set, revokedCertificates }
}

export async function deleteReferenceValues(s: Services, name: string, by: AdminPrincipal): Promise<void> {
  await s.database.db.transaction(async (tx) => {
    if (!(await deleteReferenceValueSet(tx, name))) throw new KeybrokerError('not-found', `no such reference-value set: ${name}`)
    await auditAdminChange(tx, s, by, 'reference-values.delete', name, {})
  })
}

export interface ReferenceValueSetVersionView {
  readonly version: number
  readonly createdAt: string
  readonly set: { [k: string]: unknown }
}

/** Every version of a set, newest first. */
export async function listReferenceValueVersions(s: Services, name: string): Promise<ReferenceValueSetVersionView[]> {
  const versions = await listReferenceValueSetVersions(s.database.db, name)
  if (versions.length === 0 && (await getReferenceValueSet(s.database.db, name)) === undefined) {
    throw new KeybrokerError('not-found', `no such reference-value set: ${name}`)
  }
  return versions.map((v) => ({ version: v.version, createdAt: v.createdAt.toISOString(), set: { ...v.snapshot } }))
}

export async function getReferenceValueVersion(s: Services, name: string, version: number): Promise<ReferenceValueSetVersionView> {
  const v = await getReferenceValueSetVersion(s.database.db, name, version)
  if (v === undefined) throw new KeybrokerError('not-found', `no version ${version} of reference-value set ${name}`)
  return { version: v.version, createdAt: v.createdAt.toISOString(), set: { ...v.snapshot } }
}

/** What the audit entry of a change keeps: the values and claims, never secrets (there are none). */
export function auditDetail(set: StoredReferenceValueSet): { [k: string]: JsonValue } {
  return {
    version: set.version,
    measurements: set.measurements.map((m) => m.value),
    allowDebug: set.allowDebug,
    evidenceType: set.evidenceType,
    expect: [...set.expectJson],
    provenance: set.provenance,
  }
}

export function toView(set: StoredReferenceValueSet): ReferenceValueSetView {
  const iso = (d: Date | null) => (d === null ? null : d.toISOString())
  return {
    name: set.name,
    version: set.version,
    allowDebug: set.allowDebug,
    evidenceType: set.evidenceType,
    expect: [...set.expectJson],
    provenance: set.provenance === null ? null : { ...set.provenance },
    measurements: set.measurements.map((m) => ({
      value: m.value,
      createdAt: m.createdAt.toISOString(),
      revokedAt: iso(m.revokedAt),
      revokeReason: m.revokeReason,
      expect: [...m.expectJson],
      notBefore: iso(m.notBefore),
      notAfter: iso(m.notAfter),
      provenance: m.provenance === null ? null : { ...m.provenance },
    })),
    createdAt: set.createdAt.toISOString(),
    updatedAt: set.updatedAt.toISOString(),
  }
}
