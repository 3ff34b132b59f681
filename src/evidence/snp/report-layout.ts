/**
 * The SEV-SNP ATTESTATION_REPORT structure, written once. AMD "SEV Secure Nested Paging Firmware
 * ABI Specification", pub. 56860, rev. 1.58 (May 2025), Table 23 "ATTESTATION_REPORT Structure"
 * (report versions 2, 3 and 5; version 4 was never issued for guests). Offsets and sizes are as
 * the spec prints them; the parser (`parse.ts`) and the test generator (`test/generators/snp.ts`)
 * both read this table, so no offset is written twice.
 */
import type { Layout } from '../reader.js'

export const REPORT_SIZE = 0x4a0

/** SIGNATURE covers bytes 0x000-0x29F only (ABI spec, ATTESTATION_REPORT, field SIGNATURE). */
export const SIGNED_SIZE = 0x2a0

export const SUPPORTED_REPORT_VERSIONS: readonly number[] = [2, 3, 5]

export const REPORT = {
  version: { at: 0x000, size: 4 },
  guestSvn: { at: 0x004, size: 4 },
  policy: { at: 0x008, size: 8 },
  familyId: { at: 0x010, size: 16 },
  imageId: { at: 0x020, size: 16 },
  vmpl: { at: 0x030, size: 4 },
  signatureAlgo: { at: 0x034, size: 4 },
  currentTcb: { at: 0x038, size: 8 },
  platformInfo: { at: 0x040, size: 8 },
  /** bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY, bits 31:5 reserved. */
  signerInfo: { at: 0x048, size: 4 },
  reportData: { at: 0x050, size: 64 },
  measurement: { at: 0x090, size: 48 },
  hostData: { at: 0x0c0, size: 32 },
  idKeyDigest: { at: 0x0e0, size: 48 },
  authorKeyDigest: { at: 0x110, size: 48 },
  reportId: { at: 0x140, size: 32 },
  reportIdMa: { at: 0x160, size: 32 },
  reportedTcb: { at: 0x180, size: 8 },
  /** Version 3+: CPUID Fn0000_0001_EAX extended+base family, model, stepping. Reserved in v2. */
  cpuidFamId: { at: 0x188, size: 1 },
  cpuidModId: { at: 0x189, size: 1 },
  cpuidStep: { at: 0x18a, size: 1 },
  chipId: { at: 0x1a0, size: 64 },
  committedTcb: { at: 0x1e0, size: 8 },
  currentBuild: { at: 0x1e8, size: 1 },
  currentMinor: { at: 0x1e9, size: 1 },
  currentMajor: { at: 0x1ea, size: 1 },
  committedBuild: { at: 0x1ec, size: 1 },
  committedMinor: { at: 0x1ed, size: 1 },
  committedMajor: { at: 0x1ee, size: 1 },
  launchTcb: { at: 0x1f0, size: 8 },
  /** Version 5+: mitigation vectors (ABI 1.58). Reserved in v2 and v3. */
  launchMitVector: { at: 0x1f8, size: 8 },
  currentMitVector: { at: 0x200, size: 8 },
  signature: { at: 0x2a0, size: 0x200 },
} as const satisfies Layout

/** ECDSA P-384 with SHA-384 signature format (ABI spec, "ECDSA Signature Format"): R and S little-endian, zero-extended to 72 bytes. */
export const SIGNATURE = {
  r: { at: 0x000, size: 0x48 },
  s: { at: 0x048, size: 0x48 },
} as const satisfies Layout
/** The ECDSA signature uses 0x90 of SIGNATURE's 0x200 bytes; the rest is reserved. */
export const SIGNATURE_USED = 0x90
/** P-384 scalars are 48 bytes; bytes 48..71 of each 72-byte field must be zero. */
export const P384_SCALAR_SIZE = 48

/** SIGNATURE_ALGO values (ABI spec, "Signature Algorithm Encodings"). */
export const SIG_ALGO_ECDSA_P384_SHA384 = 1

/** Reserved, must-be-zero byte ranges [from, to) per report version. */
export const REPORT_RESERVED: Readonly<Record<number, readonly (readonly [number, number])[]>> = {
  2: [[0x04c, 0x050], [0x188, 0x1a0], [0x1eb, 0x1ec], [0x1ef, 0x1f0], [0x1f8, 0x2a0]],
  3: [[0x04c, 0x050], [0x18b, 0x1a0], [0x1eb, 0x1ec], [0x1ef, 0x1f0], [0x1f8, 0x2a0]],
  5: [[0x04c, 0x050], [0x18b, 0x1a0], [0x1eb, 0x1ec], [0x1ef, 0x1f0], [0x208, 0x2a0]],
}

/** GUEST_POLICY bits (ABI spec, Table 9 "Guest Policy Structure"). Bits 63:26 are reserved (MBZ), bit 17 must be 1. */
export const POLICY_BITS = {
  smt: 16,
  reserved17MustBeOne: 17,
  migrateMa: 18,
  debug: 19,
  singleSocket: 20,
  cxlAllow: 21,
  memAes256Xts: 22,
  raplDis: 23,
  ciphertextHiding: 24,
  pageSwapDisable: 25,
} as const
export const POLICY_RESERVED_MASK = ~((1n << 26n) - 1n) & 0xffff_ffff_ffff_ffffn

/** PLATFORM_INFO bits (ABI spec, Table 24). Unknown bits are kept in the raw value, not rejected. */
export const PLATFORM_INFO_BITS = {
  smtEn: 0,
  tsmeEn: 1,
  eccEn: 2,
  raplDis: 3,
  ciphertextHidingEn: 4,
  aliasCheckComplete: 5,
  tioEn: 7,
} as const

/** SIGNER_INFO (bytes 0x48-0x4B). */
export const SIGNER_INFO = {
  authorKeyEnBit: 0,
  maskChipKeyBit: 1,
  signingKeyShift: 2,
  signingKeyMask: 0x7,
  reservedMask: 0xffff_ffe0,
} as const

/** SIGNING_KEY encodings: 0 VCEK, 1 VLEK, 7 none; 2-6 reserved. */
export type SigningKey = 'vcek' | 'vlek' | 'none'
export const SIGNING_KEYS: Readonly<Record<number, SigningKey>> = { 0: 'vcek', 1: 'vlek', 7: 'none' }

/**
 * TCB_VERSION byte positions within the little-endian 64-bit value (ABI spec, Table 3 "TCB_VERSION
 * Structure"). Milan and Genoa: BOOT_LOADER, TEE, 4 reserved, SNP, MICROCODE. Turin (the "Turin
 * and later" layout of the same table) adds FMC and moves the others: FMC, BOOT_LOADER, TEE, SNP,
 * 3 reserved, MICROCODE.
 */
export const TCB_LAYOUT = {
  milanGenoa: { bootloader: 0, tee: 1, snp: 6, microcode: 7 },
  turin: { fmc: 0, bootloader: 1, tee: 2, snp: 3, microcode: 7 },
} as const
