/**
 * go-sev-guest's `sevsnp.Attestation` (google/go-sev-guest `proto/sevsnp.proto`) back to the
 * bytes the AMD-SP signed. The proto holds the report decoded field by field; like go-sev-guest
 * `abi.ReportToAbiBytes` (google/go-sev-guest@af1c107a `abi/abi.go`) we write each field at its
 * offset of the ABI layout table (`src/evidence/snp/report-layout.ts`, the one the parser reads)
 * into a zeroed 0x4A0-byte buffer, so reserved bytes are zero and the signature covers exactly
 * what the firmware produced. The `snp` verifier then parses and verifies those bytes.
 */
import { EvidenceError } from '../../errors.js'
import type { Field } from '../reader.js'
import type { Attestation as SevSnpAttestation, Report } from '../../proto-gen/sevsnp_pb.js'
import { SevProduct_SevProductName } from '../../proto-gen/sevsnp_pb.js'
import { REPORT, REPORT_SIZE } from '../snp/report-layout.js'
import type { EvidenceCertificates } from '../snp/cert-table.js'
import type { SnpProduct } from '../snp/products.js'

const u64Max = (1n << 64n) - 1n

/**
 * The raw ATTESTATION_REPORT of a proto `Report`.
 * @throws `evidence-malformed` when a byte field has the wrong size or a number does not fit
 *   its ABI field (go-sev-guest `checkReportSizes` and the byte-range checks of `ReportToAbiBytes`)
 */
export function reportBytesFromProto(r: Report): Uint8Array {
  const out = new Uint8Array(REPORT_SIZE)
  const view = new DataView(out.buffer)
  const bytes = (name: string, f: Field, v: Uint8Array): void => {
    if (v.byteLength !== f.size) throw new EvidenceError('evidence-malformed', `sevSnpAttestation.report.${name}: ${f.size} bytes expected`)
    out.set(v, f.at)
  }
  const u8 = (name: string, f: Field, v: number): void => {
    if (v > 0xff) throw new EvidenceError('evidence-malformed', `sevSnpAttestation.report.${name}: must fit in a byte`)
    out[f.at] = v
  }
  const u32 = (f: Field, v: number): void => view.setUint32(f.at, v, true)
  const u64 = (f: Field, v: bigint): void => {
    if (v < 0n || v > u64Max) throw new EvidenceError('evidence-malformed', 'sevSnpAttestation.report: a 64-bit field is out of range')
    view.setBigUint64(f.at, v, true)
  }
  u32(REPORT.version, r.version)
  u32(REPORT.guestSvn, r.guestSvn)
  u64(REPORT.policy, r.policy)
  bytes('familyId', REPORT.familyId, r.familyId)
  bytes('imageId', REPORT.imageId, r.imageId)
  u32(REPORT.vmpl, r.vmpl)
  u32(REPORT.signatureAlgo, r.signatureAlgo)
  u64(REPORT.currentTcb, r.currentTcb)
  u64(REPORT.platformInfo, r.platformInfo)
  u32(REPORT.signerInfo, r.signerInfo)
  bytes('reportData', REPORT.reportData, r.reportData)
  bytes('measurement', REPORT.measurement, r.measurement)
  bytes('hostData', REPORT.hostData, r.hostData)
  bytes('idKeyDigest', REPORT.idKeyDigest, r.idKeyDigest)
  bytes('authorKeyDigest', REPORT.authorKeyDigest, r.authorKeyDigest)
  bytes('reportId', REPORT.reportId, r.reportId)
  bytes('reportIdMa', REPORT.reportIdMa, r.reportIdMa)
  u64(REPORT.reportedTcb, r.reportedTcb)
  // cpuid1eax_fms is CPUID(1).EAX & 0x0fff0fff (go-sev-guest `FmsToCpuid1Eax`); reports before
  // version 3 have no CPUID fields, so the proto must hold 0 there.
  const eax = r.cpuid1eaxFms
  if ((eax & 0xf000f000) !== 0) throw new EvidenceError('evidence-malformed', 'sevSnpAttestation.report.cpuid1eaxFms: reserved bits set')
  if (r.version >= 3) {
    const extendedFamily = (eax >>> 20) & 0xff
    const extendedModel = (eax >>> 16) & 0xf
    const family = extendedFamily + ((eax >>> 8) & 0xf)
    u8('cpuid1eaxFms', REPORT.cpuidFamId, family)
    u8('cpuid1eaxFms', REPORT.cpuidModId, (extendedModel << 4) | ((eax >>> 4) & 0xf))
    u8('cpuid1eaxFms', REPORT.cpuidStep, eax & 0xf)
  } else if (eax !== 0) {
    throw new EvidenceError('evidence-malformed', 'sevSnpAttestation.report.cpuid1eaxFms: set in a version 2 report')
  }
  bytes('chipId', REPORT.chipId, r.chipId)
  u64(REPORT.committedTcb, r.committedTcb)
  u8('currentBuild', REPORT.currentBuild, r.currentBuild)
  u8('currentMinor', REPORT.currentMinor, r.currentMinor)
  u8('currentMajor', REPORT.currentMajor, r.currentMajor)
  u8('committedBuild', REPORT.committedBuild, r.committedBuild)
  u8('committedMinor', REPORT.committedMinor, r.committedMinor)
  u8('committedMajor', REPORT.committedMajor, r.committedMajor)
  u64(REPORT.launchTcb, r.launchTcb)
  u64(REPORT.launchMitVector, r.launchMitVector)
  u64(REPORT.currentMitVector, r.currentMitVector)
  bytes('signature', REPORT.signature, r.signature)
  return out
}

const PRODUCTS: ReadonlyMap<SevProduct_SevProductName, SnpProduct> = new Map([
  [SevProduct_SevProductName.SEV_PRODUCT_MILAN, 'Milan'],
  [SevProduct_SevProductName.SEV_PRODUCT_GENOA, 'Genoa'],
  [SevProduct_SevProductName.SEV_PRODUCT_TURIN, 'Turin'],
])

/** The product line the attestation names (`undefined`: unknown or absent; v3+ reports name their own). */
export function productFromProto(a: SevSnpAttestation): SnpProduct | undefined {
  return a.product === undefined ? undefined : PRODUCTS.get(a.product.name)
}

/**
 * The certificates of `certificate_chain` (VCEK or VLEK, ASK or ASVK, ARK; DER), for the `snp`
 * verifier, which sorts them by subject. `extras` and the deprecated `firmware_cert` carry nothing
 * the verifier uses and are ignored.
 */
export function certificatesFromProto(a: SevSnpAttestation): EvidenceCertificates {
  const c = a.certificateChain
  const certificates = c === undefined ? [] : [c.vcekCert, c.vlekCert, c.askCert, c.arkCert].filter((d) => d.byteLength > 0)
  return { form: 'list', certificates }
}
