import { FlattenedSign } from 'jose'
import { appraise } from '../appraisal/index.js'
import { KeybrokerError } from '../errors.js'
import type { Claims, JsonValue } from '../evidence/index.js'
import { decideRelease, type RuleResult } from '../policy/index.js'
import {
  exchangeKeyThumbprint,
  exchangeWith,
  generateSealingKeyPair,
  importExchangeKey,
  openAtRest,
  parseExchangePoint,
  sealAtRest,
  sealToKey,
  type EcPublicJwk,
  type ExchangeKey,
  type KekRing,
  type RecipientKey,
  type SealingCurve,
} from '../secrets/index.js'
import {
  addSealingKeyVersion,
  allowDisk as removeDeniedDisk,
  createSealingKey as insertSealingKey,
  deleteSealingKey as removeSealingKey,
  denyDisk as insertDeniedDisk,
  getCurrentSealingKeyVersion,
  getReferenceValueSets,
  getSealingKey as findSealingKey,
  listDeniedDisks as selectDeniedDisks,
  listSealingKeys as selectSealingKeys,
  policyExists,
  retireSealingKeyVersion,
  updateSealingKey,
  type DeniedDisk,
  type Executor,
  type SealingKeyMeta,
} from '../storage/index.js'
import { auditAdminChange } from './audit.js'
import { actorOf, type AdminPrincipal } from './admin-tokens.js'
import { DEFAULT_POLICY_NAME } from './policy-admin.js'
import { appraisalClaims, compiledPolicy } from './release-policy.js'
import type { Services } from './services.js'
import type { ReleaseDataView } from './release-data.js'

/**
 * Sealing keys (docs/architecture.md, "Secrets"; issue #8): Tang-style exchange keys whose recovery is
 * gated by attestation. keybroker keeps one private key per version and nothing per disk; a disk
 * is bound offline to the advertised public key (clevis pin `keybroker`), and unlocking it is an
 * attestation with `recover` (see {@link recoverDiskKey}).
 */

/** A sealing key as the admin API returns it: never the private keys. */
export interface SealingKeyMetadata {
  readonly name: string
  readonly curve: SealingCurve
  readonly state: 'enabled' | 'disabled'
  readonly currentVersion: number
  readonly referenceValues: string[]
  /** The release policy gating recovery; `null`: the default rule set. */
  readonly policy: string | null
  readonly createdAt: string
  readonly updatedAt: string
  readonly versions: {
    readonly version: number
    readonly kid: string
    readonly state: 'active' | 'retired'
    readonly publicJwk: { kty: 'EC'; crv: SealingCurve; x: string; y: string }
    readonly createdAt: string
    readonly retiredAt: string | null
  }[]
}

export interface CreateSealingKeyInput {
  readonly name: string
  readonly curve: SealingCurve
  readonly referenceValues: readonly string[]
  /** A release policy's name; absent, `null` or `default`: the default rule set. */
  readonly policy?: string | null | undefined
}

export interface UpdateSealingKeyInput {
  readonly referenceValues?: readonly string[] | undefined
  readonly policy?: string | null | undefined
}

/**
 * The `recover` member of `/v1/attest`: the blinded exchange of the McCallum-Relyea protocol.
 * `x` is `C + E` (the disk's ephemeral key C from the JWE header plus the client's fresh blinding
 * key E), so keybroker never sees C; `disk` is the RFC 7638 thumbprint of C, the disk identity
 * for audit and the deny-list, stated by the attested client.
 */
export interface RecoverInput {
  readonly sealingKey: string
  readonly kid: string
  readonly x: { readonly kty: string; readonly crv?: string | undefined; readonly x?: string | undefined; readonly y?: string | undefined }
  readonly disk: string
}

/** A failed rule of a recovery, as a denial lists it. */
export interface FailedRecoveryRule extends RuleResult {
  readonly sealingKey: string
}

/** A JWS (RFC 7515 §7.2.2 flattened JSON) advertisement of a sealing key's exchange key. */
export interface Advertisement {
  readonly payload: string
  readonly protected: string
  readonly signature: string
}

const ENVELOPE_LABEL = 'keybroker sealing key v1'

/** AAD of a sealing key's private part at rest: bound to name, version and public key. */
export function sealingKeyAad(name: string, version: number, kid: string): string {
  return `${ENVELOPE_LABEL}:${name}:${version}:${kid}`
}

