export {
  AUDIT_KEY_BYTES,
  GENESIS_HASH,
  KEYED_AUDIT_FORMAT,
  auditKeyFromBytes,
  canonicalJson,
  computeAuditHash,
  computeAuditMac,
} from './chain.js'
export type { AuditChainFormat, AuditDetail, AuditHashInput, AuditKey, JsonValue } from './chain.js'
