/**
 * keybroker as the guest owner of AMD SEV (pre-SNP) confidential VMs (README, "AMD SEV guest
 * owner"): what `sevctl session`, `sevctl measurement build` and `sevctl secret build` do on an
 * aleph user's machine, done by the service for a fleet, with the secret held and released by
 * policy like any other.
 *
 * 1. `startSevSession`: the platform chain (PDH, PEK, OCA, CEK, as `sevctl export` writes it) is
 *    parsed and verified to a pinned AMD root before anything is derived from the PDH; a debug
 *    policy is refused unless every SEV reference-value set of the secret allows debug; then a
 *    fresh GODH key, TEK, TIK, nonce and IV make the LAUNCH_START blobs. TEK and TIK leave in a
 *    sealed state token (src/services/sev-state.ts) and nowhere else.
 * 2. The host starts the VM paused with those blobs and relays LAUNCH_MEASURE.
 * 3. `completeSevLaunch`: the state opens (MAC, expiry), the reported policy is the session's,
 *    the state is used once, MEASURE must be the HMAC under the TIK of one of the registered
 *    launch digests of the secret's sets; then the secret's release policy decides exactly as
 *    for `/v1/attest` (appraisal against its reference values, CEL rules), and the secret table
 *    goes out encrypted under the TEK, authenticated under the TIK (LAUNCH_SECRET).
 *
 * Stateless: no row holds a launch's keys. The only row is the single-use marker of the state
 * (the `used_nonces` key `sev:<id>`, the mechanism `/v1/attest` uses for its nonces), which a host
 * that starts a second VM with the same session blobs would otherwise get the secret into; it
 * holds an id and an expiry and is pruned like a nonce.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { KeybrokerError, isKeybrokerError } from '../errors.js'
import type { AppraisalClaims } from '../appraisal/index.js'
import { fromBase64, toBase64Url } from '../evidence/reader.js'
import type { JsonValue } from '../evidence/index.js'
import { openAtRest } from '../secrets/index.js'
import {
  DISK_PASSPHRASE_GUID,
  buildSecretTable,
  createLaunchSession,
  matchLaunchMeasure,
  packageLaunchSecret,
  parseGuestPolicy,
  parseLaunchMeasure,
  parsePlatformChain,
  verifyPlatformChain,
  type SecretTableFormat,
  type VerifiedPlatformChain,
} from '../sev/index.js'
import { consumeNonce, getCurrentSecretVersion } from '../storage/index.js'
import { decideReleases, denialTrace, failedRules, loadAppraisalSets, policyLabel, ruleText } from './release-policy.js'
import { secretAad } from './secret-aad.js'
import type { Services } from './services.js'
import { openLaunchState, sealLaunchState, type SevLaunchState } from './sev-state.js'

export interface SevSessionInput {
  /** base64 of the platform chain (`sevctl export`, aleph-vm `GET /about/certificates`). */
  readonly platformCertificates: string
  readonly policy: number
  /** The secret (e.g. the LUKS passphrase of the VM's root disk) the launch will release. */
  readonly secret: string
  /** The VM the session is for (aleph: the VM message hash); the launch must name the same. */
  readonly vm?: string | undefined
}

export interface SevSession {
  /** GODH certificate, standard base64: aleph's `godh` field, sevctl's `<name>_godh.b64`. */
  readonly godh: string
  /** LAUNCH_START session buffer, standard base64: aleph's `session` field, sevctl's `<name>_session.b64`. */
  readonly session: string
  /** Sealed state (TEK, TIK, policy, secret, platform); send it back to `/v1/sev/launches`. */
  readonly state: string
  readonly expiresAt: Date
  readonly platform: { readonly product: string; readonly chipId: string; readonly pdhSha256: string }
}

export interface SevLaunchInput {
  readonly state: string
  /** The CRN's `GET …/confidential/measurement` answer (QEMU `query-sev` + `query-sev-launch-measure`). */
  readonly measurement: {
    readonly sev_info: { readonly api_major: number; readonly api_minor: number; readonly build_id: number; readonly policy: number }
    readonly launch_measure: string
  }
  readonly vm?: string | undefined
  /** Secret table variant: `aleph` (default; GRUB efisecret on aleph images) or `sevctl`. */
  readonly format?: SecretTableFormat | undefined
}

/** The body of aleph-vm's `POST …/confidential/inject_secret` (standard base64). */
export interface SevLaunchSecret {
  readonly packet_header: string
  readonly secret: string
}

/** What audit entries keep of a platform: never keys, only the product and digests. */
function platformDetail(p: { product: string; chip: string; pdh: string }): Record<string, JsonValue> {
  return { product: p.product, chipId: p.chip, pdhSha256: p.pdh }
}

async function audit(s: Services, action: string, subject: string, outcome: 'ok' | 'denied', detail: Record<string, JsonValue>): Promise<void> {
  await s.audit.append({ at: s.now(), actor: 'sev-guest-owner', action, subject, outcome, detail })
}

