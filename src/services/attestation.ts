import { APPRAISAL_POLICY_ID, appraise, isJsonArray, type Appraisal, type AppraisedClaims } from '../appraisal/index.js'
import { KeybrokerError } from '../errors.js'
import { agentNonceOf, type Claims, type JsonValue } from '../evidence/index.js'
import { openAtRest, parseRecipientKey, sealToKey, type RecipientKey } from '../secrets/index.js'
import { describeZodError } from '../server/validation.js'
import { decideVerification } from '../policy/index.js'
import { consumeNonceReadingGeneration, getCurrentSecretVersion } from '../storage/index.js'
import { checkEvidenceBinding, computeBinding, computeKeylessBinding, issueEar, verifyEar, type IssuedNonce } from '../tokens/index.js'
import type { ReleaseDataView } from './release-data.js'
import { secretAad } from './secret-aad.js'
import { caServices } from './ca-services.js'
import type { CertificateRequestInput, IssuedCertificateView } from './ca/index.js'
import { recoverDiskKey, type RecoverInput } from './sealing-keys.js'
import {
  appraisalClaims,
  decideReleases,
  denialTrace,
  failedRules,
  policyLabel,
  ruleText,
  type FailedRule,
} from './release-policy.js'
import type { Services } from './services.js'
import { withTpmTrust } from './tpm-trust.js'
import type { TraceContext } from '../log/trace-context.js'

export interface AttestInput {
  readonly nonce: string
  readonly evidence: { readonly type: string; readonly [k: string]: unknown }
  readonly publicKey: unknown
  readonly release: readonly string[]
  /** Recovery through a sealing key (disk unlock, issue #8); see `recoverDiskKey`. */
  readonly recover?: RecoverInput | undefined
  /** Certificates for the attested key (issue 16); see `prepareAttestCertificates`. */
  readonly certificates?: readonly CertificateRequestInput[] | undefined
  /**
   * `false`: answer without the EAR (no token is signed; the audit entry has no `tokenId`), for
   * clients that only open what the answer carries (the clevis pin, `keybroker-unlock`). Absent
   * or `true`: the token, as always.
   */
  readonly token?: boolean | undefined
}

export interface AttestResult {
  /** The EAR; absent when the request asked for none (`token: false`). */
  readonly token?: string
  readonly secrets: Record<string, string>
  /** With `recover`: the exchange result `Y` as a compact JWE to the attested key. */
  readonly recovered?: string
  /** With `certificates`: one issued certificate per request, in order. */
  readonly certificates?: IssuedCertificateView[]
}

/** Facts about the request that release rules may read (`request.clientIp`). */
export interface RequestContext {
  readonly clientIp?: string | undefined
  /**
   * DER certificate of the agent's TLS endpoint when a service flow pulled the evidence from an
   * agent itself (never taken from a request body); binding profiles may read it.
   */
  readonly agentCertificate?: Uint8Array | undefined
  /** The request's W3C trace context: collateral fetched for it carries a child span. */
  readonly trace?: TraceContext | undefined
}

export interface Challenge extends IssuedNonce {
  /** With a public key: `base64url(B[0:32])` for agents that take a nonce of their own (README, "Binding profiles"). */
  readonly agentNonce?: string
}

/**
 * Issues a challenge nonce: MAC'd and expiring, no server-side state. With the client's
 * `publicKey`, also the agent nonce of the binding B of that nonce and key, so that a client
 * that cannot hash (a shell script next to an agent) need not compute it.
 * @throws KeybrokerError `key-unsupported` for a key `/v1/attest` would refuse
 */
export async function issueChallenge(s: Services, publicKey?: unknown): Promise<Challenge> {
  const key = publicKey === undefined ? undefined : parseRecipientKey(publicKey)
  const issued = s.nonces.issue(s.now())
  if (key === undefined) return issued
  return { ...issued, agentNonce: agentNonceOf(await computeBinding(issued.nonce, key.publicJwk)) }
}

/** What every attestation request establishes before any release: verified, bound, appraised. */
export interface Verified {
  readonly now: Date
  readonly claims: Claims
  readonly appraised: AppraisedClaims
  readonly overall: Appraisal
  /** The binding profile's rule that held (`report-data`, `automata-v2`, …). */
  readonly bindingRule: string
  readonly summary: Record<string, JsonValue>
  /** The release data at the generation read with the nonce (release-data.ts). */
  readonly data: ReleaseDataView
}

