export { appraise } from './appraise.js'
export type { Appraisal, AppraisedClaims, ReferenceValueSet } from './appraise.js'
export { AR4SI, TRUST_CLAIMS, statusOf, tierOf } from './trust-vector.js'
export type { EarStatus, TrustClaim, TrustVector } from './trust-vector.js'
