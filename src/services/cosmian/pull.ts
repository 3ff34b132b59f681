/**
 * Pull verification of a Cosmian VM and provisioning of its application secret (README,
 * "Cosmian VM"). keybroker plays the `cosmian_vm` CLI's role, stricter:
 *
 * 1. connect to the agent and pin the leaf certificate it presents (`CosmianAgentClient`);
 * 2. a fresh nonce of keybroker's own (never zero, never reused: a challenge nonce and its keyless
 *    binding B; the agent gets N = B[0:32]) to `/quote/tee` and, when the reference values
 *    expect TPM or IMA claims, `/quote/tpm`, with `/ima/binary`;
 * 3. the `cosmian` verifier, its binding profile against B and the pinned certificate, and
 *    appraisal against the named reference-value sets (the imported snapshot);
 * 4. the default verification rules → the EAR, with an explain-style report of every rule and
 *    claim. Audited (`cosmian.verify`).
 *
 * Provisioning runs that verification and, in the same operation and session, only when it
 * passed and the secret's own release policy allows it, pushes the secret to the agent's
 * `POST /app/init` over a connection checked against the attested certificate. The audit entry
 * (`cosmian.provision`) is committed before the secret leaves.
 */
import { appraise, type Appraisal, type AppraisalClaims } from '../../appraisal/index.js'
import { KeybrokerError, isKeybrokerError } from '../../errors.js'
import { BINDING_HALF_SIZE, type Claims, type JsonValue } from '../../evidence/index.js'
import { sha256Hex } from '../../evidence/x509-chain.js'
import { decideVerification } from '../../policy/index.js'
import { openAtRest } from '../../secrets/index.js'
import { describeZodError } from '../../server/validation.js'
import { getCurrentSecretVersion } from '../../storage/index.js'
import { checkEvidenceBinding, computeKeylessBinding } from '../../tokens/index.js'
import { actorOf, type AdminPrincipal } from '../admin-tokens.js'
import { earOf } from '../attestation.js'
import { appraisalClaims, appraisalJson, decideReleases, failedRules, loadAppraisalSets, policyLabel, ruleText } from '../release-policy.js'
import { secretAad } from '../secret-aad.js'
import type { Services } from '../services.js'
import { withTpmTrust } from '../tpm-trust.js'
import { CosmianAgentClient } from './agent-client.js'
import type { TraceContext } from '../../log/trace-context.js'

/** Bounds of one agent session (an IMA list as a JSON byte array is up to ~4 bytes a byte). */
export const AGENT_TIMEOUT_MS = 15_000
export const AGENT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024

export interface CosmianPullInput {
  readonly agentUrl: string
  /** The reference-value sets to appraise against (an imported snapshot). */
  readonly referenceValues: readonly string[]
}

export interface CosmianReport {
  readonly agent: { readonly url: string; readonly certificateSha256: string }
  readonly binding: string
  readonly evidence: Record<string, unknown>
  readonly rules: { rule: string; passed: boolean; reason: string }[]
  readonly appraisal: unknown
}

export interface CosmianVerification {
  readonly passed: boolean
  /** The EAR (keyless: no `cnf`) when the verification passed. */
  readonly token?: string
  readonly report: CosmianReport
}

interface Verified extends CosmianVerification {
  readonly claims: AppraisalClaims
  readonly tokenId: string | undefined
}

const b64NoPad = (b: Uint8Array): string => Buffer.from(b).toString('base64').replace(/=+$/, '')

/** Claim names that need the TPM quote and the IMA list. */
const TPM_CLAIM = /^(?:ima|tpm\.|pcr\.|event\.)/

function needsTpm(sets: Iterable<{ readonly expect?: readonly { readonly claim: string }[]; readonly measurements: readonly { readonly expect?: readonly { readonly claim: string }[] }[] }>): boolean {
  for (const set of sets) {
    const claims = [...(set.expect ?? []), ...set.measurements.flatMap((m) => m.expect ?? [])]
    if (claims.some((c) => TPM_CLAIM.test(c.claim))) return true
  }
  return false
}

/** The agent's evidence for nonce N, as the `cosmian` wire object. The answers are untrusted: the verifier's schema checks them. */
async function pullEvidence(client: CosmianAgentClient, nonce: Uint8Array, withTpm: boolean): Promise<Record<string, unknown>> {
  const q = encodeURIComponent(b64NoPad(nonce))
  const teeQuote = await client.getJson(`/quote/tee?nonce=${q}`)
  if (!withTpm) return { type: 'cosmian', teeQuote }
  const tpm = await client.getJson(`/quote/tpm?nonce=${q}`)
  const imaBinary = await client.getJson('/ima/binary')
  // Only the four members Cosmian defines are taken from the TPM answer.
  const t = typeof tpm === 'object' && tpm !== null && !Array.isArray(tpm) ? (tpm as Record<string, unknown>) : {}
  const tpmQuote = { pcr_value_hash_method: t['pcr_value_hash_method'], quote: t['quote'], signature: t['signature'], public_key: t['public_key'] }
  return { type: 'cosmian', teeQuote, tpmQuote, imaBinary }
}

