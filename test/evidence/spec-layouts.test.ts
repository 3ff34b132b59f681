/**
 * The layout tables in src/ (which the parsers and the test generators both read) checked against
 * offsets written out here, literally, so a generated report or quote no longer only proves that
 * the code agrees with itself. The tables name the spec table each structure comes from; the
 * literal values were transcribed from independent implementations of those tables, not from
 * our code: go-sev-guest `abi/abi.go` (report offsets; commit af1c107a, 2025-11), virtee/sev
 * `src/firmware/host/types/snp.rs` (`from_turin_bytes`: the Turin TCB bytes; commit 9cf2adbf,
 * 2026-04), the fmcSPL OID as AMD pub. 57230 Table 11 lists it (quoted in several verifiers),
 * go-tdx-guest `abi/abi.go` (quote header, TD quote body v4/v5, QE report; commit 91f9a52f,
 * 2026-03).
 */
import { describe, expect, it } from 'vitest'
import { AMD_OID } from '../../src/evidence/snp/vcek-extensions.js'
import { decodeTcb, encodeTcb } from '../../src/evidence/snp/tcb.js'
import {
  POLICY_BITS,
  REPORT,
  REPORT_RESERVED,
  REPORT_SIZE,
  SIGNATURE,
  SIGNED_SIZE,
  TCB_LAYOUT,
} from '../../src/evidence/snp/report-layout.js'
import { HEADER, HEADER_SIZE, QE_REPORT, QE_REPORT_SIZE, TD_REPORT, TD_REPORT10_SIZE, TD_REPORT15_SIZE } from '../../src/evidence/tdx/quote/layout.js'
import { encodeReport, reportFields } from '../generators/snp.js'

type Row = readonly [name: string, offset: number, size: number]
const layoutRows = (layout: Record<string, { at: number; size: number }>): Row[] => Object.entries(layout).map(([k, v]) => [k, v.at, v.size])

/**
 * AMD "SEV Secure Nested Paging Firmware ABI Specification", pub. 56860, rev. 1.58 (May 2025),
 * Table 23 "ATTESTATION_REPORT Structure": byte offset (hex, as printed) and size of each field.
 * LAUNCH_MIT_VECTOR and CURRENT_MIT_VECTOR are the report version 5 additions (rev. 1.58).
 */
const SNP_ATTESTATION_REPORT: readonly Row[] = [
  ['version', 0x00, 4],
  ['guestSvn', 0x04, 4],
  ['policy', 0x08, 8],
  ['familyId', 0x10, 16],
  ['imageId', 0x20, 16],
  ['vmpl', 0x30, 4],
  ['signatureAlgo', 0x34, 4],
  ['currentTcb', 0x38, 8],
  ['platformInfo', 0x40, 8],
  ['signerInfo', 0x48, 4], // AUTHOR_KEY_EN bit 0, MASK_CHIP_KEY bit 1, SIGNING_KEY bits 4:2
  ['reportData', 0x50, 64],
  ['measurement', 0x90, 48],
  ['hostData', 0xc0, 32],
  ['idKeyDigest', 0xe0, 48],
  ['authorKeyDigest', 0x110, 48],
  ['reportId', 0x140, 32],
  ['reportIdMa', 0x160, 32],
  ['reportedTcb', 0x180, 8],
  ['cpuidFamId', 0x188, 1],
  ['cpuidModId', 0x189, 1],
  ['cpuidStep', 0x18a, 1],
  ['chipId', 0x1a0, 64],
  ['committedTcb', 0x1e0, 8],
  ['currentBuild', 0x1e8, 1],
  ['currentMinor', 0x1e9, 1],
  ['currentMajor', 0x1ea, 1],
  ['committedBuild', 0x1ec, 1],
  ['committedMinor', 0x1ed, 1],
  ['committedMajor', 0x1ee, 1],
  ['launchTcb', 0x1f0, 8],
  ['launchMitVector', 0x1f8, 8],
  ['currentMitVector', 0x200, 8],
  ['signature', 0x2a0, 0x200],
]

