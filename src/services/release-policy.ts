/**
 * Appraisal and release policy for the request flows (attest, token release, explain): loads a
 * secret's reference-value sets and policy, appraises the claims against the sets and runs the
 * policy's CEL rules. Compiled policies are cached by their rules' content.
 */
import { createHash } from 'node:crypto'
import {
  appraise,
  parseExpectedClaims,
  type Appraisal,
  type AppraisalClaims,
  type ReferenceValueSet,
} from '../appraisal/index.js'
import { KeybrokerError } from '../errors.js'
import type { Claims, JsonValue } from '../evidence/index.js'
import {
  claimsDocument,
  compilePolicy,
  decideRelease,
  earDocument,
  type CompiledPolicy,
  type ReleaseDecision,
  type ReleaseRequest,
  type RuleResult,
} from '../policy/index.js'
import {
  getReferenceValueSets,
  type CurrentSecretVersion,
  type Executor,
  type PolicyVersion,
  type ReferenceValueSet as StoredSet,
} from '../storage/index.js'
import { isJsonValue } from './json-value.js'
import type { Services } from './services.js'

/** A failed rule of one requested secret, as a denial lists it (no reference values in it). */
export interface FailedRule extends RuleResult {
  readonly secret: string
}

const MAX_CACHED_POLICIES = 256
const compiled = new Map<string, CompiledPolicy>()

/**
 * The compiled form of a stored policy version, cached. The key is the rules' content, not only
 * (name, version): a policy deleted and created again starts at version 1 with other rules, and
 * one process may serve several databases (tests do).
 */
export function compiledPolicy(p: Pick<PolicyVersion, 'name' | 'version' | 'rules'>): CompiledPolicy {
  const key = createHash('sha256').update(JSON.stringify(p.rules.map((r) => [r.name, r.expr, r.description ?? null]))).digest('base64url')
  const hit = compiled.get(key)
  if (hit !== undefined) {
    // Refresh its place: the map iterates oldest first, which is what gets evicted.
    compiled.delete(key)
    compiled.set(key, hit)
    return hit
  }
  const policy = compilePolicy(p.rules)
  compiled.set(key, policy)
  if (compiled.size > MAX_CACHED_POLICIES) {
    const oldest = compiled.keys().next()
    if (oldest.done !== true) compiled.delete(oldest.value)
  }
  return policy
}

/**
 * A stored set as appraisal needs it: the expected claims parsed against the catalogue again.
 * A stored set whose claims no longer parse (the catalogue changed under it) matches nothing:
 * it fails closed, and the log says why.
 */
export function appraisalSet(s: Pick<Services, 'log'>, set: StoredSet): ReferenceValueSet {
  const evidenceType = set.evidenceType ?? undefined
  try {
    return {
      name: set.name,
      allowDebug: set.allowDebug,
      version: set.version,
      evidenceType: set.evidenceType,
      expect: parseExpectedClaims(set.expectJson, evidenceType),
      measurements: set.measurements.map((m, i) => ({
        value: m.value,
        revokedAt: m.revokedAt,
        notBefore: m.notBefore,
        notAfter: m.notAfter,
        expect: parseExpectedClaims(m.expectJson, evidenceType, `measurements[${i}].expect`),
        provenance: m.provenance,
      })),
    }
  } catch (err) {
    if (!(err instanceof KeybrokerError)) throw err
    s.log.warn('stored reference values no longer parse; the set matches nothing', { set: set.name, code: err.code, detail: err.detail })
    return { name: set.name, allowDebug: false, version: set.version, evidenceType: '(invalid stored claims)', measurements: [] }
  }
}

/** The named sets that exist, as appraisal sets, in one query. */
export async function loadAppraisalSets(s: Pick<Services, 'log'>, ex: Executor, names: readonly string[]): Promise<Map<string, ReferenceValueSet>> {
  const stored = await getReferenceValueSets(ex, names)
  return new Map([...stored].map(([name, set]) => [name, appraisalSet(s, set)]))
}

/** What the audit log keeps of one secret's decision: every rule and the appraisal per claim. */
export interface DecisionTrace {
  readonly secret: string
  readonly policy: string
  readonly policyVersion: number | null
  readonly allowed: boolean
  readonly rules: readonly RuleResult[]
  readonly appraisal: JsonValue
}

export interface SecretDecision {
  readonly secret: string
  readonly decision: ReleaseDecision
  readonly appraisal: Appraisal
  readonly policy: PolicyVersion | undefined
  /** The same decision again with the values each rule read (same data: no second query). */
  explain(): ReleaseDecision
}

export interface DecideReleasesInput {
  readonly claims: AppraisalClaims
  readonly rows: readonly CurrentSecretVersion[]
  readonly request: Omit<ReleaseRequest, 'secret'>
  /** Evaluate with the values each rule read (explain, and the trace of a denial). */
  readonly explain?: boolean
  /** Where the sets come from (the request's `ReleaseDataView` on the attest path); default: `ex`. */
  readonly loadSets?: ((names: readonly string[]) => Promise<Map<string, ReferenceValueSet>>) | undefined
}