function evidenceSummary(claims: Claims): Record<string, JsonValue> {
  const raw = claims.raw
  return {
    evidenceType: claims.evidenceType,
    platform: claims.platform,
    measurement: claims.measurement,
    debug: claims.debug,
    ...(raw['quoteLayout'] === undefined ? {} : { quoteLayout: raw['quoteLayout'] }),
    ...(claims.teeTpmTie === undefined ? {} : { teeTpmTie: claims.teeTpmTie }),
    ...(raw['ak'] === undefined ? {} : { ak: raw['ak'] }),
    ...(raw['quote'] === undefined ? {} : { tpm: { resetCount: (raw['quote'] as Record<string, JsonValue>)['resetCount'] ?? null, restartCount: (raw['quote'] as Record<string, JsonValue>)['restartCount'] ?? null } }),
  }
}

async function audit(s: Services, by: AdminPrincipal, action: string, subject: string, outcome: 'ok' | 'denied', detail: Record<string, JsonValue>): Promise<void> {
  await s.audit.append({ at: s.now(), actor: actorOf(by), action, subject, outcome, detail })
}

async function verifyWith(s: Services, client: CosmianAgentClient, names: readonly string[], requestId: string, by: AdminPrincipal, trace: TraceContext | undefined): Promise<Verified> {
  const now = s.now()
  const db = s.database.db
  if (names.length === 0) throw new KeybrokerError('bad-request', 'referenceValues: name at least one set (the imported snapshot)')
  const sets = await loadAppraisalSets(s, db, names)
  const missing = names.filter((n) => !sets.has(n))
  if (missing.length > 0) throw new KeybrokerError('not-found', `no such reference-value set: ${missing.join(', ')}`)

  const issued = s.nonces.issue(now)
  const binding = await computeKeylessBinding(issued.nonce)
  const subject = client.origin
  let claims: Claims
  let bindingRule: string
  try {
    const evidence = await pullEvidence(client, binding.slice(0, BINDING_HALF_SIZE), needsTpm(sets.values()))
    const verifier = s.verifiers.verifierFor('cosmian')
    const parsed = verifier.schema.safeParse(evidence)
    if (!parsed.success) throw new KeybrokerError('evidence-malformed', `the agent's answers: ${describeZodError(parsed.error, 'evidence')}`)
    claims = await verifier.verify(parsed.data, { now, collateral: withTpmTrust(db, s.collateral.lookup(trace)) })
    bindingRule = checkEvidenceBinding(verifier.binding, claims, binding, { agentCertificate: client.certificate })
  } catch (err) {
    if (isKeybrokerError(err)) {
      const cert = client.certificate
      await audit(s, by, 'cosmian.verify', subject, 'denied', { requestId, code: err.code, ...(cert === undefined ? {} : { agentCertificateSha256: sha256Hex(cert) }) })
    }
    throw err
  }
  const certificateSha256 = sha256Hex(client.certificate ?? new Uint8Array())
  const appraised = appraisalClaims(claims)
  const overall: Appraisal = appraise(appraised, names.flatMap((n) => sets.get(n) ?? []), { now, maxVmpl: s.config.snp.maxVmpl })
  const decision = decideVerification({ claims: appraised, appraisal: overall, request: { evidenceType: 'cosmian', clientIp: '', time: now, secret: '', via: 'verify' } })
  const rules = decision.rules.map((r) => ({ rule: r.rule, passed: r.passed, reason: r.reason }))
  const report: CosmianReport = { agent: { url: subject, certificateSha256 }, binding: bindingRule, evidence: evidenceSummary(claims), rules, appraisal: appraisalJson(overall) }
  const base = { requestId, agentCertificateSha256: certificateSha256, binding: bindingRule, measurement: claims.measurement, referenceValues: [...names] }
  if (!decision.allowed) {
    await audit(s, by, 'cosmian.verify', subject, 'denied', { ...base, failedRules: rules.filter((r) => !r.passed).map((r) => r.rule) })
    return { passed: false, report, claims: appraised, tokenId: undefined }
  }
  const ear = await earOf(s, issued.nonce, undefined, { now, claims, overall, bindingRule })
  await audit(s, by, 'cosmian.verify', subject, 'ok', { ...base, tokenId: ear.jti, status: overall.status })
  return { passed: true, token: ear.token, report, claims: appraised, tokenId: ear.jti }
}

