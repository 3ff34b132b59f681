/**
 * go-tdx-guest's `tdx.QuoteV4` (google/go-tdx-guest `proto/tdx.proto`) back to the DCAP quote
 * bytes, like go-tdx-guest `abi.QuoteToAbiBytes`: every field written at its offset of the quote
 * layout tables (`src/evidence/tdx/quote/layout.ts`, the ones the `tdx` parser reads), lengths as
 * the proto carries them. The `tdx` verifier then parses and verifies the bytes (signature over
 * header ‖ body, QE report, PCK chain, TCB info): nothing is trusted here.
 */
import { EvidenceError } from '../../errors.js'
import type { QuoteV4 } from '../../proto-gen/tdx_pb.js'
import type { Field } from '../reader.js'
import { HEADER, HEADER_SIZE, MAX_QUOTE_SIZE, QE_REPORT, QE_REPORT_SIZE, TD_REPORT, TD_REPORT10_SIZE } from '../tdx/quote/layout.js'

const malformed = (what: string): EvidenceError => new EvidenceError('evidence-malformed', `tdxAttestation.${what}`)

class Writer {
  readonly #parts: Uint8Array[] = []
  bytes(b: Uint8Array): void {
    this.#parts.push(b.slice())
  }
  u16(n: number, what: string): void {
    if (n > 0xffff) throw malformed(`${what}: must fit in 16 bits`)
    this.#parts.push(new Uint8Array([n & 0xff, n >> 8]))
  }
  u32(n: number): void {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, n, true)
    this.#parts.push(b)
  }
  get length(): number {
    return this.#parts.reduce((n, p) => n + p.byteLength, 0)
  }
  done(): Uint8Array {
    const out = new Uint8Array(this.length)
    let at = 0
    for (const p of this.#parts) {
      out.set(p, at)
      at += p.byteLength
    }
    return out
  }
}

function put(out: Uint8Array, f: Field, v: Uint8Array, what: string): void {
  if (v.byteLength !== f.size) throw malformed(`${what}: ${f.size} bytes expected`)
  out.set(v, f.at)
}

/**
 * The quote bytes of a proto `QuoteV4` (TDX 1.0 body, certification data type 6 holding the QE
 * report and a type-5 PCK chain).
 * @throws `evidence-malformed` for a field of the wrong size or a missing part
 */
