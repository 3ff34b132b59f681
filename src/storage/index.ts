export { connectDatabase, ensurePgliteTemplate, migrateDatabase, openDatabase, redactDatabaseUrl } from './db.js'
export { defaultTemplateRoot, migrationsFolder } from './pglite-template.js'
export type { Database, DatabaseEngine, Db, Executor, OpenDatabaseOptions, Transaction } from './db.js'
export { ADMIN_ROLES, SECRET_KINDS, SECRET_STATES } from './schema.js'
export type { AdminRole, SecretKind, SecretState } from './schema.js'
export { isUnavailable, isUniqueViolation, toStorageError } from './storage-error.js'
export { executeRows } from './raw-rows.js'
export type { RawRow } from './raw-rows.js'
export { consumeNonce, consumeNonceReadingGeneration, deleteExpiredNonces, vacuumChurnedTables } from './nonces.js'
export {
  countActiveAdminTokens,
  findActiveAdminTokenByHash,
  findAdminTokenByHash,
  getAdminToken,
  insertAdminToken,
  listAdminTokens,
  revokeAdminToken,
} from './admin-tokens.js'
export type { ActiveAdminToken, AdminTokenInfo, NewAdminToken } from './admin-tokens.js'
export {
  createReferenceValueSet,
  deleteReferenceValueSet,
  findReferenceValueSetsByMeasurement,
  getReferenceValueSet,
  getReferenceValueSets,
  getReferenceValueSetVersion,
  listReferenceValueSets,
  listReferenceValueSetVersions,
  replaceReferenceValueSet,
  revokeMeasurement,
  snapshotOf,
} from './reference-values.js'
export type {
  ReferenceMeasurement,
  ReferenceValueInput,
  ReferenceValueSet,
  ReferenceValueSetInput,
  ReferenceValueSetVersion,
} from './reference-values.js'
export type { StoredProvenance } from './schema.js'
export {
  addPolicyVersion,
  createPolicy,
  deletePolicy,
  getCurrentPolicies,
  getCurrentPolicy,
  getPolicyVersion,
  listPolicies,
  listPolicyVersions,
  policyExists,
} from './policies.js'
export type { NewPolicyVersion, PolicyMeta, PolicyVersion, StoredRule } from './policies.js'
export {
  deleteBundleSigner,
  getBundleSigner,
  insertBundleSigner,
  listBundleImports,
  listBundleSigners,
  lockBundleImport,
  recordBundleImport,
} from './bundle-signers.js'
export type { BundleImportRow, BundleSignerRow } from './bundle-signers.js'
export { SIGNER_FORMATS } from './schema.js'
export type { SignerFormatName } from './schema.js'
export {
  addSecretVersion,
  createSecret,
  deleteSecret,
  getCurrentSecretVersion,
  getCurrentSecretVersions,
  getSecretMeta,
  listSecretMeta,
  listSecretsWithPolicy,
  setSecretPolicy,
  setSecretReferenceValues,
  setSecretState,
} from './secrets.js'
export type { CurrentSecretVersion, NewSecret, NewSecretVersion, SecretMeta } from './secrets.js'
export {
  MAX_AUDIT_PAGE,
  appendAuditEntries,
  appendAuditEntriesAtHead,
  appendAuditEntry,
  getAuditEntry,
  getAuditKeyRow,
  insertAuditCheckpoint,
  insertAuditKeyRow,
  latestAuditCheckpoint,
  listAuditCheckpoints,
  listAuditEntries,
  listAuditKeyRows,
  readAuditHead,
  rekeyAuditChain,
  updateAuditKeyEnvelope,
  verifyAuditChain,
} from './audit-log.js'
export type { AuditChainFailure, AuditChainVerification, AuditEntry, AuditHeadState, AuditRekeyResult, NewAuditEntry } from './audit-log.js'
export type { AuditCheckpointRow, AuditHeadRow, AuditKeyRow } from './schema.js'
export { deleteCollateral, getCollateral, listCollateral, putCollateral } from './collateral.js'
export type { CollateralInfo, NewCollateral } from './collateral.js'
export { SEALING_KEY_CURVES, SEALING_KEY_VERSION_STATES } from './schema.js'
export type { SealingKeyCurve, SealingKeyVersionState } from './schema.js'
export {
  addSealingKeyVersion,
  allowDisk,
  createSealingKey,
  deleteSealingKey,
  denyDisk,
  findDeniedDisk,
  findSealingKeyVersion,
  getCurrentSealingKeyVersion,
  getSealingKey,
  listDeniedDisks,
  listSealingKeys,
  retireSealingKeyVersion,
  updateSealingKey,
} from './sealing-keys.js'
export type {
  DeniedDisk,
  NewSealingKey,
  NewSealingKeyVersion,
  SealingKeyMeta,
  SealingKeyVersionInfo,
  SealingKeyVersionSecret,
  SealingPublicJwk,
} from './sealing-keys.js'
export { deleteTpmAk, deleteTpmCa, getTpmAk, insertTpmAk, insertTpmCa, listTpmAks, listTpmCas } from './tpm.js'
export type { TpmAk, TpmCa } from './tpm.js'
export { TPM_AK_SOURCES, TPM_CA_PURPOSES } from './schema.js'
export type { TpmAkSource, TpmCaPurpose as TpmCaPurposeName } from './schema.js'
export { CA_SOURCES } from './schema.js'
export type { CaSource } from './schema.js'
export {
  addCaVersion,
  certificatesIssuedOn,
  createCa,
  createProfile,
  deleteProfile,
  getCa,
  getCachedCrl,
  getCaVersionSecret,
  getIssuedCertificate,
  getIssuedCertificates,
  getProfile,
  insertIssuedCertificate,
  invalidateCrl,
  lastNotAfterOf,
  listCas,
  listIssuedCertificates,
  listProfiles,
  nextCrlNumber,
  replaceProfile,
  revokeIssuedCertificate,
  revokedCertificatesOf,
  storeCrl,
} from './certificates.js'
export type {
  CaMeta,
  CaVersionInfo,
  CaVersionSecret,
  CertificateProfile,
  IssuedCertificate,
  NewCaVersion,
  NewCertificateProfile,
  NewIssuedCertificate,
} from './certificates.js'
export { countEnvelopesByKek, ENVELOPE_KINDS, replaceEnvelope, selectEnvelopesNotUnder } from './envelopes.js'
export type { EnvelopeCount, EnvelopeCursor, EnvelopeKind, StoredEnvelope } from './envelopes.js'
