export { createNonceService, NONCE_KEY_BYTES, NONCE_LENGTH, NONCE_VERSION } from './nonce.js'
export type { IssuedNonce, NonceService, NonceServiceOptions, VerifiedNonce } from './nonce.js'
export { BINDING_BYTES, BINDING_PREFIX, BINDING_TPM_BYTES, checkBinding, checkEvidenceBinding, computeBinding, computeKeylessBinding } from './binding.js'
export {
  createKeySet,
  CURRENT_SIGNING_KEY_FILE,
  generateSigner,
  loadOrCreateSigningKey,
  loadOrCreateSigningKeys,
  SIGNING_KEY_PREFIX,
  signerFromPem,
  TOKEN_ALGS,
} from './signing-keys.js'
export type { KeySet, TokenAlg, TokenSigner, VerificationKey } from './signing-keys.js'
export { EAR_DEVELOPER, EAR_PROFILE, earPayloadSchema, issueEar, MAX_EAR_TTL_SECONDS, verifyEar } from './ear.js'
export type { EarInput, EarPayload, EarVerifyOptions, IssuedEar, VerifiedEar } from './ear.js'
export {
  CONFIGURATION,
  EAR_STATUSES,
  EXECUTABLES,
  FILE_SYSTEM,
  HARDWARE,
  INSTANCE_IDENTITY,
  isTrustClaimValue,
  RUNTIME_OPAQUE,
  SOURCED_DATA,
  STORAGE_OPAQUE,
  TRUST_CLAIMS,
  TRUST_NONE,
  trustTier,
  worstStatus,
} from '../appraisal/trust-vector.js'
export type { EarStatus, TrustClaimName, TrustTier, TrustVector } from '../appraisal/trust-vector.js'