/**
 * Appraises the claims against each secret's reference-value sets and runs its policy (the
 * default rule set when it names none). One query (the sets) whatever the number of secrets:
 * the policies came with the secrets.
 * @throws KeybrokerError `internal` when a secret names a policy that does not exist (deleting
 *   a policy in use is refused, so this means the database was changed behind our back).
 */
export async function decideReleases(s: Services, ex: Executor, input: DecideReleasesInput): Promise<SecretDecision[]> {
  const names = input.rows.flatMap((r) => r.meta.referenceValues)
  const sets = await (input.loadSets === undefined ? loadAppraisalSets(s, ex, names) : input.loadSets(names))
  const now = input.request.time
  return input.rows.map((row) => {
    const names = row.meta.referenceValues
    const appraisal = appraise(input.claims, names.flatMap((n) => sets.get(n) ?? []), { now, maxVmpl: s.config.snp.maxVmpl })
    // The policy's current version came with the secret, in the same query.
    const stored = row.policyVersion ?? undefined
    if (row.meta.policy !== null && stored === undefined) {
      throw new KeybrokerError('internal', `secret ${row.meta.name} names policy ${row.meta.policy}, which does not exist`)
    }
    const decide = (explain: boolean) =>
      decideRelease({
        secretState: row.meta.state,
        policy: stored === undefined ? undefined : compiledPolicy(stored),
        claims: input.claims,
        appraisal,
        referenceValues: names,
        request: { ...input.request, secret: row.meta.name },
        explain,
      })
    return { secret: row.meta.name, decision: decide(input.explain === true), appraisal, policy: stored, explain: () => decide(true) }
  })
}

/** The failed rules of the decisions, for the problem document (names and reasons only). */
export function failedRules(decisions: readonly SecretDecision[]): FailedRule[] {
  return decisions.flatMap((d) =>
    d.decision.rules
      .filter((r) => !r.passed)
      .map((r) => ({ secret: d.secret, rule: r.rule, passed: r.passed, reason: r.reason, ...(r.error === undefined ? {} : { error: r.error }) })),
  )
}

/** The full trace of a decision for the audit log: every rule, its values, the appraisal per claim. */
export function decisionTrace(d: SecretDecision): DecisionTrace {
  const explained = d.explain()
  return {
    secret: d.secret,
    policy: d.policy?.name ?? 'default',
    policyVersion: d.policy?.version ?? null,
    allowed: explained.allowed,
    rules: explained.rules,
    appraisal: appraisalJson(d.appraisal),
  }
}

/** `secret:rule`, as a denial's audit entry lists the failed rules. */
export function ruleText(r: FailedRule): string {
  return `${r.secret}:${r.rule}`
}

/** The full trace of a denial for the audit entry: every rule with the values it read, the appraisal per claim. */
export function denialTrace(decisions: readonly SecretDecision[]): JsonValue {
  // A JSON round trip turns the typed trace into plain JSON values (dropping undefined members).
  const json: unknown = JSON.parse(JSON.stringify(decisions.map(decisionTrace)))
  return isJsonValue(json) ? json : null
}

/** `name@version`, or `default`: which policy decided, for audit entries. */
export function policyLabel(d: SecretDecision): string {
  return d.policy === undefined ? 'default' : `${d.policy.name}@${d.policy.version}`
}

/** An appraisal as JSON (explain answers and audit traces; admin-facing only). */
export function appraisalJson(a: Appraisal): JsonValue {
  return {
    status: a.status,
    trustVector: { ...a.trustVector },
    matched: [...a.matched],
    revoked: [...a.revokedIn],
    debugAcceptable: a.isDebugAcceptable,
    sets: a.sets.map((set) => ({
      set: set.set,
      version: set.version ?? null,
      applicable: set.applicable,
      matched: set.matched,
      value: { measurement: set.value.measurement, state: set.value.state, provenance: set.value.provenance },
      claims: set.claims.map((c) => ({
        claim: c.claim,
        op: c.op,
        expected: c.expected,
        actual: c.actual,
        passed: c.passed,
        ...(c.warning === true ? { warning: true } : {}),
      })),
    })),
  }
}

/** The claims appraisal and policy read, from verified evidence (never the report data). */
export function appraisalClaims(c: Claims): AppraisalClaims {
  return {
    evidenceType: c.evidenceType,
    platform: c.platform,
    measurement: c.measurement,
    debug: c.debug,
    hardwareBacked: c.hardwareBacked,
    measurements: c.measurements,
    tcb: c.tcb,
    ...(c.hostData === undefined ? {} : { hostData: c.hostData }),
    ...(c.instanceId === undefined ? {} : { instanceId: c.instanceId }),
    raw: c.raw,
    ...(c.teeTpmTie === undefined ? {} : { teeTpmTie: c.teeTpmTie }),
  }
}

export { claimsDocument, earDocument }