export function quoteBytesFromProto(q: QuoteV4): Uint8Array {
  const h = q.header
  const b = q.tdQuoteBody
  const sd = q.signedData
  const cd = sd?.certificationData
  const qe = cd?.qeReportCertificationData
  const report = qe?.qeReport
  const pck = qe?.pckCertificateChainData
  if (h === undefined || b === undefined || sd === undefined || cd === undefined || qe === undefined || report === undefined || pck === undefined) {
    throw malformed('a part of the quote is missing')
  }
  const header = new Uint8Array(HEADER_SIZE)
  const hv = new DataView(header.buffer)
  if (h.version > 0xffff || h.attestationKeyType > 0xffff) throw malformed('header: version and key type are 16-bit')
  hv.setUint16(HEADER.version.at, h.version, true)
  hv.setUint16(HEADER.attestationKeyType.at, h.attestationKeyType, true)
  hv.setUint32(HEADER.teeType.at, h.teeType, true)
  // QE_SVN ‖ PCE_SVN occupy the header's bytes 8-11 (go-tdx-guest); the parser requires what v4 requires there.
  if (h.qeSvn.byteLength !== 2 || h.pceSvn.byteLength !== 2) throw malformed('header.qeSvn/pceSvn: 2 bytes each expected')
  header.set(h.qeSvn, HEADER.reserved.at)
  header.set(h.pceSvn, HEADER.reserved.at + 2)
  put(header, HEADER.qeVendorId, h.qeVendorId, 'header.qeVendorId')
  put(header, HEADER.userData, h.userData, 'header.userData')

  const body = new Uint8Array(TD_REPORT10_SIZE)
  put(body, TD_REPORT.teeTcbSvn, b.teeTcbSvn, 'tdQuoteBody.teeTcbSvn')
  put(body, TD_REPORT.mrSeam, b.mrSeam, 'tdQuoteBody.mrSeam')
  put(body, TD_REPORT.mrSignerSeam, b.mrSignerSeam, 'tdQuoteBody.mrSignerSeam')
  put(body, TD_REPORT.seamAttributes, b.seamAttributes, 'tdQuoteBody.seamAttributes')
  put(body, TD_REPORT.tdAttributes, b.tdAttributes, 'tdQuoteBody.tdAttributes')
  put(body, TD_REPORT.xfam, b.xfam, 'tdQuoteBody.xfam')
  put(body, TD_REPORT.mrTd, b.mrTd, 'tdQuoteBody.mrTd')
  put(body, TD_REPORT.mrConfigId, b.mrConfigId, 'tdQuoteBody.mrConfigId')
  put(body, TD_REPORT.mrOwner, b.mrOwner, 'tdQuoteBody.mrOwner')
  put(body, TD_REPORT.mrOwnerConfig, b.mrOwnerConfig, 'tdQuoteBody.mrOwnerConfig')
  if (b.rtmrs.length !== 4) throw malformed('tdQuoteBody.rtmrs: 4 expected')
  const rtmrs = [TD_REPORT.rtmr0, TD_REPORT.rtmr1, TD_REPORT.rtmr2, TD_REPORT.rtmr3]
  b.rtmrs.forEach((r, i) => put(body, rtmrs[i]!, r, `tdQuoteBody.rtmrs[${i}]`))
  put(body, TD_REPORT.reportData, b.reportData, 'tdQuoteBody.reportData')

  // The QE REPORT_BODY in go-tdx-guest's field split (reserved ranges kept verbatim).
  const qeReport = new Uint8Array(QE_REPORT_SIZE)
  const at = (field: string, offset: number, size: number, v: Uint8Array): void => put(qeReport, { at: offset, size }, v, `qeReport.${field}`)
  at('cpuSvn', QE_REPORT.cpuSvn.at, 16, report.cpuSvn)
  new DataView(qeReport.buffer).setUint32(QE_REPORT.miscSelect.at, report.miscSelect, true)
  at('reserved1', 20, 28, report.reserved1)
  at('attributes', QE_REPORT.attributes.at, 16, report.attributes)
  at('mrEnclave', QE_REPORT.mrEnclave.at, 32, report.mrEnclave)
  at('reserved2', 96, 32, report.reserved2)
  at('mrSigner', QE_REPORT.mrSigner.at, 32, report.mrSigner)
  at('reserved3', 160, 96, report.reserved3)
  if (report.isvProdId > 0xffff || report.isvSvn > 0xffff) throw malformed('qeReport: isvProdId and isvSvn are 16-bit')
  new DataView(qeReport.buffer).setUint16(QE_REPORT.isvProdId.at, report.isvProdId, true)
  new DataView(qeReport.buffer).setUint16(QE_REPORT.isvSvn.at, report.isvSvn, true)
  at('reserved4', 260, 60, report.reserved4)
  at('reportData', QE_REPORT.reportData.at, 64, report.reportData)

  const auth = qe.qeAuthData
  if (auth === undefined || auth.parsedDataSize !== auth.data.byteLength) throw malformed('qeAuthData: size and data disagree')
  if (qe.qeReportSignature.byteLength !== 64) throw malformed('qeReportSignature: 64 bytes expected')
  if (pck.size !== pck.pckCertChain.byteLength) throw malformed('pckCertificateChainData: size and chain disagree')

  const inner = new Writer()
  inner.bytes(qeReport)
  inner.bytes(qe.qeReportSignature)
  inner.u16(auth.parsedDataSize, 'qeAuthData.parsedDataSize')
  inner.bytes(auth.data)
  inner.u16(pck.certificateDataType, 'pckCertificateChainData.certificateDataType')
  inner.u32(pck.size)
  inner.bytes(pck.pckCertChain)
  const innerBytes = inner.done()
  if (cd.size !== innerBytes.byteLength) throw malformed('certificationData.size: does not match its content')

  const signed = new Writer()
  if (sd.signature.byteLength !== 64 || sd.ecdsaAttestationKey.byteLength !== 64) throw malformed('signedData: signature and key are 64 bytes')
  signed.bytes(sd.signature)
  signed.bytes(sd.ecdsaAttestationKey)
  signed.u16(cd.certificateDataType, 'certificationData.certificateDataType')
  signed.u32(cd.size)
  signed.bytes(innerBytes)
  const signedBytes = signed.done()
  if (q.signedDataSize !== signedBytes.byteLength) throw malformed('signedDataSize: does not match the signed data')

  const out = new Writer()
  out.bytes(header)
  out.bytes(body)
  out.u32(q.signedDataSize)
  out.bytes(signedBytes)
  out.bytes(q.extraBytes)
  if (out.length > MAX_QUOTE_SIZE) throw malformed(`the quote is larger than ${MAX_QUOTE_SIZE} bytes`)
  return out.done()
}
