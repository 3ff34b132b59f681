export { appraise } from './appraise.js'
export type { Appraisal, AppraisedClaims, ReferenceValueSet } from './appraise.js'
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
