import type { Appraisal } from '../appraisal/index.js'

/** One named rule's outcome; `reason` is client-safe (no reference values, no secrets). */
export interface RuleResult {
  readonly rule: string
  readonly passed: boolean
  readonly reason: string
}

export interface ReleaseDecision {
  readonly allowed: boolean
  readonly rules: readonly RuleResult[]
}

export interface ReleaseInput {
  readonly secretState: 'enabled' | 'disabled'
  /** The appraisal of the claims against the secret's own reference-value sets. */
  readonly appraisal: Appraisal
}

/**
 * The default release rule set (DESIGN.md, "Appraisal and policy"): the secret is enabled, the
 * EAR status is affirming, the measurement is an active value of the secret's reference values,
 * and debug is off (or allowed by every matching set). All rules are evaluated so that a denial
 * names every failed one.
 */
export function evaluateReleasePolicy(input: ReleaseInput): ReleaseDecision {
  const { appraisal } = input
  const rules: RuleResult[] = [
    {
      rule: 'secret-enabled',
      passed: input.secretState === 'enabled',
      reason: input.secretState === 'enabled' ? 'secret is enabled' : 'secret is disabled',
    },
    {
      rule: 'measurement-in-reference-values',
      passed: appraisal.matched.length > 0 && appraisal.revokedIn.length === 0,
      reason:
        appraisal.revokedIn.length > 0
          ? 'measurement has been revoked'
          : appraisal.matched.length > 0
            ? 'measurement is registered'
            : "measurement is not in the secret's reference values",
    },
    {
      rule: 'debug-disabled',
      passed: appraisal.isDebugAcceptable,
      reason: appraisal.isDebugAcceptable ? 'debug is off or allowed' : 'debug is enabled and not allowed',
    },
    {
      rule: 'ear-status-affirming',
      passed: appraisal.status === 'affirming',
      reason: `EAR status is ${appraisal.status}`,
    },
  ]
  return { allowed: rules.every((r) => r.passed), rules }
}
