export { verifierFor, EVIDENCE_TYPES } from './registry.js'
export type { RegistryOptions } from './registry.js'
export type { Claims, CollateralLookup, EvidenceVerifier, JsonValue, VerifyContext } from './types.js'
export { NO_COLLATERAL } from './types.js'