/** The SEV reference-value sets of a secret: typed `sev`, or untyped (any evidence type). */
async function sevSetsOf(s: Services, names: readonly string[]) {
  const sets = await loadAppraisalSets(s, s.database.db, names)
  return [...sets.values()].filter((set) => set.evidenceType === 'sev' || set.evidenceType === null || set.evidenceType === undefined)
}

/**
 * Step 1. @throws `evidence-malformed` / `evidence-unsupported` (the chain's bytes, naming the
 *   field), `chain-untrusted` (403, before any key agreement), `bad-request` (policy), `not-found`
 *   (secret), `debug-enabled` (a debug policy the secret's sets do not allow)
 */
export async function startSevSession(s: Services, input: SevSessionInput, requestId: string): Promise<SevSession> {
  const now = s.now()
  const policy = parseGuestPolicy(input.policy)
  const chainBytes = fromBase64(input.platformCertificates, 'platformCertificates')
  let chain: VerifiedPlatformChain
  try {
    chain = verifyPlatformChain(parsePlatformChain(chainBytes), s.sevRoots)
  } catch (err) {
    if (isKeybrokerError(err) && err.code === 'chain-untrusted') {
      await audit(s, 'sev.session', input.secret, 'denied', { requestId, reason: 'chain-untrusted', detail: err.detail, policy: policy.value, ...(input.vm === undefined ? {} : { vm: input.vm }) })
    }
    throw err
  }
  const platform = { product: chain.product, chip: chain.chipId, pdh: chain.pdhSha256 }
  const row = await getCurrentSecretVersion(s.database.db, input.secret)
  if (row === undefined) throw new KeybrokerError('not-found', `no such secret: ${input.secret}`)
  if (policy.debug) {
    // Refused here, before the VM starts; the launch's appraisal checks it again (`debug-disabled`).
    const sets = await sevSetsOf(s, row.meta.referenceValues)
    if (sets.length === 0 || !sets.every((set) => set.allowDebug)) {
      await audit(s, 'sev.session', input.secret, 'denied', { requestId, reason: 'debug-enabled', policy: policy.value, ...platformDetail(platform) })
      throw new KeybrokerError('debug-enabled', 'the guest policy allows debugging (NODBG clear) and a reference-value set of the secret does not allow debug')
    }
  }

  const secrets = {
    tek: new Uint8Array(randomBytes(16)),
    tik: new Uint8Array(randomBytes(16)),
    nonce: new Uint8Array(randomBytes(16)),
    wrapIv: new Uint8Array(randomBytes(16)),
  }
  const godhKey = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey
  const blobs = createLaunchSession(chain, godhKey, secrets, policy.value)
  const iat = Math.floor(now.getTime() / 1000)
  const state: SevLaunchState = {
    v: 1,
    id: toBase64Url(new Uint8Array(randomBytes(16))),
    secret: input.secret,
    policy: policy.value,
    tek: toBase64Url(secrets.tek),
    tik: toBase64Url(secrets.tik),
    ...platform,
    ...(input.vm === undefined ? {} : { vm: input.vm }),
    iat,
    exp: iat + s.config.sev.stateTtlSeconds,
  }
  const token = sealLaunchState(s.keks.current, state)
  secrets.tek.fill(0)
  secrets.tik.fill(0)
  await audit(s, 'sev.session', input.secret, 'ok', {
    requestId,
    stateId: state.id,
    policy: policy.value,
    ...platformDetail(platform),
    ...(input.vm === undefined ? {} : { vm: input.vm }),
  })
  return {
    godh: Buffer.from(blobs.godh).toString('base64'),
    session: Buffer.from(blobs.session).toString('base64'),
    state: token,
    expiresAt: new Date(state.exp * 1000),
    platform: { product: chain.product, chipId: chain.chipId, pdhSha256: chain.pdhSha256 },
  }
}

/**
 * Step 3. @throws `token-invalid` (401: state malformed, altered or expired), `evidence-malformed`
 *   (measurement), `policy-violation` (the reported policy is not the session's),
 *   `binding-mismatch` (another VM than the session's), `nonce-reused` (409: the state was used),
 *   `measurement-unknown` (MEASURE is not the HMAC of a registered launch digest under this
 *   session's TIK: other firmware, or another session's VM), `policy-denied` (the release policy,
 *   with `failedRules`), `not-found` (the secret is gone)
 */