/**
 * Steps 1-4 of the request flow (docs/architecture.md), shared by `/v1/attest` and `/v1/verify`: nonce (MAC, expiry,
 * single use) → evidence verifier (pure) → the type's binding profile against B of the nonce and
 * key (keyless: see `computeKeylessBinding`) → appraisal against the sets holding the measurement.
 */
async function verifyBoundEvidence(
  s: Services,
  input: { readonly nonce: string; readonly evidence: AttestInput['evidence'] },
  key: RecipientKey | undefined,
  context: RequestContext,
): Promise<Verified> {
  const now = s.now()
  // Cheap, stateless checks first so that garbage never reaches the database.
  const nonce = s.nonces.verify(input.nonce, now)
  const verifier = s.verifiers.verifierFor(input.evidence.type)
  const parsed = verifier.schema.safeParse(input.evidence)
  if (!parsed.success) {
    s.metrics.verificationFailures.inc({ evidence_type: verifier.type, reason: 'evidence-malformed' })
    throw new KeybrokerError('evidence-malformed', describeZodError(parsed.error, 'evidence'))
  }

  // Single use across replicas; consumed before verification so a failed attempt burns it. The
  // same statement reads the release generation: what this request reads of secrets, policies and
  // reference values is at least as new as this moment (release-data.ts).
  const consumed = await consumeNonceReadingGeneration(s.database.db, nonce.id, nonce.expiresAt, now)
  if (!consumed.fresh) {
    throw new KeybrokerError('nonce-reused', 'this nonce has already been used; request a new challenge')
  }
  const data = s.releaseData.at(s, s.database.db, consumed.generation)

  let claims: Claims
  let bindingRule: string
  try {
    claims = await verifier.verify(parsed.data, { now, collateral: withTpmTrust(s.database.db, s.collateral.lookup(context.trace)) })
    const binding = key === undefined ? await computeKeylessBinding(input.nonce) : await computeBinding(input.nonce, key.publicJwk)
    bindingRule = checkEvidenceBinding(verifier.binding, claims, binding, { agentCertificate: context.agentCertificate })
  } catch (err) {
    if (err instanceof KeybrokerError) s.metrics.verificationFailures.inc({ evidence_type: verifier.type, reason: err.code })
    throw err
  }
  const appraised = appraisalClaims(claims)
  const overall = appraise(appraised, await data.setsHolding(claims.measurement.toLowerCase()), {
    now,
    maxVmpl: s.config.snp.maxVmpl,
  })
  checkVmpl(claims, overall, s.config.snp.maxVmpl)
  return { now, claims, appraised, overall, bindingRule, summary: { ...evidenceSummary(claims), binding: bindingRule }, data }
}

/**
 * The attestation flow (docs/architecture.md, "Request flow"): `verifyBoundEvidence` → per-secret release policy → audit
 * entry committed before anything is returned. Any requested secret that is denied denies the
 * whole request (all or nothing), naming every failed rule.
 */
