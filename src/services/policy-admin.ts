/**
 * Release policies (named, versioned CEL rule sets) and their explanation (dry run). Rules are
 * compiled when saved, so a bad rule is refused with its name and position and never reaches
 * a request.
 */
import type { AppraisalClaims } from '../appraisal/index.js'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/index.js'
import { DEFAULT_RULES, compilePolicy, decideRelease, type RuleResult } from '../policy/index.js'
import { describeZodError } from '../server/validation.js'
import {
  addPolicyVersion,
  createPolicy as insertPolicy,
  deletePolicy as removePolicy,
  getCurrentPolicy,
  getPolicyVersion,
  getSecretMeta,
  listPolicies as selectPolicies,
  listPolicyVersions,
  listSecretsWithPolicy,
  type PolicyVersion,
  type StoredRule,
} from '../storage/index.js'
import type { AdminPrincipal } from './admin-tokens.js'
import { auditAdminChange } from './audit.js'
import { appraisalClaims, appraisalJson, claimsDocument, compiledPolicy, loadAppraisalSets } from './release-policy.js'
import { appraise } from '../appraisal/index.js'
import { jsonRecord } from './json-value.js'
import type { Services } from './services.js'
import { withTpmTrust } from './tpm-trust.js'
import type { TraceContext } from '../log/trace-context.js'

/** The built-in rule set's name: readable and explainable, never stored or replaced. */
export const DEFAULT_POLICY_NAME = 'default'

export interface PolicyInput {
  readonly description?: string | undefined
  readonly rules: readonly { readonly name: string; readonly expr: string; readonly description?: string | undefined }[]
}

export interface PolicyView {
  readonly name: string
  readonly version: number
  readonly description: string
  readonly rules: StoredRule[]
  readonly createdAt: string
  readonly createdBy: string
  /** Secrets guarded by this policy (current attachments). */
  readonly secrets?: string[]
}

function storedRules(input: PolicyInput): StoredRule[] {
  return input.rules.map((r) => ({ name: r.name, expr: r.expr, ...(r.description === undefined ? {} : { description: r.description }) }))
}

function view(p: PolicyVersion, secrets?: string[]): PolicyView {
  return {
    name: p.name,
    version: p.version,
    description: p.description,
    rules: [...p.rules],
    createdAt: p.createdAt.toISOString(),
    createdBy: p.createdBy,
    ...(secrets === undefined ? {} : { secrets }),
  }
}

const DEFAULT_VIEW: PolicyView = {
  name: DEFAULT_POLICY_NAME,
  version: 1,
  description: 'the built-in rule set of every secret that names no policy (secret-enabled is checked first, always)',
  rules: DEFAULT_RULES.map((r) => ({ ...r })),
  createdAt: new Date(0).toISOString(),
  createdBy: 'keybroker',
}

function refuseDefault(name: string): void {
  if (name === DEFAULT_POLICY_NAME) throw new KeybrokerError('conflict', 'the default policy is built in; give yours another name')
}

/** Creates policy `name` at version 1 after compiling every rule. */
export async function createPolicy(s: Services, name: string, input: PolicyInput, by: AdminPrincipal): Promise<PolicyView> {
  refuseDefault(name)
  const rules = storedRules(input)
  compilePolicy(rules)
  const description = input.description ?? ''
  const created = await s.database.db.transaction(async (tx) => {
    const p = await insertPolicy(tx, name, { description, rules, at: s.now(), by: by.id })
    await auditAdminChange(tx, s, by, 'policy.create', name, { version: p.version, rules: rules.map((r) => ({ ...r })) })
    return p
  })
  return view(created, [])
}

/** Stores a new version of policy `name` (the secrets that use it follow on their next request). */
export async function updatePolicy(s: Services, name: string, input: PolicyInput, by: AdminPrincipal): Promise<PolicyView> {
  refuseDefault(name)
  const rules = storedRules(input)
  compilePolicy(rules)
  const description = input.description ?? ''
  const updated = await s.database.db.transaction(async (tx) => {
    const p = await addPolicyVersion(tx, name, { description, rules, at: s.now(), by: by.id })
    await auditAdminChange(tx, s, by, 'policy.update', name, { version: p.version, rules: rules.map((r) => ({ ...r })) })
    return p
  })
  return view(updated, await listSecretsWithPolicy(s.database.db, name))
}