export async function completeSevLaunch(s: Services, input: SevLaunchInput, requestId: string, context: { readonly clientIp?: string | undefined } = {}): Promise<SevLaunchSecret> {
  const now = s.now()
  const state = openLaunchState(s.keks, input.state, now)
  const info = input.measurement.sev_info
  const platformInfo = { apiMajor: info.api_major, apiMinor: info.api_minor, build: info.build_id, policy: info.policy }
  const launchMeasure = parseLaunchMeasure(fromBase64(input.measurement.launch_measure, 'measurement.launch_measure'))
  const base = { requestId, stateId: state.id, policy: state.policy, ...platformDetail(state), ...(state.vm === undefined ? {} : { vm: state.vm }) }
  if (info.policy !== state.policy) {
    await audit(s, 'sev.launch', state.secret, 'denied', { ...base, reason: 'policy-violation', reportedPolicy: info.policy })
    throw new KeybrokerError('policy-violation', `the platform reports guest policy 0x${info.policy.toString(16)}; the session was opened for 0x${state.policy.toString(16)}`)
  }
  if (state.vm !== undefined && input.vm !== state.vm) {
    await audit(s, 'sev.launch', state.secret, 'denied', { ...base, reason: 'binding-mismatch', ...(input.vm === undefined ? {} : { requestedVm: input.vm }) })
    throw new KeybrokerError('binding-mismatch', 'this launch state belongs to another VM')
  }
  // Single use across replicas, burnt before the check like a nonce: a host that started two VMs
  // with the same session blobs gets the secret into one of them at most.
  if (!(await consumeNonce(s.database.db, `sev:${state.id}`, new Date(state.exp * 1000), now))) {
    await audit(s, 'sev.launch', state.secret, 'denied', { ...base, reason: 'state-reused' })
    throw new KeybrokerError('nonce-reused', 'this launch state has already been used; open a new session')
  }

  const db = s.database.db
  const row = await getCurrentSecretVersion(db, state.secret)
  if (row === undefined) throw new KeybrokerError('not-found', `no such secret: ${state.secret}`)
  const candidates = [...new Set((await sevSetsOf(s, row.meta.referenceValues)).flatMap((set) => set.measurements.map((m) => m.value.toLowerCase())))].filter((v) =>
    /^[0-9a-f]{64}$/.test(v),
  )
  const tik = fromBase64(state.tik, 'tik')
  const tek = fromBase64(state.tek, 'tek')
  try {
    const index = matchLaunchMeasure(tik, platformInfo, launchMeasure, candidates.map((c) => new Uint8Array(Buffer.from(c, 'hex'))))
    if (index < 0) {
      await audit(s, 'sev.launch', state.secret, 'denied', { ...base, reason: 'measurement-unknown', firmwareDigest: null, apiVersion: `${info.api_major}.${info.api_minor}`, build: info.build_id })
      throw new KeybrokerError('measurement-unknown', "MEASURE is not the launch measurement of a registered firmware digest under this session's key")
    }
    const firmwareDigest = candidates[index]!
    const policy = parseGuestPolicy(state.policy)
    const apiVersion = `${info.api_major}.${info.api_minor}`
    const claims: AppraisalClaims = {
      evidenceType: 'sev',
      platform: 'amd-sev',
      measurement: firmwareDigest,
      debug: policy.debug,
      hardwareBacked: true,
      measurements: { firmwareDigest },
      tcb: { build: info.build_id },
      instanceId: state.chip,
      raw: {
        policy: state.policy,
        policyFlags: { ...policy.flags },
        apiMajor: info.api_major,
        apiMinor: info.api_minor,
        apiVersion,
        build: info.build_id,
        product: state.product,
        chipId: state.chip,
        pdhSha256: state.pdh,
        ...(state.vm === undefined ? {} : { vm: state.vm }),
      },
    }
    const decisions = await decideReleases(s, db, {
      claims,
      rows: [row],
      request: { evidenceType: 'sev', clientIp: context.clientIp ?? '', time: now, via: 'attest' },
    })
    const measured = { ...base, firmwareDigest, apiVersion, build: info.build_id }
    const failed = failedRules(decisions)
    if (failed.length > 0) {
      await audit(s, 'sev.launch', state.secret, 'denied', { ...measured, reason: 'policy-denied', failedRules: failed.map(ruleText), trace: denialTrace(decisions) })
      throw new KeybrokerError('policy-denied', `release denied by ${failed.length} rule(s)`, { extensions: { failedRules: failed } })
    }
    const plaintext = openAtRest(s.keks, row.envelope, secretAad(row.meta.name, row.version))
    const format = input.format ?? 'aleph'
    let table: Uint8Array | undefined
    try {
      if (format === 'aleph' && plaintext.includes(0)) {
        throw new KeybrokerError('bad-request', 'the secret holds a NUL byte, which ends it in the aleph table format (GRUB reads up to the NUL); use format sevctl')
      }
      table = buildSecretTable([{ guid: DISK_PASSPHRASE_GUID, data: plaintext }], format)
      const packet = packageLaunchSecret({ tek, tik, iv: new Uint8Array(randomBytes(16)), table, measure: launchMeasure.measure })
      await audit(s, 'sev.launch', state.secret, 'ok', { ...measured, version: row.version, policies: policyLabel(decisions[0]!), format })
      return { packet_header: Buffer.from(packet.header).toString('base64'), secret: Buffer.from(packet.ciphertext).toString('base64') }
    } finally {
      plaintext.fill(0)
      table?.fill(0)
    }
  } finally {
    tik.fill(0)
    tek.fill(0)
  }
}
