import { toHex } from '../reader.js'
import type { Claims, JsonValue } from '../types.js'
import type { SnpReport } from './parse.js'
import type { SnpProduct } from './products.js'
import { decodeTcb, tcbHex, type TcbParts } from './tcb.js'
import type { EndorsementKind } from './vcek-chain.js'

/** What verification established besides the report itself, for the claims. */
export interface SnpEndorsementFacts {
  readonly product: SnpProduct
  readonly signingKey: EndorsementKind
  /** Serial of the VCEK/VLEK, lowercase hex. */
  readonly endorsementSerial: string
  readonly productName: string | undefined
  readonly cspId: string | undefined
  /** `checked` (current CRL), `stale` (signed but past nextUpdate), `absent`. */
  readonly crl: 'checked' | 'stale' | 'absent'
}

function tcbJson(raw: bigint, product: SnpProduct): { [k: string]: JsonValue } {
  const t: TcbParts = decodeTcb(raw, product)
  return { raw: tcbHex(raw), ...t }
}

/**
 * Normalized claims of a verified report (src/evidence/types.ts): platform `amd-sev-snp`,
 * measurement = MEASUREMENT, tcb = REPORTED_TCB by component (the TCB the VCEK certifies),
 * instanceId = CHIP_ID (zeros with MASK_CHIP_KEY), and every decoded field in `raw`, JSON-safe
 * (byte strings lowercase hex, 64-bit values hex strings). Only call with a verified report.
 */
export function toClaims(report: SnpReport, facts: SnpEndorsementFacts): Claims {
  const { product } = facts
  const measurement = toHex(report.measurement)
  const hostData = toHex(report.hostData)
  const tcb = decodeTcb(report.reportedTcb, product)
  const raw: { [k: string]: JsonValue } = {
    product,
    version: report.version,
    guestSvn: report.guestSvn,
    policy: report.policy.toString(16).padStart(16, '0'),
    policyFlags: { ...report.policyFlags },
    familyId: toHex(report.familyId),
    imageId: toHex(report.imageId),
    vmpl: report.vmpl,
    signatureAlgo: report.signatureAlgo,
    currentTcb: tcbJson(report.currentTcb, product),
    reportedTcb: tcbJson(report.reportedTcb, product),
    committedTcb: tcbJson(report.committedTcb, product),
    launchTcb: tcbJson(report.launchTcb, product),
    platformInfo: report.platformInfo.toString(16).padStart(16, '0'),
    platformInfoFlags: { ...report.platformInfoFlags },
    authorKeyEn: report.authorKeyEn,
    maskChipKey: report.maskChipKey,
    signingKey: facts.signingKey,
    reportData: toHex(report.reportData),
    measurement,
    hostData,
    idKeyDigest: toHex(report.idKeyDigest),
    authorKeyDigest: toHex(report.authorKeyDigest),
    reportId: toHex(report.reportId),
    reportIdMa: toHex(report.reportIdMa),
    chipId: toHex(report.chipId),
    currentVersion: { ...report.currentVersion },
    committedVersion: { ...report.committedVersion },
    endorsementSerial: facts.endorsementSerial,
    crl: facts.crl,
  }
  if (report.cpuid !== undefined) raw['cpuid'] = { ...report.cpuid }
  if (report.launchMitVector !== undefined) raw['launchMitVector'] = report.launchMitVector.toString(16).padStart(16, '0')
  if (report.currentMitVector !== undefined) raw['currentMitVector'] = report.currentMitVector.toString(16).padStart(16, '0')
  if (facts.productName !== undefined) raw['productName'] = facts.productName
  if (facts.cspId !== undefined) raw['cspId'] = facts.cspId

  return {
    evidenceType: 'snp',
    platform: 'amd-sev-snp',
    hardwareBacked: true,
    measurement,
    measurements: {
      measurement,
      hostData,
      idKeyDigest: toHex(report.idKeyDigest),
      authorKeyDigest: toHex(report.authorKeyDigest),
      familyId: toHex(report.familyId),
      imageId: toHex(report.imageId),
    },
    reportData: report.reportData.slice(),
    debug: report.policyFlags.debug,
    tcb: { ...tcb },
    hostData,
    instanceId: toHex(report.chipId),
    raw,
  }
}
