import { randomBytes } from 'node:crypto'
import { KeybrokerError } from '../errors.js'
import { fromBase64 } from '../evidence/reader.js'
import { openAtRest, sealAtRest } from '../secrets/index.js'
import {
  addSecretVersion,
  createSecret as insertSecret,
  deleteSecret as removeSecret,
  getCurrentSecretVersion,
  getReferenceValueSets,
  getSecretMeta,
  listSecretMeta,
  policyExists,
  setSecretPolicy,
  setSecretReferenceValues,
  setSecretState,
  type Executor,
  type SecretMeta,
} from '../storage/index.js'
import { auditAdminChange } from './audit.js'
import { DEFAULT_POLICY_NAME } from './policy-admin.js'
import type { AdminPrincipal } from './admin-tokens.js'
import { secretAad } from './secret-aad.js'
import type { Services } from './services.js'

/** Secret metadata as the admin API returns it: never the value. */
export interface SecretMetadata {
  readonly name: string
  readonly kind: 'opaque' | 'luks'
  readonly version: number
  readonly state: 'enabled' | 'disabled'
  readonly referenceValues: string[]
  /** The release policy; `null`: the default rule set. */
  readonly policy: string | null
  readonly createdAt: string
  readonly updatedAt: string
}

export interface SecretValueInput {
  readonly value?: string | undefined
  readonly generate?: { readonly bytes: number } | undefined
}

export interface CreateSecretInput extends SecretValueInput {
  readonly name: string
  readonly kind: 'opaque' | 'luks'
  readonly referenceValues: readonly string[]
  readonly policy?: string | null | undefined
}

export interface UpdateSecretInput extends SecretValueInput {
  readonly referenceValues?: readonly string[] | undefined
}

export async function createSecret(s: Services, input: CreateSecretInput, by: AdminPrincipal): Promise<SecretMetadata> {
  const db = s.database.db
  await requireReferenceValues(db, input.referenceValues)
  const value = valueBytes(input)
  try {
    const at = s.now()
    const envelope = sealAtRest(s.keks.current, value, secretAad(input.name, 1))
    await db.transaction(async (tx) => {
      const policy = input.policy === undefined || input.policy === DEFAULT_POLICY_NAME ? null : input.policy
      if (policy !== null) await requirePolicy(tx, policy)
      await insertSecret(tx, {
        name: input.name,
        kind: input.kind,
        referenceValues: [...input.referenceValues],
        policy,
        kekId: s.keks.current.id,
        envelope,
        at,
      })
      await auditAdminChange(tx, s, by, 'secret.create', input.name, { version: 1, kind: input.kind, referenceValues: [...input.referenceValues], policy })
    })
  } finally {
    value.fill(0)
  }
  return getSecret(s, input.name)
}

export async function listSecrets(s: Services): Promise<SecretMetadata[]> {
  return (await listSecretMeta(s.database.db)).map(toMetadata)
}

export async function getSecret(s: Services, name: string): Promise<SecretMetadata> {
  const meta = await getSecretMeta(s.database.db, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `no such secret: ${name}`)
  return toMetadata(meta)
}

/** Stores a new version (given or generated); optionally replaces the reference-value sets. */
export async function updateSecret(s: Services, name: string, input: UpdateSecretInput, by: AdminPrincipal): Promise<SecretMetadata> {
  const value = valueBytes(input)
  try {
    return await storeNewVersion(s, name, value, input.referenceValues, by, 'secret.update')
  } finally {
    value.fill(0)
  }
}

/** New version with fresh random bytes of the current value's length. */
export async function rotateSecret(s: Services, name: string, by: AdminPrincipal): Promise<SecretMetadata> {
  const current = await getCurrentSecretVersion(s.database.db, name)
  if (current === undefined) throw new KeybrokerError('not-found', `no such secret: ${name}`)
  const old = openAtRest(s.keks, current.envelope, secretAad(name, current.version))
  const value = new Uint8Array(randomBytes(old.byteLength))
  old.fill(0)
  try {
    return await storeNewVersion(s, name, value, undefined, by, 'secret.rotate')
  } finally {
    value.fill(0)
  }
}