/** A session with the agent at `agentUrl`; each of its requests carries a child span of `trace` and is logged. */
function newClient(s: Services, agentUrl: string, requestId: string, trace: TraceContext | undefined): CosmianAgentClient {
  return new CosmianAgentClient({ url: agentUrl, timeoutMs: AGENT_TIMEOUT_MS, maxBytes: AGENT_MAX_RESPONSE_BYTES, trace, log: s.log, requestId })
}

/**
 * `POST /admin/v1/cosmian/verifications`: pulls the agent's evidence with a fresh nonce, verifies
 * and appraises it against `referenceValues`. A verification that ran is a 200 whether it passed
 * or not (`passed`, the report); evidence that does not verify or bind is the problem it raises.
 * @throws `bad-request` (URL, no sets), `not-found` (a set), `agent-unreachable`, `binding-mismatch`,
 *   and every error of the `cosmian` verifier
 */
export async function verifyCosmianAgent(s: Services, input: CosmianPullInput, requestId: string, by: AdminPrincipal, trace?: TraceContext): Promise<CosmianVerification> {
  const { passed, token, report } = await verifyWith(s, newClient(s, input.agentUrl, requestId, trace), input.referenceValues, requestId, by, trace)
  return { passed, ...(token === undefined ? {} : { token }), report }
}

export interface CosmianProvisionInput extends CosmianPullInput {
  /** The secret whose current version goes to the agent's `/app/init`. */
  readonly secret: string
}

export interface CosmianProvisionResult extends CosmianVerification {
  readonly provisioned: { readonly secret: string; readonly version: number }
}

/**
 * `POST /admin/v1/cosmian/provisions`: a passing verification in this same session, then the
 * secret's release policy (its own reference values, its rules), then the push to `/app/init`
 * (`{"content": base64 without padding}`) over a connection checked against the certificate just
 * attested. Audited before the secret leaves; a failed push is audited too.
 * @throws everything `verifyCosmianAgent` throws; `policy-denied` (the verification or the
 *   secret's policy failed: the failed rules), `not-found` (secret), `agent-unreachable`,
 *   `binding-mismatch` (the push connection presents another certificate)
 */
export async function provisionCosmianAgent(s: Services, input: CosmianProvisionInput, requestId: string, by: AdminPrincipal, trace?: TraceContext): Promise<CosmianProvisionResult> {
  const client = newClient(s, input.agentUrl, requestId, trace)
  const db = s.database.db
  const row = await getCurrentSecretVersion(db, input.secret)
  if (row === undefined) throw new KeybrokerError('not-found', `no such secret: ${input.secret}`)
  const v = await verifyWith(s, client, input.referenceValues, requestId, by, trace)
  const subject = `${input.secret}@${client.origin}`
  if (!v.passed) {
    await audit(s, by, 'cosmian.provision', subject, 'denied', { requestId, reason: 'verification-failed' })
    throw new KeybrokerError('policy-denied', 'the agent did not pass verification; nothing was pushed', {
      extensions: { failedRules: v.report.rules.filter((r) => !r.passed) },
    })
  }
  const now = s.now()
  const decisions = await decideReleases(s, db, { claims: v.claims, rows: [row], request: { evidenceType: 'cosmian', clientIp: '', time: now, via: 'attest' } })
  const failed = failedRules(decisions)
  if (failed.length > 0) {
    await audit(s, by, 'cosmian.provision', subject, 'denied', { requestId, reason: 'release-policy', failedRules: failed.map(ruleText) })
    throw new KeybrokerError('policy-denied', `release denied by ${failed.length} rule(s); nothing was pushed`, { extensions: { failedRules: failed } })
  }
  const certificateSha256 = v.report.agent.certificateSha256
  const detail = { requestId, secret: row.meta.name, version: row.version, policy: decisions.map(policyLabel).join(','), agentCertificateSha256: certificateSha256, tokenId: v.tokenId ?? null }
  // The release is committed to the audit log before the secret leaves keybroker.
  await audit(s, by, 'cosmian.provision', subject, 'ok', detail)
  const plaintext = openAtRest(s.keks, row.envelope, secretAad(row.meta.name, row.version))
  try {
    await client.postJson('/app/init', { content: b64NoPad(plaintext) })
  } catch (err) {
    await audit(s, by, 'cosmian.provision', subject, 'denied', { ...detail, reason: 'push-failed', code: isKeybrokerError(err) ? err.code : 'internal' })
    throw err
  } finally {
    plaintext.fill(0)
  }
  return { passed: true, ...(v.token === undefined ? {} : { token: v.token }), report: v.report, provisioned: { secret: row.meta.name, version: row.version } }
}
