export { DEFAULT_POLICY, DEFAULT_RULES, claimsDocument, decideRelease, decideVerification, earDocument, evaluateReleasePolicy } from './release.js'
export type { DecideInput, ReleaseDecision, ReleaseInput, ReleaseRequest, RuleResult } from './release.js'
export { MAX_RULES, MAX_RULE_LENGTH, RULE_NAME, celToJson, compilePolicy, evaluatePolicy, policyBindings, toCelInput } from './engine.js'
export type { CelBindings, CompiledPolicy, CompiledRule, PolicyInput, PolicyRuleSource, RuleOutcome } from './engine.js'