export async function setSecretEnabled(s: Services, name: string, enabled: boolean, by: AdminPrincipal): Promise<SecretMetadata> {
  await s.database.db.transaction(async (tx) => {
    await setSecretState(tx, name, enabled ? 'enabled' : 'disabled', s.now())
    await auditAdminChange(tx, s, by, enabled ? 'secret.enable' : 'secret.disable', name, {})
  })
  return getSecret(s, name)
}

/**
 * Attaches release policy `policy` to secret `name` (`null`: back to the default rule set).
 * Effective from the next request on; no new secret version.
 */
export async function setSecretPolicyOf(s: Services, name: string, requested: string | null, by: AdminPrincipal): Promise<SecretMetadata> {
  const policy = requested === DEFAULT_POLICY_NAME ? null : requested
  await s.database.db.transaction(async (tx) => {
    if (policy !== null) await requirePolicy(tx, policy)
    await setSecretPolicy(tx, name, policy, s.now())
    await auditAdminChange(tx, s, by, 'secret.policy', name, { policy })
  })
  return getSecret(s, name)
}

/** The policy must exist; its row stays share-locked so it cannot be deleted before we commit. */
async function requirePolicy(ex: Executor, policy: string): Promise<void> {
  if (!(await policyExists(ex, policy, true))) throw new KeybrokerError('bad-request', `unknown policy: ${policy}`)
}

export async function deleteSecret(s: Services, name: string, by: AdminPrincipal): Promise<void> {
  await s.database.db.transaction(async (tx) => {
    if (!(await removeSecret(tx, name))) throw new KeybrokerError('not-found', `no such secret: ${name}`)
    await auditAdminChange(tx, s, by, 'secret.delete', name, {})
  })
}

async function storeNewVersion(
  s: Services,
  name: string,
  value: Uint8Array,
  referenceValues: readonly string[] | undefined,
  by: AdminPrincipal,
  action: string,
): Promise<SecretMetadata> {
  const db = s.database.db
  if (referenceValues !== undefined) await requireReferenceValues(db, referenceValues)
  await db.transaction(async (tx) => {
    const meta = await getSecretMeta(tx, name)
    if (meta === undefined) throw new KeybrokerError('not-found', `no such secret: ${name}`)
    // The envelope's AAD names the version, so it is sealed before the version is taken; a
    // concurrent update that took this number first makes ours roll back with 409.
    const version = meta.currentVersion + 1
    const envelope = sealAtRest(s.keks.current, value, secretAad(name, version))
    const taken = await addSecretVersion(tx, name, { kekId: s.keks.current.id, envelope, at: s.now() })
    if (taken !== version) throw new KeybrokerError('conflict', `secret ${name} changed concurrently; retry`)
    if (referenceValues !== undefined) await setSecretReferenceValues(tx, name, [...referenceValues], s.now())
    await auditAdminChange(tx, s, by, action, name, {
      version,
      ...(referenceValues === undefined ? {} : { referenceValues: [...referenceValues] }),
    })
  })
  return getSecret(s, name)
}

function valueBytes(input: SecretValueInput): Uint8Array {
  if (input.generate !== undefined) return new Uint8Array(randomBytes(input.generate.bytes))
  if (input.value === undefined) throw new KeybrokerError('bad-request', 'give exactly one of value and generate')
  try {
    return fromBase64(input.value, 'value')
  } catch (cause) {
    throw new KeybrokerError('bad-request', 'value: not base64url', { cause })
  }
}

async function requireReferenceValues(ex: Executor, names: readonly string[]): Promise<void> {
  if (names.length === 0) return
  const found = await getReferenceValueSets(ex, names)
  const missing = names.filter((n) => !found.has(n))
  if (missing.length > 0) throw new KeybrokerError('bad-request', `unknown reference-value set(s): ${missing.join(', ')}`)
}

function toMetadata(meta: SecretMeta): SecretMetadata {
  return {
    name: meta.name,
    kind: meta.kind,
    version: meta.currentVersion,
    state: meta.state,
    referenceValues: [...meta.referenceValues],
    policy: meta.policy,
    createdAt: meta.createdAt.toISOString(),
    updatedAt: meta.updatedAt.toISOString(),
  }
}