export async function createSealingKey(s: Services, input: CreateSealingKeyInput, by: AdminPrincipal): Promise<SealingKeyMetadata> {
  const db = s.database.db
  await requireReferenceValues(db, input.referenceValues)
  const at = s.now()
  const policy = policyName(input.policy)
  const version = await newVersion(s, input.name, 1, input.curve, at)
  await db.transaction(async (tx) => {
    if (policy !== null) await requirePolicy(tx, policy)
    await insertSealingKey(tx, { name: input.name, curve: input.curve, referenceValues: [...input.referenceValues], policy, ...version })
    await auditAdminChange(tx, s, by, 'sealing-key.create', input.name, {
      version: 1,
      kid: version.kid,
      curve: input.curve,
      referenceValues: [...input.referenceValues],
      policy,
    })
  })
  return getSealingKey(s, input.name)
}

export async function listSealingKeys(s: Services): Promise<SealingKeyMetadata[]> {
  return (await selectSealingKeys(s.database.db)).map(toMetadata)
}

export async function getSealingKey(s: Services, name: string): Promise<SealingKeyMetadata> {
  const meta = await findSealingKey(s.database.db, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `no such sealing key: ${name}`)
  return toMetadata(meta)
}

/** Replaces the reference-value sets and/or the policy that gate recovery with `name`. */
export async function updateSealingKeySettings(
  s: Services,
  name: string,
  input: UpdateSealingKeyInput,
  by: AdminPrincipal,
): Promise<SealingKeyMetadata> {
  const db = s.database.db
  if (input.referenceValues !== undefined) await requireReferenceValues(db, input.referenceValues)
  const policy = input.policy === undefined ? undefined : policyName(input.policy)
  await db.transaction(async (tx) => {
    if (policy !== undefined && policy !== null) await requirePolicy(tx, policy)
    await updateSealingKey(tx, name, { referenceValues: input.referenceValues, policy }, s.now())
    await auditAdminChange(tx, s, by, 'sealing-key.update', name, {
      ...(input.referenceValues === undefined ? {} : { referenceValues: [...input.referenceValues] }),
      ...(policy === undefined ? {} : { policy }),
    })
  })
  return getSealingKey(s, name)
}

/**
 * Rotation: a new exchange key becomes current (advertised for new bindings); the older ones
 * stay active, so disks bound to them still unlock until an admin retires them.
 */
export async function rotateSealingKey(s: Services, name: string, by: AdminPrincipal): Promise<SealingKeyMetadata> {
  const db = s.database.db
  const meta = await findSealingKey(db, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `no such sealing key: ${name}`)
  await db.transaction(async (tx) => {
    // The envelope's AAD names the version, so it is sealed before the version is taken; a
    // concurrent rotation that took this number first makes ours roll back with 409.
    const expected = meta.currentVersion + 1
    const version = await newVersion(s, name, expected, meta.curve, s.now())
    const taken = await addSealingKeyVersion(tx, name, version)
    if (taken !== expected) throw new KeybrokerError('conflict', `sealing key ${name} changed concurrently; retry`)
    await auditAdminChange(tx, s, by, 'sealing-key.rotate', name, { version: taken, kid: version.kid })
  })
  return getSealingKey(s, name)
}

/** Retires one version: disks bound to it no longer unlock through keybroker. */
export async function retireSealingKey(s: Services, name: string, version: number, by: AdminPrincipal): Promise<SealingKeyMetadata> {
  await s.database.db.transaction(async (tx) => {
    await retireSealingKeyVersion(tx, name, version, s.now())
    await auditAdminChange(tx, s, by, 'sealing-key.retire', name, { version })
  })
  forgetExchangeKeys(name, version)
  return getSealingKey(s, name)
}

export async function setSealingKeyEnabled(s: Services, name: string, enabled: boolean, by: AdminPrincipal): Promise<SealingKeyMetadata> {
  await s.database.db.transaction(async (tx) => {
    await updateSealingKey(tx, name, { state: enabled ? 'enabled' : 'disabled' }, s.now())
    await auditAdminChange(tx, s, by, enabled ? 'sealing-key.enable' : 'sealing-key.disable', name, {})
  })
  return getSealingKey(s, name)
}

