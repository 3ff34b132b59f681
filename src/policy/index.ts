export { evaluateReleasePolicy } from './release.js'
export type { ReleaseDecision, ReleaseInput, RuleResult } from './release.js'
