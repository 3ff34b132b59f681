/**
 * The HCL report of an Azure confidential VM (the paravisor's "attestation report" read from the
 * vTPM NV index 0x01400001), as Azure's guest tools (azure/confidential-computing-cvm-guest-attestation,
 * `az-cvm-vtpm`) and trustee's az-snp-vtpm / az-tdx-vtpm verifiers lay it out; little-endian:
 *
 * | offset | size | field                                                        |
 * |--------|------|--------------------------------------------------------------|
 * | 0x000  | 4    | signature "HCLA"                                             |
 * | 0x004  | 4    | version (1 or 2)                                             |
 * | 0x008  | 4    | report_size: 0x20 + 0x4A0 + data_size (the rest is padding)  |
 * | 0x00C  | 4    | request_type (2)                                             |
 * | 0x010  | 4    | status (0)                                                   |
 * | 0x014  | 12   | reserved, zero                                               |
 * | 0x020  | 0x4A0| hardware report: SEV-SNP ATTESTATION_REPORT, or TDREPORT (1024 B) zero-padded |
 * | 0x4C0  | 4    | data_size: 20 + variable_data_size                           |
 * | 0x4C4  | 4    | runtime data version (1)                                     |
 * | 0x4C8  | 4    | report_type: 2 SNP, 4 TDX                                    |
 * | 0x4CC  | 4    | report_data_hash_type: 1 SHA-256, 2 SHA-384, 3 SHA-512       |
 * | 0x4D0  | 4    | variable_data_size                                           |
 * | 0x4D4  | var  | variable data: UTF-8 JSON runtime claims (`keys` with HCLAkPub, `vm-configuration`, `user-data`) |
 *
 * The hardware report's REPORT_DATA begins with H(variable data) (rest zero): that hash is what
 * binds the vTPM AK in the JSON to the hardware-signed report.
 */
import { createHash } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { ByteReader, equalBytes, isZero } from '../reader.js'

export const HCL_HEADER_SIZE = 0x20
export const HCL_HW_REPORT_SIZE = 0x4a0
export const HCL_RUNTIME_HEADER_SIZE = 20
/** Largest HCL report accepted (Azure's NV index is 2600 bytes; leave room for growth). */
export const MAX_HCL_REPORT_SIZE = 16 * 1024
const TD_REPORT_SIZE = 1024

export type HclReportType = 'snp' | 'tdx'
const REPORT_TYPES: Readonly<Record<number, HclReportType>> = { 2: 'snp', 4: 'tdx' }
const HASH_TYPES: Readonly<Record<number, 'sha256' | 'sha384' | 'sha512'>> = { 1: 'sha256', 2: 'sha384', 3: 'sha512' }

export interface HclReport {
  readonly version: number
  readonly requestType: number
  readonly reportType: HclReportType
  /** SNP: the 1184-byte report. TDX: the 1024-byte TDREPORT. */
  readonly hardwareReport: Uint8Array
  readonly hashType: 'sha256' | 'sha384' | 'sha512'
  /** The variable data, exactly as hashed into the hardware report's REPORT_DATA. */
  readonly runtimeData: Uint8Array
}

/**
 * Parses an HCL report: sizes consistent, reserved and padding bytes zero.
 * @throws `evidence-malformed`; `evidence-unsupported` (report or hash type unknown)
 */
export function parseHclReport(bytes: Uint8Array): HclReport {
  if (bytes.byteLength > MAX_HCL_REPORT_SIZE) throw new EvidenceError('evidence-malformed', 'hclReport: too large')
  const r = new ByteReader(bytes)
  const signature = r.bytes(4, 'hclReport.signature')
  if (Buffer.from(signature).toString('latin1') !== 'HCLA') throw new EvidenceError('evidence-malformed', 'hclReport: signature is not HCLA')
  const version = r.u32le('hclReport.version')
  if (version !== 1 && version !== 2) throw new EvidenceError('evidence-unsupported', `hclReport: version ${version}`)
  const reportSize = r.u32le('hclReport.reportSize')
  const requestType = r.u32le('hclReport.requestType')
  const status = r.u32le('hclReport.status')
  if (status !== 0) throw new EvidenceError('evidence-malformed', `hclReport: status ${status}`)
  if (!isZero(r.bytes(12, 'hclReport.reserved'))) throw new EvidenceError('evidence-malformed', 'hclReport: reserved bytes not zero')
  const hw = r.bytes(HCL_HW_REPORT_SIZE, 'hclReport.hardwareReport')
  const dataSize = r.u32le('hclReport.runtime.dataSize')
  const runtimeVersion = r.u32le('hclReport.runtime.version')
  if (runtimeVersion !== 1) throw new EvidenceError('evidence-unsupported', `hclReport: runtime data version ${runtimeVersion}`)
  const reportType = REPORT_TYPES[r.u32le('hclReport.runtime.reportType')]
  if (reportType === undefined) throw new EvidenceError('evidence-unsupported', 'hclReport: report type neither SNP nor TDX')
  const hashType = HASH_TYPES[r.u32le('hclReport.runtime.hashType')]
  if (hashType === undefined) throw new EvidenceError('evidence-unsupported', 'hclReport: unknown report data hash type')
  const variableSize = r.u32le('hclReport.runtime.variableDataSize')
  if (dataSize !== HCL_RUNTIME_HEADER_SIZE + variableSize) throw new EvidenceError('evidence-malformed', 'hclReport: data size and variable data size disagree')
  if (reportSize !== HCL_HEADER_SIZE + HCL_HW_REPORT_SIZE + dataSize) throw new EvidenceError('evidence-malformed', 'hclReport: report size disagrees with its parts')
  const runtimeData = r.bytes(variableSize, 'hclReport.runtime.variableData')
  if (!isZero(bytes, r.position)) throw new EvidenceError('evidence-malformed', 'hclReport: non-zero bytes after the runtime data')
  const hardwareReport = reportType === 'snp' ? hw : hw.slice(0, TD_REPORT_SIZE)
  if (reportType === 'tdx' && !isZero(hw, TD_REPORT_SIZE)) throw new EvidenceError('evidence-malformed', 'hclReport: bytes after the TDREPORT not zero')
  return { version, requestType, reportType, hardwareReport, hashType, runtimeData }
}

/**
 * The hardware report's REPORT_DATA must be H(runtime data) followed by zeros.
 * @throws `binding-mismatch`-like `signature-invalid`: the runtime claims are not the ones the hardware report vouches for
 */
export function checkRuntimeDataBinding(hcl: HclReport, reportData: Uint8Array): void {
  const digest = new Uint8Array(createHash(hcl.hashType).update(hcl.runtimeData).digest())
  if (reportData.byteLength !== 64 || !equalBytes(reportData.subarray(0, digest.byteLength), digest) || !isZero(reportData, digest.byteLength)) {
    throw new EvidenceError('signature-invalid', 'hclReport: the hardware report does not vouch for these runtime claims (REPORT_DATA ≠ hash of the variable data)')
  }
}