export async function deleteSealingKey(s: Services, name: string, by: AdminPrincipal): Promise<void> {
  await s.database.db.transaction(async (tx) => {
    if (!(await removeSealingKey(tx, name))) throw new KeybrokerError('not-found', `no such sealing key: ${name}`)
    await auditAdminChange(tx, s, by, 'sealing-key.delete', name, {})
  })
  forgetExchangeKeys(name)
}

export interface DeniedDiskInfo {
  readonly disk: string
  readonly reason: string
  readonly createdAt: string
  readonly createdBy: string
}

/** Deny-lists a disk identity: its next recovery attempt is refused (rule `disk-not-denied`). */
export async function denyDisk(s: Services, input: { disk: string; reason: string }, by: AdminPrincipal): Promise<DeniedDiskInfo> {
  let entry: DeniedDisk | undefined
  await s.database.db.transaction(async (tx) => {
    entry = await insertDeniedDisk(tx, { disk: input.disk, reason: input.reason, createdAt: s.now(), createdBy: actorOf(by) })
    await auditAdminChange(tx, s, by, 'disk.deny', input.disk, { reason: input.reason })
  })
  if (entry === undefined) throw new KeybrokerError('internal', 'deny-list entry was not written')
  return toDeniedInfo(entry)
}

export async function allowDisk(s: Services, disk: string, by: AdminPrincipal): Promise<void> {
  await s.database.db.transaction(async (tx) => {
    if (!(await removeDeniedDisk(tx, disk))) throw new KeybrokerError('not-found', 'disk is not deny-listed')
    await auditAdminChange(tx, s, by, 'disk.allow', disk, {})
  })
}

export async function listDeniedDisks(s: Services): Promise<DeniedDiskInfo[]> {
  return (await selectDeniedDisks(s.database.db)).map(toDeniedInfo)
}

/**
 * The advertisement of sealing key `name` (`GET /v1/sealing-keys/{name}`): a JWS signed by the
 * current token key, so a pin can pin that key's thumbprint as Tang's `thp` does. The payload is
 * a JWK set shaped like Tang's: the current exchange key (`alg: ECMR`, `key_ops: [deriveKey]`,
 * `kid` its thumbprint) and the signing key (`key_ops: [verify]`), plus the sealing key's name
 * so that an advertisement cannot pass for another key's.
 * @throws KeybrokerError `not-found` for an unknown or disabled sealing key.
 */
export async function advertise(s: Services, name: string): Promise<Advertisement> {
  const found = await getCurrentSealingKeyVersion(s.database.db, name)
  if (found === undefined || found.meta.state !== 'enabled') throw new KeybrokerError('not-found', `no such sealing key: ${name}`)
  const signer = s.keys.current
  const { kty, crv, x, y } = signer.publicJwk
  const payload = {
    name,
    keys: [
      { ...found.version.publicJwk, alg: 'ECMR', key_ops: ['deriveKey'], kid: found.version.kid },
      { kty, crv, x, y, alg: signer.alg, key_ops: ['verify'], kid: signer.kid },
    ],
  }
  let jws: Awaited<ReturnType<FlattenedSign['sign']>>
  try {
    jws = await new FlattenedSign(Buffer.from(JSON.stringify(payload), 'utf8'))
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, cty: 'jwk-set+json' })
      .sign(signer.privateKey)
  } catch (cause) {
    throw new KeybrokerError('internal', 'signing the advertisement failed', { cause })
  }
  if (jws.protected === undefined) throw new KeybrokerError('internal', 'advertisement lacks its protected header')
  return { payload: jws.payload, protected: jws.protected, signature: jws.signature }
}

/**
 * The recovery step of `/v1/attest` (after the evidence, its binding and the appraisal held):
 * checks the sealing key's policy for these claims, then returns `Y = s·X` as a compact JWE
 * (`cty: jwk+json`, plaintext the public JWK of `Y`) to the attested key, with what the caller's
 * audit entry of the request must hold (action `recover`, subject the sealing key, the disk
 * identity, kid and version). A denial writes its own audit entry (with the failed rules) here.
 *
 * Rules, all evaluated so that a denial names each failed one: the sealing key's release policy
 * (its named CEL policy, or the default rule set) over the appraisal against its reference-value
 * sets, exactly as for a secret (`secret-enabled` reads `sealing-key-enabled`; `request.secret`
 * is the sealing key's name), then `exchange-key-active` (the version named by `kid` is not
 * retired) and `disk-not-denied`.
 * @throws KeybrokerError `not-found` (unknown sealing key or kid), `key-unsupported` (X is not a
 *   point of the key's curve), `policy-denied` with `failedRules`.
 */
