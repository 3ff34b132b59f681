/** Intel DCAP quote structures (shared with the Azure TDX verifier). */
export { parseQuote, parseQeReport, qeVendorIdHex } from './parse.js'
export type { TdxQuote, TdReportBody, QeReport } from './parse.js'
export { decodePckExtensions, readPckExtensions, SGX_EXTENSIONS_OID, SGX_TYPES } from './pck-extensions.js'
export type { PckExtensions, SgxType } from './pck-extensions.js'
export { attestationPublicKey, verifyQuoteSignature, verifyQeReportSignature, checkQeReportData } from './signatures.js'
export { decodePemCertificateList, encodePemCertificate } from './pem.js'
export {
  HEADER,
  HEADER_SIZE,
  TD_REPORT,
  TD_REPORT10_SIZE,
  TD_REPORT15_SIZE,
  BODY_TYPE,
  V5_BODY_DESCRIPTOR_SIZE,
  SIGNATURE_DATA,
  CERT_DATA_TYPE,
  CERT_DATA_HEADER_SIZE,
  QE_REPORT,
  QE_REPORT_SIZE,
  QE_REPORT_RESERVED,
  QE_REPORT_SIGNATURE_SIZE,
  SUPPORTED_QUOTE_VERSIONS,
  ATTESTATION_KEY_TYPE_ECDSA_P256,
  TEE_TYPE_TDX,
  INTEL_QE_VENDOR_ID,
  MAX_QUOTE_SIZE,
} from './layout.js'
