import { EvidenceError } from '../../errors.js'
import { field, isZero, type Field } from '../reader.js'
import {
  P384_SCALAR_SIZE,
  PLATFORM_INFO_BITS,
  POLICY_BITS,
  POLICY_RESERVED_MASK,
  REPORT,
  REPORT_RESERVED,
  REPORT_SIZE,
  SIGNATURE,
  SIGNATURE_USED,
  SIGNED_SIZE,
  SIGNER_INFO,
  SIGNING_KEYS,
  SIG_ALGO_ECDSA_P384_SHA384,
  SUPPORTED_REPORT_VERSIONS,
  type SigningKey,
} from './report-layout.js'

/** GUEST_POLICY decoded into named flags (ABI spec, "Guest Policy Structure"). */
export interface SnpPolicy {
  readonly abiMinor: number
  readonly abiMajor: number
  readonly smt: boolean
  readonly migrateMa: boolean
  readonly debug: boolean
  readonly singleSocket: boolean
  readonly cxlAllow: boolean
  readonly memAes256Xts: boolean
  readonly raplDis: boolean
  readonly ciphertextHiding: boolean
  readonly pageSwapDisable: boolean
}

/** PLATFORM_INFO decoded into named flags; `raw` keeps bits this revision does not name. */
export interface SnpPlatformInfo {
  readonly smtEn: boolean
  readonly tsmeEn: boolean
  readonly eccEn: boolean
  readonly raplDis: boolean
  readonly ciphertextHidingEn: boolean
  readonly aliasCheckComplete: boolean
  readonly tioEn: boolean
}

export interface FirmwareVersion {
  readonly major: number
  readonly minor: number
  readonly build: number
}

export interface Cpuid {
  readonly family: number
  readonly model: number
  readonly stepping: number
}

/**
 * A structurally valid ATTESTATION_REPORT (ABI spec 56860 rev. 1.58). Nothing in it is trusted
 * yet: the signature has not been checked. Byte fields are copies, never views of the input.
 */
export interface SnpReport {
  readonly version: number
  readonly guestSvn: number
  readonly policy: bigint
  readonly policyFlags: SnpPolicy
  readonly familyId: Uint8Array
  readonly imageId: Uint8Array
  readonly vmpl: number
  readonly signatureAlgo: number
  readonly currentTcb: bigint
  readonly platformInfo: bigint
  readonly platformInfoFlags: SnpPlatformInfo
  readonly authorKeyEn: boolean
  /** MASK_CHIP_KEY: CHIP_ID is reported as zero. */
  readonly maskChipKey: boolean
  readonly signingKey: SigningKey
  readonly reportData: Uint8Array
  readonly measurement: Uint8Array
  readonly hostData: Uint8Array
  readonly idKeyDigest: Uint8Array
  readonly authorKeyDigest: Uint8Array
  readonly reportId: Uint8Array
  readonly reportIdMa: Uint8Array
  readonly reportedTcb: bigint
  /** Version 3+ only. */
  readonly cpuid?: Cpuid
  readonly chipId: Uint8Array
  readonly committedTcb: bigint
  readonly currentVersion: FirmwareVersion
  readonly committedVersion: FirmwareVersion
  readonly launchTcb: bigint
  /** Version 5+ only. */
  readonly launchMitVector?: bigint
  readonly currentMitVector?: bigint
  /** ECDSA r and s as 48-byte big-endian integers (converted from the report's little-endian 72-byte fields). */
  readonly signatureR: Uint8Array
  readonly signatureS: Uint8Array
  /** Copy of bytes 0x000-0x29F, the signed part. */
  readonly signedBytes: Uint8Array
}

function u32(view: DataView, f: Field): number {
  return view.getUint32(f.at, true)
}
function u64(view: DataView, f: Field): bigint {
  return view.getBigUint64(f.at, true)
}
function u8(bytes: Uint8Array, f: Field): number {
  return bytes[f.at] ?? 0
}
function bit(value: bigint, index: number): boolean {
  return ((value >> BigInt(index)) & 1n) === 1n
}

/** Little-endian 72-byte scalar → 48-byte big-endian; the upper 24 bytes must be zero. */
function scalarToBigEndian(sig: Uint8Array, f: Field, name: string): Uint8Array {
  const le = field(sig, f)
  if (!isZero(le, P384_SCALAR_SIZE)) {
    throw new EvidenceError('evidence-malformed', `SIGNATURE.${name}: exceeds ${P384_SCALAR_SIZE} bytes`)
  }
  return le.slice(0, P384_SCALAR_SIZE).reverse()
}

/**
 * Parses an SEV-SNP ATTESTATION_REPORT (ABI spec 56860 rev. 1.58, versions 2, 3 and 5).
 * Guarantees: exactly REPORT_SIZE bytes; known version; SIGNATURE_ALGO ECDSA P-384/SHA-384;
 * every reserved range zero (including unused signature bytes and the upper bytes of r and s);
 * GUEST_POLICY reserved bits zero and bit 17 set; SIGNER_INFO reserved bits zero and a defined
 * SIGNING_KEY; VMPL 0-3. Checks no signature and no meaning.
 * @throws `evidence-malformed` (size, reserved bytes, bad enum), `evidence-unsupported` (version, signature algorithm)
 */
