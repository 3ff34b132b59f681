export { createVerifierRegistry, verifierFor, EVIDENCE_TYPES } from './registry.js'
export type { RegistryOptions, VerifierRegistry } from './registry.js'
export type { Claims, CollateralLookup, EvidenceFiles, EvidenceVerifier, JsonValue, VerifyContext } from './types.js'
export { NO_COLLATERAL } from './types.js'
