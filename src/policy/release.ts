import type { Appraisal, AppraisalClaims } from '../appraisal/index.js'
import type { JsonValue } from '../evidence/types.js'
import { compilePolicy, evaluatePolicy, policyBindings, type CelBindings, type CompiledPolicy, type RuleOutcome } from './engine.js'

/** One named rule's outcome; `reason` is client-safe (no reference values, no secrets). */
export type RuleResult = RuleOutcome

export interface ReleaseDecision {
  readonly allowed: boolean
  readonly rules: readonly RuleResult[]
}

/**
 * The default rule set (docs/architecture.md, "Appraisal and policy"), in CEL like any policy: a matching,
 * unrevoked reference value of the secret's sets, debug off (or allowed by every matching set),
 * EAR status affirming. It applies to every secret that names no policy.
 */
export const DEFAULT_RULES = [
  {
    name: 'measurement-in-reference-values',
    expr: 'size(ear.matched) > 0 && size(ear.revoked) == 0',
    description: "an active, unrevoked value of one of the secret's reference-value sets matches",
  },
  { name: 'debug-disabled', expr: 'ear.debugAcceptable', description: 'debug is off, or allowed by every matching set' },
  { name: 'ear-status-affirming', expr: 'ear.status == "affirming"', description: 'the EAR status is affirming' },
] as const

export const DEFAULT_POLICY: CompiledPolicy = compilePolicy(DEFAULT_RULES)

/** The request facts rules may read (`request.*`). */
export interface ReleaseRequest {
  readonly evidenceType: string
  readonly clientIp: string
  readonly time: Date
  readonly secret: string
  readonly via: 'attest' | 'token' | 'explain' | 'verify'
}

/** `claims` as rules see it: the normalized claims, JSON (never the report data). */
export function claimsDocument(c: AppraisalClaims): { readonly [k: string]: JsonValue } {
  return {
    evidenceType: c.evidenceType ?? '',
    platform: c.platform ?? '',
    hardwareBacked: c.hardwareBacked,
    measurement: c.measurement.toLowerCase(),
    measurements: { ...(c.measurements ?? {}) },
    debug: c.debug,
    tcb: { ...(c.tcb ?? {}) },
    ...(c.hostData === undefined ? {} : { hostData: c.hostData }),
    ...(c.instanceId === undefined ? {} : { instanceId: c.instanceId }),
    raw: { ...(c.raw ?? {}) },
    ...(c.teeTpmTie === undefined ? {} : { teeTpmTie: c.teeTpmTie }),
  }
}

/** `ear` as rules see it: the appraisal against the secret's own reference-value sets. */
export function earDocument(a: Appraisal, referenceValues: readonly string[]): { readonly [k: string]: JsonValue } {
  const appraisal: { [set: string]: JsonValue } = {}
  for (const s of a.sets) {
    const claims: { [claim: string]: JsonValue } = {}
    for (const c of s.claims) claims[c.claim] = c.passed
    Object.defineProperty(appraisal, s.set, {
      value: { matched: s.matched, applicable: s.applicable, value: s.value.state, claims },
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return {
    status: a.status,
    trustVector: { ...a.trustVector },
    matched: [...a.matched],
    revoked: [...a.revokedIn],
    debugAcceptable: a.isDebugAcceptable,
    referenceValues: [...referenceValues],
    provenance: a.matchedValues.map((m) => ({ set: m.set, ...(m.provenance ?? { source: 'unknown' }) })),
    appraisal,
  }
}

export interface DecideInput {
  readonly secretState: 'enabled' | 'disabled'
  /** The secret's policy, compiled; `undefined` for the default rule set. */
  readonly policy?: CompiledPolicy | undefined
  readonly claims: AppraisalClaims
  /** The appraisal against the secret's own reference-value sets. */
  readonly appraisal: Appraisal
  readonly referenceValues: readonly string[]
  readonly request: ReleaseRequest
  readonly explain?: boolean
}

/**
 * Decides one secret's release: `secret-enabled` first (it is not a policy rule: a disabled
 * secret is never released, whatever its policy says), then every rule of the policy. All rules
 * are evaluated so that a denial names every failed one.
 */
export function decideRelease(input: DecideInput, bindings?: CelBindings): ReleaseDecision {
  const enabled: RuleResult = {
    rule: 'secret-enabled',
    passed: input.secretState === 'enabled',
    reason: input.secretState === 'enabled' ? 'secret is enabled' : 'secret is disabled',
  }
  const b =
    bindings ??
    policyBindings({
      claims: claimsDocument(input.claims),
      ear: earDocument(input.appraisal, input.referenceValues),
      request: { evidenceType: input.request.evidenceType, clientIp: input.request.clientIp, secret: input.request.secret, via: input.request.via },
      time: input.request.time,
    })
  const rules = [enabled, ...evaluatePolicy(input.policy ?? DEFAULT_POLICY, b, { explain: input.explain === true })]
  return { allowed: rules.every((r) => r.passed), rules }
}

/**
 * The verdict of `POST /v1/verify`: the default rule set (no secret, so no `secret-enabled`)
 * against the appraisal of the reference values holding the measurement.
 */
export function decideVerification(input: Pick<DecideInput, 'claims' | 'appraisal' | 'request'>): ReleaseDecision {
  const b = policyBindings({
    claims: claimsDocument(input.claims),
    ear: earDocument(input.appraisal, input.appraisal.matched),
    request: { evidenceType: input.request.evidenceType, clientIp: input.request.clientIp, secret: '', via: input.request.via },
    time: input.request.time,
  })
  const rules = evaluatePolicy(DEFAULT_POLICY, b)
  return { allowed: rules.every((r) => r.passed), rules }
}

export interface ReleaseInput {
  readonly secretState: 'enabled' | 'disabled'
  /** The appraisal of the claims against the secret's own reference-value sets. */
  readonly appraisal: Appraisal
}

/**
 * The default rule set alone, from an appraisal (no claims needed: the default rules read
 * `ear` only). Kept for callers that have no policy; {@link decideRelease} is the general form.
 */
export function evaluateReleasePolicy(input: ReleaseInput): ReleaseDecision {
  return decideRelease({
    secretState: input.secretState,
    claims: { measurement: '', debug: false, hardwareBacked: false },
    appraisal: input.appraisal,
    referenceValues: [],
    request: { evidenceType: '', clientIp: '', time: new Date(0), secret: '', via: 'attest' },
  })
}