export async function getPolicy(s: Services, name: string, version?: number): Promise<PolicyView> {
  if (name === DEFAULT_POLICY_NAME) {
    if (version !== undefined && version !== 1) throw new KeybrokerError('not-found', `the default policy has version 1 only`)
    return DEFAULT_VIEW
  }
  const p = version === undefined ? await getCurrentPolicy(s.database.db, name) : await getPolicyVersion(s.database.db, name, version)
  if (p === undefined) throw new KeybrokerError('not-found', version === undefined ? `no such policy: ${name}` : `no version ${version} of policy ${name}`)
  return view(p, await listSecretsWithPolicy(s.database.db, name))
}

export async function listPolicies(s: Services): Promise<PolicyView[]> {
  return [DEFAULT_VIEW, ...(await selectPolicies(s.database.db)).map((p) => view(p))]
}

export async function listPolicyVersionViews(s: Services, name: string): Promise<PolicyView[]> {
  if (name === DEFAULT_POLICY_NAME) return [DEFAULT_VIEW]
  const versions = await listPolicyVersions(s.database.db, name)
  if (versions.length === 0) throw new KeybrokerError('not-found', `no such policy: ${name}`)
  return versions.map((p) => view(p))
}

export async function deletePolicy(s: Services, name: string, by: AdminPrincipal): Promise<void> {
  refuseDefault(name)
  await s.database.db.transaction(async (tx) => {
    if (!(await removePolicy(tx, name))) throw new KeybrokerError('not-found', `no such policy: ${name}`)
    await auditAdminChange(tx, s, by, 'policy.delete', name, {})
  })
}

/** A claims document for explain (instead of evidence): the normalized claims, as JSON. */
export interface ClaimsInput {
  readonly evidenceType: string
  readonly platform?: string | undefined
  readonly measurement: string
  readonly debug: boolean
  readonly hardwareBacked: boolean
  readonly measurements?: Record<string, string> | undefined
  readonly tcb?: Record<string, number | string> | undefined
  readonly hostData?: string | undefined
  readonly instanceId?: string | undefined
  readonly raw?: Record<string, unknown> | undefined
}

export interface ExplainInput {
  /** Evidence, verified for real (signatures, chains, collateral); the nonce binding is skipped. */
  readonly evidence?: { readonly type: string; readonly [k: string]: unknown } | undefined
  readonly claims?: ClaimsInput | undefined
  /** The reference-value sets to appraise against; default: those of `secret`. */
  readonly referenceValues?: readonly string[] | undefined
  /** A secret whose sets (and state) to use. */
  readonly secret?: string | undefined
  readonly version?: number | undefined
  readonly request?: { readonly clientIp?: string | undefined; readonly time?: string | undefined; readonly via?: 'attest' | 'token' | undefined } | undefined
}

/** The trace, typed as plain JSON for the HTTP layer. */
export interface ExplainResult {
  readonly policy: { readonly name: string; readonly version: number }
  readonly allowed: boolean
  readonly rules: { rule: string; passed: boolean; reason: string; error?: string; values?: Record<string, unknown> }[]
  readonly appraisal: unknown
  readonly claims: Record<string, unknown>
  readonly request: Record<string, unknown>
}

/**
 * Runs policy `name` (or a given version) against evidence or a claims document and the chosen
 * reference-value sets, without releasing anything: every rule with its result and the values it
 * read, and the appraisal per claim. Admin-facing: the appraisal names reference values.
 */