export async function recoverDiskKey(
  s: Services,
  input: {
    readonly recover: RecoverInput
    readonly claims: Claims
    readonly key: RecipientKey
    readonly requestId: string
    readonly summary: Record<string, JsonValue>
    /** For rules reading `request.clientIp`. */
    readonly clientIp?: string | undefined
    /** The request's release data (the generation read with its nonce). */
    readonly data: ReleaseDataView
  },
): Promise<{ jwe: string; action: 'recover'; subject: string; audit: Record<string, JsonValue> }> {
  const { recover, requestId, summary } = input
  const identity = { requestId, ...summary, disk: recover.disk, kid: recover.kid }
  const found = await input.data.sealingKeyVersion(recover.sealingKey, recover.kid, recover.disk)
  if (found === undefined) {
    await auditRecover(s, recover.sealingKey, 'denied', { ...identity, reason: 'exchange-key-unknown' })
    throw new KeybrokerError('not-found', `sealing key ${recover.sealingKey} has no exchange key ${recover.kid}`)
  }
  const { meta, version } = found
  const point = parseExchangePoint(recover.x, meta.curve)

  const now = s.now()
  const claims = appraisalClaims(input.claims)
  const [sets, policies] = await Promise.all([
    input.data.appraisalSets(meta.referenceValues),
    input.data.currentPolicies(meta.policy === null ? [] : [meta.policy]),
  ])
  const stored = meta.policy === null ? undefined : policies.get(meta.policy)
  if (meta.policy !== null && stored === undefined) {
    throw new KeybrokerError('internal', `sealing key ${meta.name} names policy ${meta.policy}, which does not exist`)
  }
  const decision = decideRelease({
    secretState: meta.state,
    policy: stored === undefined ? undefined : compiledPolicy(stored),
    claims,
    appraisal: appraise(claims, meta.referenceValues.flatMap((n) => sets.get(n) ?? []), { now, maxVmpl: s.config.snp.maxVmpl }),
    referenceValues: meta.referenceValues,
    request: { evidenceType: input.claims.evidenceType, clientIp: input.clientIp ?? '', time: now, secret: meta.name, via: 'attest' },
  })
  const rules: RuleResult[] = [
    ...decision.rules.map((r) =>
      r.rule === 'secret-enabled'
        ? { rule: 'sealing-key-enabled', passed: r.passed, reason: r.passed ? 'sealing key is enabled' : 'sealing key is disabled' }
        : r,
    ),
    {
      rule: 'exchange-key-active',
      passed: version.state === 'active',
      reason: version.state === 'active' ? `version ${version.version} is active` : `version ${version.version} is retired`,
    },
    {
      rule: 'disk-not-denied',
      passed: !found.isDiskDenied,
      reason: found.isDiskDenied ? 'disk is deny-listed' : 'disk is not deny-listed',
    },
  ]
  const failed: FailedRecoveryRule[] = rules.filter((r) => !r.passed).map((r) => ({ sealingKey: meta.name, ...r }))
  if (failed.length > 0) {
    await auditRecover(s, meta.name, 'denied', {
      ...identity,
      version: version.version,
      policy: stored === undefined ? 'default' : `${stored.name}@${stored.version}`,
      failedRules: failed.map((r) => r.rule),
    })
    s.metrics.recoveries.inc({ sealing_key: meta.name, outcome: 'denied' })
    throw new KeybrokerError('policy-denied', `recovery denied by ${failed.length} rule(s)`, { extensions: { failedRules: failed } })
  }

  const y = exchangeWith(exchangeKeyOf(s.keks, meta.name, version), point)
  const jwe = await sealToKey(input.key, Buffer.from(JSON.stringify(y), 'utf8'), {
    cty: 'jwk+json',
    'kb.name': meta.name,
    'kb.version': version.version,
  })
  return {
    jwe,
    action: 'recover',
    subject: meta.name,
    audit: {
      disk: recover.disk,
      kid: recover.kid,
      version: version.version,
      policy: stored === undefined ? 'default' : `${stored.name}@${stored.version}`,
    },
  }
}

