/**
 * Intel DCAP quote structures, written once. Intel "TDX DCAP Quoting Library API" (rev. 1.x,
 * Appendix A "Quote Format", quote versions 4 and 5) and "SGX DCAP ECDSA Quote Library API"
 * (REPORT_BODY). Offsets and sizes are as the spec prints them, relative to the start of each
 * structure; the parser (`parse.ts`) and the test generator (`test/generators/tdx.ts`) both read
 * these tables, so no offset is written twice. All integers are little-endian.
 */
import type { Layout } from '../../reader.js'

/** Quote header, 48 bytes (Table "Quote Header"). */
export const HEADER_SIZE = 48
export const HEADER = {
  version: { at: 0, size: 2 },
  /** 2 = ECDSA-256-with-P-256 curve; 3 = ECDSA-384 (never issued). */
  attestationKeyType: { at: 2, size: 2 },
  /** 0x00000000 SGX, 0x00000081 TDX. */
  teeType: { at: 4, size: 4 },
  /** QE SVN / PCE SVN in v3; reserved (zero) in v4 and v5. */
  reserved: { at: 8, size: 4 },
  qeVendorId: { at: 12, size: 16 },
  userData: { at: 28, size: 20 },
} as const satisfies Layout

export const SUPPORTED_QUOTE_VERSIONS: readonly number[] = [4, 5]
export const ATTESTATION_KEY_TYPE_ECDSA_P256 = 2
export const TEE_TYPE_TDX = 0x81
/** Intel's QE vendor id (939a7233-f79c-4ca9-940a-0db3957f0607). Informational: trust comes from the PCK chain. */
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607'

/**
 * TD Quote body: TDX 1.0 TD report (584 bytes, Table "TD Quote Body") and the TDX 1.5 extension
 * (648 bytes: TEE_TCB_SVN2 and MRSERVICETD appended).
 */
export const TD_REPORT10_SIZE = 584
export const TD_REPORT15_SIZE = 648
export const TD_REPORT = {
  teeTcbSvn: { at: 0, size: 16 },
  mrSeam: { at: 16, size: 48 },
  mrSignerSeam: { at: 64, size: 48 },
  seamAttributes: { at: 112, size: 8 },
  tdAttributes: { at: 120, size: 8 },
  xfam: { at: 128, size: 8 },
  mrTd: { at: 136, size: 48 },
  mrConfigId: { at: 184, size: 48 },
  mrOwner: { at: 232, size: 48 },
  mrOwnerConfig: { at: 280, size: 48 },
  rtmr0: { at: 328, size: 48 },
  rtmr1: { at: 376, size: 48 },
  rtmr2: { at: 424, size: 48 },
  rtmr3: { at: 472, size: 48 },
  reportData: { at: 520, size: 64 },
  /** TDX 1.5 body only. */
  teeTcbSvn2: { at: 584, size: 16 },
  mrServiceTd: { at: 600, size: 48 },
} as const satisfies Layout

/** Quote v5: a body descriptor (type u16, size u32) sits between header and body. */
export const V5_BODY_DESCRIPTOR_SIZE = 6
/** Quote v5 body types: 1 SGX enclave report (not a TD), 2 TDX 1.0 TD report, 3 TDX 1.5 TD report. */
export const BODY_TYPE = { sgx: 1, tdReport10: 2, tdReport15: 3 } as const
export const BODY_SIZE_BY_TYPE: Readonly<Record<number, number>> = {
  [BODY_TYPE.tdReport10]: TD_REPORT10_SIZE,
  [BODY_TYPE.tdReport15]: TD_REPORT15_SIZE,
}

/**
 * ECDSA 256-bit quote signature data (Table "ECDSA 256-bit Quote Signature Data Structure -
 * Version 4"), after its u32 length: signature r‖s (big-endian 32 bytes each) over header‖body,
 * the raw attestation public key x‖y, then certification data.
 */
export const SIGNATURE_DATA = {
  quoteSignature: { at: 0, size: 64 },
  attestationKey: { at: 64, size: 64 },
} as const satisfies Layout
/** Certification data header: type u16, size u32, then `size` bytes. */
export const CERT_DATA_HEADER_SIZE = 6
/** Certification data types (Table "Certification Data Type"). */
export const CERT_DATA_TYPE = {
  pckCertChain: 5,
  qeReportCertificationData: 6,
} as const

/** SGX REPORT_BODY of the Quoting Enclave, 384 bytes (SGX DCAP "Enclave Report Body"). */
export const QE_REPORT_SIZE = 384
export const QE_REPORT = {
  cpuSvn: { at: 0, size: 16 },
  miscSelect: { at: 16, size: 4 },
  isvExtProdId: { at: 32, size: 16 },
  attributes: { at: 48, size: 16 },
  mrEnclave: { at: 64, size: 32 },
  mrSigner: { at: 128, size: 32 },
  configId: { at: 192, size: 64 },
  isvProdId: { at: 256, size: 2 },
  isvSvn: { at: 258, size: 2 },
  configSvn: { at: 260, size: 2 },
  isvFamilyId: { at: 304, size: 16 },
  reportData: { at: 320, size: 64 },
} as const satisfies Layout
/** Reserved, must-be-zero ranges [from, to) of the QE REPORT_BODY. */
export const QE_REPORT_RESERVED = [[20, 32], [96, 128], [160, 192], [262, 304]] as const
export const QE_REPORT_SIGNATURE_SIZE = 64

/** QE report certification data (type 6): QE report, its signature, QE auth data (u16 size), certification data. */
export const QE_AUTH_DATA_SIZE_BYTES = 2

/** Upper bound on a whole quote we accept (Intel quotes are ~5 KB; the PCK chain dominates). */
export const MAX_QUOTE_SIZE = 64 * 1024