export function parseReport(bytes: Uint8Array): SnpReport {
  if (bytes.byteLength !== REPORT_SIZE) {
    throw new EvidenceError('evidence-malformed', `report: ${bytes.byteLength} bytes, expected ${REPORT_SIZE}`)
  }
  const b = bytes.slice()
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength)

  const version = u32(view, REPORT.version)
  const reserved = REPORT_RESERVED[version]
  if (reserved === undefined || !SUPPORTED_REPORT_VERSIONS.includes(version)) {
    throw new EvidenceError('evidence-unsupported', `report version ${version}; supported: ${SUPPORTED_REPORT_VERSIONS.join(', ')}`)
  }
  const signatureAlgo = u32(view, REPORT.signatureAlgo)
  if (signatureAlgo !== SIG_ALGO_ECDSA_P384_SHA384) {
    throw new EvidenceError('evidence-unsupported', `SIGNATURE_ALGO ${signatureAlgo}; supported: 1 (ECDSA P-384 SHA-384)`)
  }
  for (const [from, to] of reserved) {
    if (!isZero(b, from, to)) {
      throw new EvidenceError('evidence-malformed', `reserved bytes 0x${from.toString(16)}-0x${(to - 1).toString(16)} not zero`)
    }
  }
  const sig = field(b, REPORT.signature)
  if (!isZero(sig, SIGNATURE_USED)) throw new EvidenceError('evidence-malformed', 'SIGNATURE: reserved bytes not zero')
  const signatureR = scalarToBigEndian(sig, SIGNATURE.r, 'R')
  const signatureS = scalarToBigEndian(sig, SIGNATURE.s, 'S')

  const policy = u64(view, REPORT.policy)
  if ((policy & POLICY_RESERVED_MASK) !== 0n) throw new EvidenceError('evidence-malformed', 'POLICY: reserved bits 63:26 set')
  if (!bit(policy, POLICY_BITS.reserved17MustBeOne)) throw new EvidenceError('evidence-malformed', 'POLICY: bit 17 must be 1')

  const signerInfo = u32(view, REPORT.signerInfo)
  if ((signerInfo & SIGNER_INFO.reservedMask) !== 0) throw new EvidenceError('evidence-malformed', 'SIGNER_INFO: reserved bits set')
  const signingKey = SIGNING_KEYS[(signerInfo >>> SIGNER_INFO.signingKeyShift) & SIGNER_INFO.signingKeyMask]
  if (signingKey === undefined) throw new EvidenceError('evidence-malformed', 'SIGNER_INFO: reserved SIGNING_KEY value')

  const vmpl = u32(view, REPORT.vmpl)
  if (vmpl > 3) throw new EvidenceError('evidence-malformed', `VMPL ${vmpl} out of range 0-3`)

  const platformInfo = u64(view, REPORT.platformInfo)
  const P = PLATFORM_INFO_BITS
  const report: SnpReport = {
    version,
    guestSvn: u32(view, REPORT.guestSvn),
    policy,
    policyFlags: {
      abiMinor: Number(policy & 0xffn),
      abiMajor: Number((policy >> 8n) & 0xffn),
      smt: bit(policy, POLICY_BITS.smt),
      migrateMa: bit(policy, POLICY_BITS.migrateMa),
      debug: bit(policy, POLICY_BITS.debug),
      singleSocket: bit(policy, POLICY_BITS.singleSocket),
      cxlAllow: bit(policy, POLICY_BITS.cxlAllow),
      memAes256Xts: bit(policy, POLICY_BITS.memAes256Xts),
      raplDis: bit(policy, POLICY_BITS.raplDis),
      ciphertextHiding: bit(policy, POLICY_BITS.ciphertextHiding),
      pageSwapDisable: bit(policy, POLICY_BITS.pageSwapDisable),
    },
    familyId: field(b, REPORT.familyId),
    imageId: field(b, REPORT.imageId),
    vmpl,
    signatureAlgo,
    currentTcb: u64(view, REPORT.currentTcb),
    platformInfo,
    platformInfoFlags: {
      smtEn: bit(platformInfo, P.smtEn),
      tsmeEn: bit(platformInfo, P.tsmeEn),
      eccEn: bit(platformInfo, P.eccEn),
      raplDis: bit(platformInfo, P.raplDis),
      ciphertextHidingEn: bit(platformInfo, P.ciphertextHidingEn),
      aliasCheckComplete: bit(platformInfo, P.aliasCheckComplete),
      tioEn: bit(platformInfo, P.tioEn),
    },
    authorKeyEn: (signerInfo & (1 << SIGNER_INFO.authorKeyEnBit)) !== 0,
    maskChipKey: (signerInfo & (1 << SIGNER_INFO.maskChipKeyBit)) !== 0,
    signingKey,
    reportData: field(b, REPORT.reportData),
    measurement: field(b, REPORT.measurement),
    hostData: field(b, REPORT.hostData),
    idKeyDigest: field(b, REPORT.idKeyDigest),
    authorKeyDigest: field(b, REPORT.authorKeyDigest),
    reportId: field(b, REPORT.reportId),
    reportIdMa: field(b, REPORT.reportIdMa),
    reportedTcb: u64(view, REPORT.reportedTcb),
    ...(version >= 3
      ? { cpuid: { family: u8(b, REPORT.cpuidFamId), model: u8(b, REPORT.cpuidModId), stepping: u8(b, REPORT.cpuidStep) } }
      : {}),
    chipId: field(b, REPORT.chipId),
    committedTcb: u64(view, REPORT.committedTcb),
    currentVersion: { major: u8(b, REPORT.currentMajor), minor: u8(b, REPORT.currentMinor), build: u8(b, REPORT.currentBuild) },
    committedVersion: { major: u8(b, REPORT.committedMajor), minor: u8(b, REPORT.committedMinor), build: u8(b, REPORT.committedBuild) },
    launchTcb: u64(view, REPORT.launchTcb),
    ...(version >= 5
      ? { launchMitVector: u64(view, REPORT.launchMitVector), currentMitVector: u64(view, REPORT.currentMitVector) }
      : {}),
    signatureR,
    signatureS,
    signedBytes: b.slice(0, SIGNED_SIZE),
  }
  return report
}
