import { toHex } from '../reader.js'
import type { Claims, JsonValue } from '../types.js'
import { decodeTdAttributes, u64LeHex } from './attributes.js'
import { eventLogClaims } from './ccel.js'
import type { TdxVerification } from './verify.js'

/**
 * Normalized claims of a verified TDX quote (src/evidence/types.ts): platform `intel-tdx`,
 * measurement = MRTD, measurements by spec name (mrTd, rtmr0-3, mrConfigId, mrOwner,
 * mrOwnerConfig, mrSeam, mrSignerSeam, mrServiceTd on TDX 1.5), tcb = the TCB statuses and
 * SVNs, hostData = MRCONFIGID, instanceId = the PCK's PPID, and every decoded field in `raw`
 * (lowercase hex; TD_ATTRIBUTES and XFAM as the quote's little-endian bytes and decoded).
 * Only call with a verified quote.
 */
export function toClaims(v: TdxVerification): Claims {
  const { quote, pck, tcb } = v
  const b = quote.body
  const mrTd = toHex(b.mrTd)
  const measurements: Record<string, string> = {
    mrTd,
    rtmr0: toHex(b.rtmr[0]),
    rtmr1: toHex(b.rtmr[1]),
    rtmr2: toHex(b.rtmr[2]),
    rtmr3: toHex(b.rtmr[3]),
    mrConfigId: toHex(b.mrConfigId),
    mrOwner: toHex(b.mrOwner),
    mrOwnerConfig: toHex(b.mrOwnerConfig),
    mrSeam: toHex(b.mrSeam),
    mrSignerSeam: toHex(b.mrSignerSeam),
  }
  if (b.mrServiceTd !== undefined) measurements['mrServiceTd'] = toHex(b.mrServiceTd)
  const attributes = decodeTdAttributes(b.tdAttributes)
  const raw: { [k: string]: JsonValue } = {
    quoteVersion: quote.version,
    tdxVersion: quote.tdxVersion,
    teeType: quote.teeType,
    qeVendorId: toHex(quote.qeVendorId),
    userData: toHex(quote.userData),
    teeTcbSvn: toHex(b.teeTcbSvn),
    ...measurements,
    seamAttributes: toHex(b.seamAttributes),
    tdAttributes: u64LeHex(b.tdAttributes),
    tdAttributesFlags: { ...attributes },
    xfam: u64LeHex(b.xfam),
    reportData: toHex(b.reportData),
    tcbStatus: tcb.status,
    advisoryIds: [...tcb.advisoryIds],
    sgxTcbStatus: tcb.sgxTcbStatus,
    tdxTcbStatus: tcb.tdxTcbStatus,
    tdxModuleStatus: tcb.tdxModuleStatus,
    qeTcbStatus: tcb.qeStatus,
    tcbDate: tcb.tcbDate,
    tcbEvaluationDataNumber: tcb.tcbEvaluationDataNumber,
    fmspc: toHex(pck.fmspc),
    pceId: toHex(pck.pceId),
    pceSvn: pck.pceSvn,
    cpuSvn: toHex(pck.cpuSvn),
    sgxType: pck.sgxType,
    ppid: toHex(pck.ppid),
    pckCa: v.pckCa,
    pckSerial: v.pckCertificate.serialNumber,
    qeIsvSvn: quote.qeReport.isvSvn,
    qeMrEnclave: toHex(quote.qeReport.mrEnclave),
    qeMrSigner: toHex(quote.qeReport.mrSigner),
    crl: v.crl,
  }
  if (tcb.tdxModuleIdentity !== undefined) raw['tdxModuleIdentity'] = tcb.tdxModuleIdentity
  if (b.teeTcbSvn2 !== undefined) raw['teeTcbSvn2'] = toHex(b.teeTcbSvn2)
  if (tcb.currentStatus !== undefined) raw['currentTcbStatus'] = tcb.currentStatus
  if (pck.platformInstanceId !== undefined) raw['platformInstanceId'] = toHex(pck.platformInstanceId)
  if (v.eventLog !== undefined) raw['eventLog'] = eventLogClaims(v.eventLog)

  return {
    evidenceType: 'tdx',
    platform: 'intel-tdx',
    hardwareBacked: true,
    measurement: mrTd,
    measurements,
    reportData: b.reportData.slice(),
    debug: attributes.debug,
    tcb: {
      status: tcb.status,
      qeStatus: tcb.qeStatus,
      tdxModuleStatus: tcb.tdxModuleStatus,
      teeTcbSvn: toHex(b.teeTcbSvn),
      pceSvn: pck.pceSvn,
      cpuSvn: toHex(pck.cpuSvn),
      fmspc: toHex(pck.fmspc),
      tcbEvaluationDataNumber: tcb.tcbEvaluationDataNumber,
    },
    hostData: measurements['mrConfigId'],
    instanceId: toHex(pck.ppid),
    raw,
  }
}
