export { APPRAISAL_POLICY_ID, appraise, instanceIdentityClaim } from './appraise.js'
export type {
  Appraisal,
  AppraisedClaims,
  AppraiseOptions,
  MatchedValue,
  Provenance,
  ReferenceValue,
  ReferenceValueSet,
  SetAppraisal,
  ValueState,
} from './appraise.js'
export { CATALOGUED_EVIDENCE_TYPES, childOf, claimNames, claimSpec, isJsonArray, readClaim } from './claim-catalogue.js'
export type { AppraisalClaims, ClaimOperator, ClaimSpec, ClaimType } from './claim-catalogue.js'
export { evaluateExpectedClaim, expectedClaimJson, globMatcher, parseExpectedClaims } from './expected-claims.js'
export type { ClaimResult, ExpectedClaim, FileRule } from './expected-claims.js'
export {
  CONFIGURATION,
  EAR_STATUSES,
  EXECUTABLES,
  FILE_SYSTEM,
  HARDWARE,
  INSTANCE_IDENTITY,
  RUNTIME_OPAQUE,
  SOURCED_DATA,
  STORAGE_OPAQUE,
  TRUST_CLAIMS,
  TRUST_NONE,
  isTrustClaimValue,
  trustTier,
  worstStatus,
} from './trust-vector.js'
export type { EarStatus, TrustClaimName, TrustTier, TrustVector } from './trust-vector.js'