/**
 * Imported exchange keys by sealing key, version and kid, at most {@link EXCHANGE_KEYS_MAX}
 * (the oldest goes first). Importing opens the envelope and costs OpenSSL a d·G plus the pair
 * check — on P-521 as much as the recovery's two ECDH. Keeping the imported key exposes nothing
 * new: the process holds the key-encryption keys that open every envelope anyway. An entry is
 * used only after the rules passed for the version the database names now (a retired version
 * or a deleted sealing key is refused before), and only for the public key it was checked
 * against.
 */
const exchangeKeys = new Map<string, ExchangeKey>()
const EXCHANGE_KEYS_MAX = 256

function exchangeKeyOf(
  keks: KekRing,
  name: string,
  version: { readonly version: number; readonly kid: string; readonly publicJwk: EcPublicJwk; readonly envelope: Uint8Array },
): ExchangeKey {
  const id = `${name}\u0000${version.version}\u0000${version.kid}`
  const cached = exchangeKeys.get(id)
  if (cached !== undefined && cached.publicJwk.x === version.publicJwk.x && cached.publicJwk.y === version.publicJwk.y) return cached
  const d = openAtRest(keks, version.envelope, sealingKeyAad(name, version.version, version.kid))
  try {
    const key = importExchangeKey(d, version.publicJwk)
    exchangeKeys.delete(id)
    if (exchangeKeys.size >= EXCHANGE_KEYS_MAX) exchangeKeys.delete(exchangeKeys.keys().next().value ?? '')
    exchangeKeys.set(id, key)
    return key
  } finally {
    d.fill(0)
  }
}

/**
 * Drops this process's imported keys of a retired version, or of every version of a deleted
 * sealing key (other replicas keep theirs until evicted, unused: the rules refuse first).
 */
function forgetExchangeKeys(name: string, version?: number): void {
  const prefix = version === undefined ? `${name}\u0000` : `${name}\u0000${version}\u0000`
  for (const id of [...exchangeKeys.keys()]) if (id.startsWith(prefix)) exchangeKeys.delete(id)
}

async function auditRecover(s: Services, subject: string, outcome: 'ok' | 'denied', detail: Record<string, JsonValue>): Promise<void> {
  await s.audit.append({ at: s.now(), actor: 'attester', action: 'recover', subject, outcome, detail })
}

async function newVersion(s: Services, name: string, version: number, curve: SealingCurve, at: Date) {
  const pair = generateSealingKeyPair(curve)
  try {
    const kid = await exchangeKeyThumbprint(pair.publicJwk)
    const envelope = sealAtRest(s.keks.current, pair.d, sealingKeyAad(name, version, kid))
    return { kid, publicJwk: pair.publicJwk, kekId: s.keks.current.id, envelope, at }
  } finally {
    pair.d.fill(0)
  }
}

/** `default` (the built-in rule set) is stored as null, like a secret's. */
function policyName(requested: string | null | undefined): string | null {
  return requested === undefined || requested === null || requested === DEFAULT_POLICY_NAME ? null : requested
}

/** The policy must exist; its row stays share-locked so it cannot be deleted before we commit. */
async function requirePolicy(ex: Executor, policy: string): Promise<void> {
  if (!(await policyExists(ex, policy, true))) throw new KeybrokerError('bad-request', `unknown policy: ${policy}`)
}

async function requireReferenceValues(ex: Executor, names: readonly string[]): Promise<void> {
  if (names.length === 0) return
  const found = await getReferenceValueSets(ex, names)
  const missing = names.filter((n) => !found.has(n))
  if (missing.length > 0) throw new KeybrokerError('bad-request', `unknown reference-value set(s): ${missing.join(', ')}`)
}

function toMetadata(meta: SealingKeyMeta): SealingKeyMetadata {
  return {
    name: meta.name,
    curve: meta.curve,
    state: meta.state,
    currentVersion: meta.currentVersion,
    referenceValues: [...meta.referenceValues],
    policy: meta.policy,
    createdAt: meta.createdAt.toISOString(),
    updatedAt: meta.updatedAt.toISOString(),
    versions: meta.versions.map((v) => ({
      version: v.version,
      kid: v.kid,
      state: v.state,
      publicJwk: { ...v.publicJwk },
      createdAt: v.createdAt.toISOString(),
      retiredAt: v.retiredAt === null ? null : v.retiredAt.toISOString(),
    })),
  }
}

function toDeniedInfo(entry: DeniedDisk): DeniedDiskInfo {
  return { disk: entry.disk, reason: entry.reason, createdAt: entry.createdAt.toISOString(), createdBy: entry.createdBy }
}