/**
 * TCB_VERSION byte positions (little-endian u64), ABI 56860 rev. 1.58 "TCB_VERSION Structure":
 * families 19h (Milan, Genoa): BOOT_LOADER 7:0, TEE 15:8, reserved 47:16, SNP 55:48, MICROCODE
 * 63:56; family 1Ah (Turin): FMC 7:0, BOOT_LOADER 15:8, TEE 23:16, SNP 31:24, reserved 55:32,
 * MICROCODE 63:56. virtee/sev `from_legacy_bytes` / `from_turin_bytes` read the same bytes.
 */
const TCB_BYTES = {
  milanGenoa: { bootloader: 0, tee: 1, snp: 6, microcode: 7 },
  turin: { fmc: 0, bootloader: 1, tee: 2, snp: 3, microcode: 7 },
}

/**
 * VCEK/VLEK extension OIDs, AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS
 * Interface Specification", pub. 57230, Table 10 (families 19h) and Table 11 "VCEK Certificate
 * Extensions for Family 1Ah (Turin)", which adds fmcSPL 1.3.6.1.4.1.3704.1.3.9.
 */
const VCEK_OIDS = {
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSpl: '1.3.6.1.4.1.3704.1.3.1',
  teeSpl: '1.3.6.1.4.1.3704.1.3.2',
  snpSpl: '1.3.6.1.4.1.3704.1.3.3',
  ucodeSpl: '1.3.6.1.4.1.3704.1.3.8',
  fmcSpl: '1.3.6.1.4.1.3704.1.3.9',
  hwId: '1.3.6.1.4.1.3704.1.4',
  cspId: '1.3.6.1.4.1.3704.1.5',
}

/** GUEST_POLICY bits, ABI 56860 rev. 1.58, Table 9 "Guest Policy Structure". */
const GUEST_POLICY_BITS = { smt: 16, reserved17MustBeOne: 17, migrateMa: 18, debug: 19, singleSocket: 20, cxlAllow: 21, memAes256Xts: 22, raplDis: 23, ciphertextHiding: 24, pageSwapDisable: 25 }

/**
 * Intel "Intel TDX DCAP Quote Generation Library and Quote Verification Library" API, quote
 * format appendix: "Quote Header" (48 bytes), "TD Quote Body" (584 bytes; TDX 1.5 "TD Quote Body
 * v5", 648 bytes, quote version 5 body type 3); decimal offsets, transcribed from go-tdx-guest's
 * abi.go constants (headerSize 0x30, tdQuoteBodySize 0x248, tdQuoteBodySizeV5TDX15 648; its
 * pceSvn/qeSvn at 8..12 are the 4 reserved header bytes of a TDX quote).
 */
const TDX_HEADER: readonly Row[] = [
  ['version', 0, 2],
  ['attestationKeyType', 2, 2],
  ['teeType', 4, 4],
  ['reserved', 8, 4],
  ['qeVendorId', 12, 16],
  ['userData', 28, 20],
]
const TDX_BODY: readonly Row[] = [
  ['teeTcbSvn', 0, 16],
  ['mrSeam', 16, 48],
  ['mrSignerSeam', 64, 48],
  ['seamAttributes', 112, 8],
  ['tdAttributes', 120, 8],
  ['xfam', 128, 8],
  ['mrTd', 136, 48],
  ['mrConfigId', 184, 48],
  ['mrOwner', 232, 48],
  ['mrOwnerConfig', 280, 48],
  ['rtmr0', 328, 48],
  ['rtmr1', 376, 48],
  ['rtmr2', 424, 48],
  ['rtmr3', 472, 48],
  ['reportData', 520, 64],
  ['teeTcbSvn2', 584, 16], // TDX 1.5 body (v5 quote, body type 3)
  ['mrServiceTd', 600, 48],
]
/** SGX REPORT body of the QE (Intel SGX SDK `sgx_report_body_t`; the quote's "QE Report"). */
const QE_REPORT_BODY: readonly Row[] = [
  ['cpuSvn', 0, 16],
  ['miscSelect', 16, 4],
  ['isvExtProdId', 32, 16],
  ['attributes', 48, 16],
  ['mrEnclave', 64, 32],
  ['mrSigner', 128, 32],
  ['configId', 192, 64],
  ['isvProdId', 256, 2],
  ['isvSvn', 258, 2],
  ['configSvn', 260, 2],
  ['isvFamilyId', 304, 16],
  ['reportData', 320, 64],
]