export async function explainPolicy(s: Services, name: string, input: ExplainInput, trace?: TraceContext): Promise<ExplainResult> {
  if ((input.evidence === undefined) === (input.claims === undefined)) throw new KeybrokerError('bad-request', 'give exactly one of evidence and claims')
  const policy = await policyToExplain(s, name, input.version)
  const now = s.now()
  const claims = input.evidence !== undefined ? await verifiedClaims(s, input.evidence, now, trace) : claimsOf(input.claims)
  const db = s.database.db
  let referenceValues = input.referenceValues
  let state: 'enabled' | 'disabled' = 'enabled'
  if (input.secret !== undefined) {
    const meta = await getSecretMeta(db, input.secret)
    if (meta === undefined) throw new KeybrokerError('not-found', `no such secret: ${input.secret}`)
    referenceValues ??= meta.referenceValues
    state = meta.state
  }
  const names = [...(referenceValues ?? [])]
  const sets = await loadAppraisalSets(s, db, names)
  const missing = names.filter((n) => !sets.has(n))
  if (missing.length > 0) throw new KeybrokerError('not-found', `no such reference-value set: ${missing.join(', ')}`)
  const time = input.request?.time === undefined ? now : new Date(Date.parse(input.request.time))
  if (!Number.isFinite(time.getTime())) throw new KeybrokerError('bad-request', 'request.time: an RFC 3339 time')
  const appraisal = appraise(claims, names.flatMap((n) => sets.get(n) ?? []), { now: time, maxVmpl: s.config.snp.maxVmpl })
  const request = {
    evidenceType: claims.evidenceType ?? '',
    clientIp: input.request?.clientIp ?? '',
    time,
    secret: input.secret ?? '',
    via: input.request?.via ?? ('attest' as const),
  }
  const decision = decideRelease({
    secretState: state,
    policy: policy.compiled,
    claims,
    appraisal,
    referenceValues: names,
    request,
    explain: true,
  })
  return {
    policy: { name: policy.name, version: policy.version },
    allowed: decision.allowed,
    rules: decision.rules.map(plainRule),
    appraisal: appraisalJson(appraisal),
    claims: { ...claimsDocument(claims) },
    request: { evidenceType: request.evidenceType, clientIp: request.clientIp, time: time.toISOString(), secret: request.secret, via: request.via },
  }
}

function plainRule(r: RuleResult): ExplainResult['rules'][number] {
  return {
    rule: r.rule,
    passed: r.passed,
    reason: r.reason,
    ...(r.error === undefined ? {} : { error: r.error }),
    ...(r.values === undefined ? {} : { values: Object.fromEntries(Object.entries(r.values)) }),
  }
}

async function policyToExplain(s: Services, name: string, version: number | undefined) {
  if (name === DEFAULT_POLICY_NAME) return { name, version: 1, compiled: undefined }
  const p = version === undefined ? await getCurrentPolicy(s.database.db, name) : await getPolicyVersion(s.database.db, name, version)
  if (p === undefined) throw new KeybrokerError('not-found', version === undefined ? `no such policy: ${name}` : `no version ${version} of policy ${name}`)
  return { name: p.name, version: p.version, compiled: compiledPolicy(p) }
}

async function verifiedClaims(s: Services, evidence: { readonly type: string }, now: Date, trace: TraceContext | undefined): Promise<AppraisalClaims> {
  const verifier = s.verifiers.verifierFor(evidence.type)
  const parsed = verifier.schema.safeParse(evidence)
  if (!parsed.success) throw new KeybrokerError('evidence-malformed', describeZodError(parsed.error, 'evidence'))
  // The same collateral as /v1/attest: cache directory, admin store, registered TPM keys.
  return appraisalClaims(await verifier.verify(parsed.data, { now, collateral: withTpmTrust(s.database.db, s.collateral.lookup(trace)) }))
}

function claimsOf(c: ClaimsInput | undefined): AppraisalClaims {
  if (c === undefined) throw new KeybrokerError('bad-request', 'claims missing')
  return {
    evidenceType: c.evidenceType,
    ...(c.platform === undefined ? {} : { platform: c.platform }),
    measurement: c.measurement.toLowerCase(),
    debug: c.debug,
    hardwareBacked: c.hardwareBacked,
    measurements: c.measurements ?? {},
    tcb: c.tcb ?? {},
    ...(c.hostData === undefined ? {} : { hostData: c.hostData }),
    ...(c.instanceId === undefined ? {} : { instanceId: c.instanceId }),
    raw: jsonRecord(c.raw),
  }
}