export async function attest(s: Services, input: AttestInput, requestId: string, context: RequestContext = {}): Promise<AttestResult> {
  const key = parseRecipientKey(input.publicKey)
  const wantsToken = input.token !== false
  // Issued certificates record the digest of the EAR they were issued with (certificate-issuance.ts).
  if (!wantsToken && input.certificates !== undefined && input.certificates.length > 0) {
    throw new KeybrokerError('bad-request', 'certificates are issued with the EAR: a request for certificates cannot ask for "token": false')
  }
  const release = [...new Set(input.release)]
  const { now, claims, appraised, overall, bindingRule, summary, data } = await verifyBoundEvidence(s, input, key, context)

  const db = s.database.db
  const released: Record<string, string> = {}
  const versions: Record<string, number> = {}
  const policies: Record<string, string> = {}

  if (release.length > 0) {
    const found = await data.currentSecrets(release)
    const rows = [...found.values()]
    const missing = release.filter((name) => !found.has(name))
    if (missing.length > 0) {
      await audit(s, 'attest', missing.join(','), 'denied', { requestId, ...summary, reason: 'secret-unknown' })
      throw new KeybrokerError('not-found', `no such secret: ${missing.join(', ')}`)
    }
    const decisions = await decideReleases(s, db, {
      claims: appraised,
      rows,
      request: { evidenceType: claims.evidenceType, clientIp: context.clientIp ?? '', time: now, via: 'attest' },
      loadSets: data.appraisalSets,
    })
    const failed = failedRules(decisions)
    if (failed.length > 0) {
      await audit(s, 'attest', release.join(','), 'denied', { requestId, ...summary, failedRules: failed.map(ruleText), trace: denialTrace(decisions) })
      countDenials(s, failed)
      s.log.info('release denied', { requestId, evidenceType: claims.evidenceType, measurement: claims.measurement, failedRules: failed.map(ruleText) })
      throw new KeybrokerError('policy-denied', `release denied by ${failed.length} rule(s)`, { extensions: { failedRules: failed } })
    }
    for (const d of decisions) policies[d.secret] = policyLabel(d)
    for (const row of rows) {
      const plaintext = openAtRest(s.keks, row.envelope, secretAad(row.meta.name, row.version))
      try {
        released[row.meta.name] = await sealToKey(key, plaintext)
      } finally {
        plaintext.fill(0)
      }
      versions[row.meta.name] = row.version
    }
  }

  const recovery =
    input.recover === undefined
      ? undefined
      : await recoverDiskKey(s, { recover: input.recover, claims, key, requestId, summary, clientIp: context.clientIp, data })

  // Certificates are decided before the token exists (a denial denies the request) and signed after it.
  const certificates =
    input.certificates === undefined || input.certificates.length === 0
      ? undefined
      : await (await caServices()).prepareAttestCertificates(s, { requests: input.certificates, claims, key: key.publicJwk, requestId, clientIp: context.clientIp })

  // Without a token (`token: false`) nothing is signed: the answer's JWEs are all the client gets.
  const ear = wantsToken ? await earOf(s, input.nonce, key, { now, claims, overall, bindingRule }) : undefined
  // A recovery is audited in this one entry (action `recover`, subject the sealing key, the disk).
  await audit(s, recovery?.action ?? (release.length > 0 ? 'release' : 'attest'), recovery?.subject ?? (release.join(',') || '-'), 'ok', {
    requestId,
    ...summary,
    ...recovery?.audit,
    ...(ear === undefined ? {} : { tokenId: ear.jti }),
    versions,
    policies,
  })
  for (const name of Object.keys(released)) s.metrics.releases.inc({ secret: name })
  if (recovery !== undefined) s.metrics.recoveries.inc({ sealing_key: recovery.subject, outcome: 'ok' })
  s.log.info('attested', {
    requestId,
    evidenceType: claims.evidenceType,
    measurement: claims.measurement,
    status: overall.status,
    released: Object.entries(versions).map(([name, version]) => `${name}@${version}`),
    ...(recovery === undefined ? {} : { recovered: recovery.subject }),
  })
  const issued = certificates === undefined || ear === undefined ? undefined : await certificates.issue({ token: ear.token, tokenId: ear.jti, status: overall.status })
  return {
    ...(ear === undefined ? {} : { token: ear.token }),
    secrets: released,
    ...(recovery === undefined ? {} : { recovered: recovery.jwe }),
    ...(issued === undefined ? {} : { certificates: issued }),
  }
}

export interface VerifyInput {
  readonly nonce: string
  readonly evidence: { readonly type: string; readonly [k: string]: unknown }
  /** The key the evidence binds; without it, the keyless binding (`computeKeylessBinding`) and no `cnf`. */
  readonly publicKey?: unknown
}

export interface VerifyResult {
  readonly token: string
}

/**
 * `POST /v1/verify`: everything `/v1/attest` does except release and recovery — the answer for a
 * relying party or a peer VM that only needs the verdict (Automata's off-chain verification
 * role). The evidence passes when the default rule set holds against the reference values that
 * hold its measurement (a matching, unrevoked value; debug acceptable; EAR status affirming);
 * then the EAR, else `policy-denied` naming the failed rules. Audited as `verify`.
 */
export async function verifyEvidence(s: Services, input: VerifyInput, requestId: string, context: RequestContext = {}): Promise<VerifyResult> {
  const key = input.publicKey === undefined ? undefined : parseRecipientKey(input.publicKey)
  const verified = await verifyBoundEvidence(s, input, key, context)
  const decision = decideVerification({
    claims: verified.appraised,
    appraisal: verified.overall,
    request: { evidenceType: verified.claims.evidenceType, clientIp: context.clientIp ?? '', time: verified.now, secret: '', via: 'verify' },
  })
  const failed = decision.rules.filter((r) => !r.passed)
  if (failed.length > 0) {
    await audit(s, 'verify', '-', 'denied', { requestId, ...verified.summary, failedRules: failed.map((r) => r.rule) })
    throw new KeybrokerError('policy-denied', `verification failed ${failed.length} rule(s)`, {
      extensions: { failedRules: failed.map((r) => ({ rule: r.rule, passed: r.passed, reason: r.reason })) },
    })
  }
  const ear = await earOf(s, input.nonce, key, verified)
  await audit(s, 'verify', '-', 'ok', { requestId, ...verified.summary, tokenId: ear.jti, status: verified.overall.status })
  return { token: ear.token }
}

