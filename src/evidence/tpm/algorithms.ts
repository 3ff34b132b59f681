/**
 * TPM 2.0 constants this verifier understands (TCG "TPM 2.0 Library, Part 2: Structures",
 * rev. 1.59, §6 Constants and the TCG Algorithm Registry rev. 1.34). Everything not listed is
 * rejected, never defaulted.
 */
import { EvidenceError } from '../../errors.js'

/** TPM_GENERATED_VALUE: the magic every TPM-produced TPMS_ATTEST starts with (Part 2 §6.2). */
export const TPM_GENERATED_VALUE = 0xff544347

/** TPM_ST values of TPMS_ATTEST.type (Part 2 §6.9). */
export const TPM_ST = {
  attestCertify: 0x8017,
  attestQuote: 0x8018,
  attestSessionAudit: 0x8016,
  attestCommandAudit: 0x8015,
  attestTime: 0x8019,
  attestCreation: 0x801a,
  attestNv: 0x8014,
} as const

/** TPM_ALG_ID values used here (Algorithm Registry, table 3). */
export const TPM_ALG = {
  rsa: 0x0001,
  sha1: 0x0004,
  hmac: 0x0005,
  aes: 0x0006,
  keyedHash: 0x0008,
  sha256: 0x000b,
  sha384: 0x000c,
  sha512: 0x000d,
  null: 0x0010,
  sm3_256: 0x0012,
  rsassa: 0x0014,
  rsaes: 0x0015,
  rsapss: 0x0016,
  oaep: 0x0017,
  ecdsa: 0x0018,
  ecdh: 0x0019,
  ecdaa: 0x001a,
  sm2: 0x001b,
  ecschnorr: 0x001c,
  kdf1_sp800_56a: 0x0020,
  kdf1_sp800_108: 0x0022,
  ecc: 0x0023,
  symcipher: 0x0025,
  cfb: 0x0043,
} as const

/** TPM_ECC_CURVE values (Part 2 §6.4) with their node/OpenSSL curve names and field sizes. */
export const TPM_ECC_CURVES: ReadonlyMap<number, { readonly name: string; readonly nodeCurve: string; readonly size: number }> = new Map([
  [0x0003, { name: 'P-256', nodeCurve: 'prime256v1', size: 32 }],
  [0x0004, { name: 'P-384', nodeCurve: 'secp384r1', size: 48 }],
  [0x0005, { name: 'P-521', nodeCurve: 'secp521r1', size: 66 }],
])

export type TpmHashName = 'sha1' | 'sha256' | 'sha384' | 'sha512'

export interface TpmHash {
  readonly alg: number
  /** The name used on the wire (`pcrs.sha256`), by node:crypto, and in claims. */
  readonly name: TpmHashName
  readonly size: number
}

export const TPM_HASHES: readonly TpmHash[] = [
  { alg: TPM_ALG.sha1, name: 'sha1', size: 20 },
  { alg: TPM_ALG.sha256, name: 'sha256', size: 32 },
  { alg: TPM_ALG.sha384, name: 'sha384', size: 48 },
  { alg: TPM_ALG.sha512, name: 'sha512', size: 64 },
]

const HASH_BY_ALG = new Map(TPM_HASHES.map((h) => [h.alg, h]))
const HASH_BY_NAME = new Map(TPM_HASHES.map((h) => [h.name, h]))

/** The hash of a TPM_ALG_ID. @throws `evidence-unsupported` for any other algorithm (SM3, SHA-3, NULL, …) */
export function hashByAlg(alg: number, what: string): TpmHash {
  const h = HASH_BY_ALG.get(alg)
  if (h === undefined) throw new EvidenceError('evidence-unsupported', `${what}: hash algorithm 0x${alg.toString(16).padStart(4, '0')} unsupported`)
  return h
}

export function hashByName(name: string): TpmHash | undefined {
  return HASH_BY_NAME.get(name as TpmHashName)
}

/** Upper bound of any digest in these structures (TPMU_HA, SHA-512). */
export const MAX_DIGEST_SIZE = 64

/** PCRs of a PC Client TPM (IMPLEMENTATION_PCR); PCR_SELECT_MAX bytes cover them. */
export const IMPLEMENTATION_PCR = 24
export const PCR_SELECT_MAX = 4
/** HASH_COUNT bound for TPML_PCR_SELECTION.count / TPML_DIGEST_VALUES.count (a TPM has few banks). */
export const MAX_BANKS = 16

/** TPMA_OBJECT bits (Part 2 §8.3). */
export const TPMA_OBJECT = {
  fixedTpm: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDa: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const

/** Bits Part 2 rev. 1.59 marks reserved in TPMA_OBJECT: 0, 3, 8-9, 12-15, 20-31 (bit 19 is x509sign). */
export const TPMA_OBJECT_RESERVED = 0xfff0f309