describe('SEV-SNP layouts against AMD pub. 56860 rev. 1.58 and pub. 57230', () => {
  it('ATTESTATION_REPORT: size 0x4A0, signed range 0x000-0x29F, every field offset and size (Table 23)', () => {
    expect(REPORT_SIZE).toBe(0x4a0)
    expect(SIGNED_SIZE).toBe(0x2a0)
    expect(layoutRows(REPORT)).toEqual(SNP_ATTESTATION_REPORT)
    // ECDSA P-384 signature: R at 0x00 and S at 0x48 of SIGNATURE, 72 bytes each ("ECDSA Signature Format").
    expect(layoutRows(SIGNATURE)).toEqual([['r', 0x00, 0x48], ['s', 0x48, 0x48]])
  })

  it('reserved ranges per version: v5 uses 0x1F8-0x207 for the mitigation vectors, v2/v3 keep them reserved', () => {
    expect(REPORT_RESERVED[5]).toContainEqual([0x208, 0x2a0])
    expect(REPORT_RESERVED[3]).toContainEqual([0x1f8, 0x2a0])
    expect(REPORT_RESERVED[2]).toContainEqual([0x188, 0x1a0]) // no CPUID in v2
  })

  it('the generator writes v5 mitigation vectors and the version at the literal offsets', () => {
    const bytes = encodeReport(reportFields('Milan', { version: 5, launchMitVector: 0x0102030405060708n, currentMitVector: 0x1112131415161718n }))
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    expect(view.getUint32(0x00, true)).toBe(5)
    expect(view.getBigUint64(0x1f8, true)).toBe(0x0102030405060708n)
    expect(view.getBigUint64(0x200, true)).toBe(0x1112131415161718n)
  })

  it('TCB_VERSION bytes per family, Turin with FMC in byte 0; the VCEK OIDs (57230 Tables 10, 11)', () => {
    expect(TCB_LAYOUT).toEqual(TCB_BYTES)
    // Turin 0xMM000000SSTTBBFF little-endian: FMC 0x01, BL 0x02, TEE 0x03, SNP 0x04, microcode 0x05.
    const turin = 0x05_00_00_00_04_03_02_01n
    expect(decodeTcb(turin, 'Turin')).toEqual({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 })
    expect(encodeTcb({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 }, 'Turin')).toBe(turin)
    // Milan: BL byte 0, TEE byte 1, SNP byte 6, microcode byte 7.
    const milan = 0x05_04_00_00_00_00_03_02n
    expect(decodeTcb(milan, 'Milan')).toEqual({ bootloader: 2, tee: 3, snp: 4, microcode: 5 })
    expect(AMD_OID).toMatchObject(VCEK_OIDS)
  })

  it('GUEST_POLICY bits (Table 9)', () => {
    expect(POLICY_BITS).toEqual(GUEST_POLICY_BITS)
  })
})

describe('TDX quote layouts against Intel DCAP quote format (cross-checked with go-tdx-guest)', () => {
  it('header, TD report bodies (TDX 1.0 and 1.5) and the QE report', () => {
    expect(HEADER_SIZE).toBe(0x30)
    expect(layoutRows(HEADER)).toEqual(TDX_HEADER)
    expect(TD_REPORT10_SIZE).toBe(0x248)
    expect(TD_REPORT15_SIZE).toBe(648)
    expect(layoutRows(TD_REPORT)).toEqual(TDX_BODY)
    expect(QE_REPORT_SIZE).toBe(0x180)
    expect(layoutRows(QE_REPORT)).toEqual(QE_REPORT_BODY)
  })
})