/** The EAR of verified evidence; `cnf` is the attested key, when there is one (also the Cosmian pull flow's). */
export function earOf(s: Services, nonce: string, key: RecipientKey | undefined, v: Pick<Verified, 'now' | 'claims' | 'overall' | 'bindingRule'>) {
  return issueEar(s.keys.current, {
    issuer: s.config.issuer,
    audience: s.config.audience,
    now: v.now,
    ttlSeconds: s.config.tokenTtlSeconds,
    nonce,
    ...(key === undefined ? {} : { cnfJwk: key.publicJwk }),
    status: v.overall.status,
    trustVector: v.overall.trustVector,
    hardwareBacked: v.claims.hardwareBacked,
    evidenceType: v.claims.evidenceType,
    claims: { ...tokenClaims(v.claims, v.overall), binding: v.bindingRule },
    appraisalPolicyId: APPRAISAL_POLICY_ID,
  })
}

/**
 * Releases one secret to the holder of an attestation result token ("passport" model): the
 * token's claims are appraised again against the secret's reference values as they are now,
 * so a revocation holds from the next request on.
 */
export async function fetchSecret(
  s: Services,
  token: string,
  name: string,
  requestId: string,
  context: RequestContext = {},
): Promise<{ name: string; version: number; jwe: string }> {
  const now = s.now()
  const ear = await verifyEar(token, s.keys, { issuer: s.config.issuer, audience: s.config.audience, now })
  // A keyless verification token (`/v1/verify` without publicKey) names no key to seal to.
  if (ear.cnf === undefined) throw new KeybrokerError('token-invalid', 'this token binds no key; attest with a public key to fetch secrets')
  const key: RecipientKey = parseRecipientKey(ear.cnf.jwk)
  const claims = claimsFromToken(ear.claims, ear.evidenceType)
  const db = s.database.db
  const row = await getCurrentSecretVersion(db, name)
  if (row === undefined) {
    await audit(s, 'release', name, 'denied', { requestId, tokenId: ear.jti, reason: 'secret-unknown' })
    throw tokenReleaseDenied()
  }
  const decisions = await decideReleases(s, db, {
    claims,
    rows: [row],
    request: { evidenceType: ear.evidenceType, clientIp: context.clientIp ?? '', time: now, via: 'token' },
  })
  const failed = failedRules(decisions)
  if (failed.length > 0) {
    await audit(s, 'release', name, 'denied', { requestId, tokenId: ear.jti, failedRules: failed.map(ruleText), trace: denialTrace(decisions) })
    countDenials(s, failed)
    s.log.info('release denied', { requestId, evidenceType: ear.evidenceType, failedRules: failed.map(ruleText) })
    throw tokenReleaseDenied()
  }
  const plaintext = openAtRest(s.keks, row.envelope, secretAad(name, row.version))
  let jwe: string
  try {
    jwe = await sealToKey(key, plaintext)
  } finally {
    plaintext.fill(0)
  }
  await audit(s, 'release', name, 'ok', { requestId, tokenId: ear.jti, version: row.version, policy: decisions.map(policyLabel).join(',') })
  s.metrics.releases.inc({ secret: name })
  s.log.info('released', { requestId, evidenceType: ear.evidenceType, released: [`${name}@${row.version}`] })
  return { name, version: row.version, jwe }
}

/**
 * The one answer of `GET /v1/secrets/{name}` to a valid token that gets nothing: an unknown name
 * and a denied one (failed rules, disabled secret) are indistinguishable, so a token holder
 * cannot enumerate secret names. The failed rules are in the audit entry, for admins; a client
 * that needs them explains the policy through the admin API or attests again naming the secret.
 */
function tokenReleaseDenied(): KeybrokerError {
  return new KeybrokerError('policy-denied', 'this token does not release this secret (unknown name, or the policy denies it)')
}

/**
 * A report requested above the service's maximum VMPL (KEYBROKER_SNP_MAX_VMPL) goes on to the
 * release policy only when a reference-value set holding its measurement (an active value)
 * expects that VMPL itself (an SVSM guest at VMPL 2): the verifier left the VMPL to appraisal, and
 * this keeps the global setting the default for everything else.
 * @throws KeybrokerError `policy-violation`
 */
