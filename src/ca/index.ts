export { ATTESTATION_EXTENSION_OID, ATTESTATION_EXTENSION_VERSION, decodeAttestationExtension, encodeAttestationExtension } from './attestation-extension.js'
export type { AttestationResultExtension } from './attestation-extension.js'
export {
  CA_KEY_TYPES,
  EXTENDED_KEY_USAGES,
  REASON_CODES,
  REVOCATION_REASONS,
  caSigner,
  certificatePem,
  checkCaCertificate,
  createCrl,
  createLeafCertificate,
  createRootCertificate,
  generateCaKey,
  keyIdentifier,
  newSerial,
  normalizeSerial,
} from './certificate.js'
export type { CaKeyType, CaSigner, CrlEntry, ExtendedKeyUsageName, LeafInput, RevocationReason } from './certificate.js'
export { MAX_CSR_BYTES, csrDerFromText, factsOfCertificate, parseCsr } from './csr.js'
export type { ParsedCsr, RequestFacts } from './csr.js'
export { parseGoDurationSeconds } from './go-duration.js'
export { SUBJECT_ATTRIBUTE_NAMES, isDnsName, nameViolations, subjectAttributesOf, validateNameRules } from './names.js'
export type { NameRules, RequestedNames, SubjectAttribute } from './names.js'
export { MAX_OCSP_QUERIES, MAX_OCSP_REQUEST_BYTES, createOcspError, createOcspResponse, isIssuedBy, issuerIdentityOf, parseOcspRequest } from './ocsp.js'
export type { IssuerIdentity, OcspAnswer, OcspCertStatus, OcspQuery, ParsedOcspRequest } from './ocsp.js'
export { storedZip } from './zip.js'
