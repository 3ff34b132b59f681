export { GENESIS_HASH, canonicalJson, computeAuditHash } from './chain.js'
export type { AuditDetail, AuditHashInput, JsonValue } from './chain.js'