function checkVmpl(claims: Claims, appraisal: Appraisal, maxVmpl: number): void {
  const vmpl = claims.raw['vmpl']
  if (typeof vmpl !== 'number' || vmpl <= maxVmpl) return
  // The set's own vmpl expectation decides; its other claims are appraisal's (a mismatch there is a denial naming them).
  const accepted = appraisal.sets.some((set) => set.value.state === 'active' && set.claims.some((c) => c.claim === 'vmpl' && c.implicit !== true && c.passed))
  if (!accepted) throw new KeybrokerError('policy-violation', `report requested at VMPL ${vmpl}; maximum is ${maxVmpl} and no matching reference-value set expects it`)
}

/** What the audit log keeps of the evidence: its type and digests of identity, never the blob. */
/** One count per failed rule of a denial (a secret failing two rules counts twice). */
function countDenials(s: Services, failed: readonly FailedRule[]): void {
  for (const r of failed) s.metrics.denials.inc({ secret: r.secret, rule: r.rule })
}

function evidenceSummary(claims: Claims): Record<string, JsonValue> {
  return {
    evidenceType: claims.evidenceType,
    measurement: claims.measurement,
    debug: claims.debug,
    ...(claims.instanceId === undefined ? {} : { instanceId: claims.instanceId }),
  }
}

/**
 * The claims the token carries: what appraisal and the release policy read again on
 * `GET /v1/secrets` (the raw fields included, so type-specific expected claims and rules hold
 * there too), and the provenance of the reference values that matched.
 */
function tokenClaims(claims: Claims, appraisal: Appraisal): Record<string, JsonValue> {
  return {
    platform: claims.platform,
    measurement: claims.measurement,
    measurements: claims.measurements,
    debug: claims.debug,
    hardwareBacked: claims.hardwareBacked,
    tcb: claims.tcb,
    ...(claims.hostData === undefined ? {} : { hostData: claims.hostData }),
    ...(claims.instanceId === undefined ? {} : { instanceId: claims.instanceId }),
    raw: claims.raw,
    ...(claims.teeTpmTie === undefined ? {} : { teeTpmTie: claims.teeTpmTie }),
    referenceValues: appraisal.matched,
    referenceValueProvenance: appraisal.matchedValues.map((m) => ({
      set: m.set,
      version: m.version ?? null,
      ...(m.provenance ?? { source: 'unknown' }),
    })),
  }
}

export function claimsFromToken(c: Readonly<Record<string, JsonValue>>, evidenceType: string): AppraisedClaims {
  const { measurement, debug, hardwareBacked, platform, measurements, tcb, hostData, instanceId, raw, teeTpmTie } = c
  if (typeof measurement !== 'string' || typeof debug !== 'boolean' || typeof hardwareBacked !== 'boolean') {
    throw new KeybrokerError('token-invalid', 'token lacks the claims a release needs')
  }
  return {
    evidenceType,
    measurement,
    debug,
    hardwareBacked,
    ...(typeof platform === 'string' ? { platform } : {}),
    measurements: stringMap(measurements),
    tcb: tcbMap(tcb),
    ...(typeof hostData === 'string' ? { hostData } : {}),
    ...(typeof instanceId === 'string' ? { instanceId } : {}),
    raw: jsonObject(raw),
    ...(typeof teeTpmTie === 'string' ? { teeTpmTie } : {}),
  }
}

function jsonObject(v: JsonValue | undefined): Readonly<Record<string, JsonValue>> {
  if (v === undefined || v === null || typeof v !== 'object' || isJsonArray(v)) return {}
  return v
}

function stringMap(v: JsonValue | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(jsonObject(v)).flatMap(([k, x]) => (typeof x === 'string' ? [[k, x]] : [])))
}

function tcbMap(v: JsonValue | undefined): Record<string, number | string> {
  return Object.fromEntries(Object.entries(jsonObject(v)).flatMap(([k, x]) => (typeof x === 'string' || typeof x === 'number' ? [[k, x]] : [])))
}

/** Appends one audit entry (group commit), committed before the response is sent. */
async function audit(
  s: Services,
  action: string,
  subject: string,
  outcome: 'ok' | 'denied',
  detail: Record<string, JsonValue>,
): Promise<void> {
  await s.audit.append({ at: s.now(), actor: 'attester', action, subject, outcome, detail })
}
