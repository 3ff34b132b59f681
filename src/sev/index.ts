export { BUILTIN as BUILTIN_SEV_ROOT_FILES, PINNED_SEV_ARK_SPKI_SHA256, SEV_PRODUCTS, builtinSevRoots, sevRoot } from './amd-roots.js'
export type { SevProduct, SevRoot } from './amd-roots.js'
export {
  ALGORITHM,
  KEY_USAGE,
  USAGE_INVALID,
  isCaSignedBy,
  isPlatformSignedBy,
  parseCaCertificate,
  parsePlatformCertificate,
  readCaCertificate,
  sha256Hex,
  spkiSha256,
} from './certificate.js'
export type { Algorithm, CaCertificate, CertificateSigner, KeyUsage, PlatformCertificate, SevPublicKey, SignatureSlot } from './certificate.js'
export { MAX_PLATFORM_CHAIN_BYTES, parsePlatformChain, verifyPlatformChain } from './chain.js'
export type { PlatformChain, VerifiedPlatformChain } from './chain.js'
export {
  KERNEL_HASHES_GUIDS,
  LAUNCH_DIGEST_BYTES,
  MNONCE_BYTES,
  computeMeasure,
  kernelHashesTable,
  launchDigest,
  matchLaunchMeasure,
  measureInput,
  parseLaunchMeasure,
} from './measurement.js'
export type { LaunchDigestInput, LaunchMeasure, SevPlatformInfo } from './measurement.js'
export { POLICY_FLAGS, parseGuestPolicy, policyBytes } from './policy.js'
export type { GuestPolicy } from './policy.js'
export {
  DISK_PASSPHRASE_GUID,
  MAX_SECRET_TABLE_BYTES,
  SECRET_TABLE_FORMATS,
  SECRET_TABLE_GUID,
  buildSecretTable,
  guidBytes,
  guidTable,
  packageLaunchSecret,
} from './secret.js'
export type { GuidTableOptions, LaunchSecretPacket, SecretTableFormat, TableEntry } from './secret.js'
export {
  SEV_KEY_BYTES,
  aes128Ctr,
  createLaunchSession,
  deriveSessionKeys,
  encodeGodhCertificate,
  hmacSha256,
  sessionBuffer,
  sevKdf,
} from './session.js'
export type { LaunchSession, SessionSecrets } from './session.js'
export {
  CA_CERT_PREAMBLE,
  CA_CERT_PREAMBLE_SIZE,
  ECC_PUBKEY,
  LAUNCH_MEASURE,
  LAUNCH_MEASURE_SIZE,
  PLATFORM_CERT,
  PLATFORM_CERT_SIGNED_SIZE,
  PLATFORM_CERT_SIZE,
  RSA_PUBKEY,
  SECRET_HEADER,
  SECRET_HEADER_SIZE,
  SESSION,
  SESSION_SIZE,
  SIGNATURE_SLOT,
} from './layout.js'
