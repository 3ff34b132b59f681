import { EvidenceError } from '../../../errors.js'
import { ByteReader, field, isZero, toHex } from '../../reader.js'
import {
  ATTESTATION_KEY_TYPE_ECDSA_P256,
  BODY_SIZE_BY_TYPE,
  BODY_TYPE,
  CERT_DATA_TYPE,
  HEADER,
  HEADER_SIZE,
  MAX_QUOTE_SIZE,
  QE_REPORT,
  QE_REPORT_RESERVED,
  QE_REPORT_SIGNATURE_SIZE,
  QE_REPORT_SIZE,
  SIGNATURE_DATA,
  SUPPORTED_QUOTE_VERSIONS,
  TD_REPORT,
  TD_REPORT10_SIZE,
  TD_REPORT15_SIZE,
  TEE_TYPE_TDX,
} from './layout.js'
import { decodePemCertificateList } from './pem.js'

/** TD report body of a quote (TDX 1.0, or 1.5 with `teeTcbSvn2` and `mrServiceTd`). Byte fields are copies. */
export interface TdReportBody {
  readonly teeTcbSvn: Uint8Array
  readonly mrSeam: Uint8Array
  readonly mrSignerSeam: Uint8Array
  readonly seamAttributes: Uint8Array
  /** TD_ATTRIBUTES as the little-endian 64-bit value. */
  readonly tdAttributes: bigint
  readonly xfam: bigint
  readonly mrTd: Uint8Array
  readonly mrConfigId: Uint8Array
  readonly mrOwner: Uint8Array
  readonly mrOwnerConfig: Uint8Array
  readonly rtmr: readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array]
  readonly reportData: Uint8Array
  readonly teeTcbSvn2?: Uint8Array
  readonly mrServiceTd?: Uint8Array
}

/** The Quoting Enclave's SGX REPORT_BODY. */
export interface QeReport {
  readonly cpuSvn: Uint8Array
  readonly miscSelect: number
  readonly isvExtProdId: Uint8Array
  readonly attributes: Uint8Array
  readonly mrEnclave: Uint8Array
  readonly mrSigner: Uint8Array
  readonly configId: Uint8Array
  readonly isvProdId: number
  readonly isvSvn: number
  readonly configSvn: number
  readonly isvFamilyId: Uint8Array
  readonly reportData: Uint8Array
}

/**
 * A structurally valid TDX DCAP quote (v4 or v5, ECDSA P-256, certification data type 6 with
 * a PEM PCK chain). Nothing in it is trusted yet. Byte fields are copies of the input.
 */
export interface TdxQuote {
  readonly version: number
  readonly attestationKeyType: number
  readonly teeType: number
  readonly qeVendorId: Uint8Array
  readonly userData: Uint8Array
  /** `1.0` (v4, or v5 body type 2) or `1.5` (v5 body type 3). */
  readonly tdxVersion: '1.0' | '1.5'
  readonly body: TdReportBody
  /** Header ‖ (v5 body descriptor) ‖ body: what the attestation key signed. */
  readonly signedBytes: Uint8Array
  /** ECDSA r‖s, 32 bytes each, big-endian (IEEE P1363). */
  readonly quoteSignature: Uint8Array
  /** Raw P-256 point x‖y (64 bytes, no 0x04 prefix). */
  readonly attestationKey: Uint8Array
  readonly qeReport: QeReport
  /** The 384 signed bytes of the QE report. */
  readonly qeReportBytes: Uint8Array
  readonly qeReportSignature: Uint8Array
  readonly qeAuthData: Uint8Array
  /** PCK leaf first, as the quote carries them (DER). */
  readonly pckChain: readonly Uint8Array[]
  /** Zero bytes after the signature data (tolerated padding). */
  readonly trailingZeroBytes: number
}

function malformed(detail: string): EvidenceError {
  return new EvidenceError('evidence-malformed', detail)
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8)
}

function parseBody(b: Uint8Array, tdxVersion: '1.0' | '1.5'): TdReportBody {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const f = (name: keyof typeof TD_REPORT): Uint8Array => field(b, TD_REPORT[name])
  return {
    teeTcbSvn: f('teeTcbSvn'),
    mrSeam: f('mrSeam'),
    mrSignerSeam: f('mrSignerSeam'),
    seamAttributes: f('seamAttributes'),
    tdAttributes: view.getBigUint64(TD_REPORT.tdAttributes.at, true),
    xfam: view.getBigUint64(TD_REPORT.xfam.at, true),
    mrTd: f('mrTd'),
    mrConfigId: f('mrConfigId'),
    mrOwner: f('mrOwner'),
    mrOwnerConfig: f('mrOwnerConfig'),
    rtmr: [f('rtmr0'), f('rtmr1'), f('rtmr2'), f('rtmr3')],
    reportData: f('reportData'),
    ...(tdxVersion === '1.5' ? { teeTcbSvn2: f('teeTcbSvn2'), mrServiceTd: f('mrServiceTd') } : {}),
  }
}

/**
 * Parses the QE REPORT_BODY (384 bytes, already length-checked by the caller).
 * @throws `evidence-malformed` when a reserved range is not zero
 */
export function parseQeReport(b: Uint8Array): QeReport {
  if (b.byteLength !== QE_REPORT_SIZE) throw malformed(`QE report: ${b.byteLength} bytes, expected ${QE_REPORT_SIZE}`)
  for (const [from, to] of QE_REPORT_RESERVED) {
    if (!isZero(b, from, to)) throw malformed(`QE report: reserved bytes ${from}-${to - 1} not zero`)
  }
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const f = (name: keyof typeof QE_REPORT): Uint8Array => field(b, QE_REPORT[name])
  return {
    cpuSvn: f('cpuSvn'),
    miscSelect: view.getUint32(QE_REPORT.miscSelect.at, true),
    isvExtProdId: f('isvExtProdId'),
    attributes: f('attributes'),
    mrEnclave: f('mrEnclave'),
    mrSigner: f('mrSigner'),
    configId: f('configId'),
    isvProdId: view.getUint16(QE_REPORT.isvProdId.at, true),
    isvSvn: view.getUint16(QE_REPORT.isvSvn.at, true),
    configSvn: view.getUint16(QE_REPORT.configSvn.at, true),
    isvFamilyId: f('isvFamilyId'),
    reportData: f('reportData'),
  }
}

/** Reads one certification data header and returns its type and a reader over exactly its data. */
function certificationData(r: ByteReader, what: string): { type: number; data: Uint8Array } {
  const type = r.u16le(`${what}.type`)
  const size = r.u32le(`${what}.size`)
  return { type, data: r.bytes(size, `${what}.data`) }
}

/**
 * Parses an Intel TDX DCAP quote, version 4 (TDX 1.0 body) or 5 (body type 2 = TDX 1.0, 3 =
 * TDX 1.5, its size field must match the type), with ECDSA P-256 signature data whose
 * certification data is type 6 (QE report certification data) holding a type 5 PEM PCK chain.
 * Every length is checked against the bytes that remain and every declared length must equal
 * what its contents consume. After the signature data only zero bytes may follow (several
 * real quotes carry zero padding: the length fields, never the file size, delimit the quote).
 * Checks no signature and no meaning.
 * @throws `evidence-malformed` (sizes, reserved bytes, lengths, PEM),
 *   `evidence-unsupported` (version, key type, TEE type, body type, certification data type)
 */
export function parseQuote(bytes: Uint8Array): TdxQuote {
  if (bytes.byteLength > MAX_QUOTE_SIZE) throw malformed(`quote: ${bytes.byteLength} bytes exceeds ${MAX_QUOTE_SIZE}`)
  if (bytes.byteLength < HEADER_SIZE) throw malformed(`quote: ${bytes.byteLength} bytes, shorter than the header`)
  const b = bytes.slice()
  const version = u16(b, HEADER.version.at)
  if (!SUPPORTED_QUOTE_VERSIONS.includes(version)) {
    throw new EvidenceError('evidence-unsupported', `quote version ${version}; supported: ${SUPPORTED_QUOTE_VERSIONS.join(', ')}`)
  }
  const attestationKeyType = u16(b, HEADER.attestationKeyType.at)
  if (attestationKeyType !== ATTESTATION_KEY_TYPE_ECDSA_P256) {
    throw new EvidenceError('evidence-unsupported', `attestation key type ${attestationKeyType}; supported: 2 (ECDSA P-256)`)
  }
  const teeType = new DataView(b.buffer).getUint32(HEADER.teeType.at, true)
  if (teeType !== TEE_TYPE_TDX) {
    throw new EvidenceError('evidence-unsupported', `TEE type 0x${teeType.toString(16)}; supported: 0x81 (TDX)`)
  }
  if (!isZero(b, HEADER.reserved.at, HEADER.reserved.at + HEADER.reserved.size)) throw malformed('quote header: reserved bytes not zero')

  const r = new ByteReader(b, HEADER_SIZE)
  let tdxVersion: '1.0' | '1.5' = '1.0'
  let bodySize = TD_REPORT10_SIZE
  if (version === 5) {
    const bodyType = r.u16le('body type')
    const declared = r.u32le('body size')
    const expected = BODY_SIZE_BY_TYPE[bodyType]
    if (expected === undefined) {
      throw new EvidenceError(
        'evidence-unsupported',
        bodyType === BODY_TYPE.sgx ? 'quote body is an SGX enclave report, not a TD report' : `quote body type ${bodyType}`,
      )
    }
    if (declared !== expected) throw malformed(`quote body type ${bodyType}: size ${declared}, expected ${expected}`)
    tdxVersion = bodyType === BODY_TYPE.tdReport15 ? '1.5' : '1.0'
    bodySize = expected
  }
  const body = parseBody(r.bytes(bodySize, 'quote body'), tdxVersion)
  const signedBytes = b.slice(0, r.position)

  const sigDataSize = r.u32le('signature data size')
  const sig = new ByteReader(r.bytes(sigDataSize, 'signature data'))
  const quoteSignature = sig.bytes(SIGNATURE_DATA.quoteSignature.size, 'quote signature')
  const attestationKey = sig.bytes(SIGNATURE_DATA.attestationKey.size, 'attestation key')
  const outer = certificationData(sig, 'certification data')
  sig.end('signature data')
  if (outer.type !== CERT_DATA_TYPE.qeReportCertificationData) {
    throw new EvidenceError('evidence-unsupported', `certification data type ${outer.type}; supported: 6 (QE report certification data)`)
  }
  const qe = new ByteReader(outer.data)
  const qeReportBytes = qe.bytes(QE_REPORT_SIZE, 'QE report')
  const qeReportSignature = qe.bytes(QE_REPORT_SIGNATURE_SIZE, 'QE report signature')
  const qeAuthData = qe.bytes(qe.u16le('QE auth data size'), 'QE auth data')
  const inner = certificationData(qe, 'QE certification data')
  qe.end('QE report certification data')
  if (inner.type !== CERT_DATA_TYPE.pckCertChain) {
    throw new EvidenceError('evidence-unsupported', `QE certification data type ${inner.type}; supported: 5 (PCK certificate chain)`)
  }
  const pckChain = decodePemCertificateList(Buffer.from(inner.data).toString('latin1'), 'PCK certificate chain')

  const trailing = r.remaining
  if (!isZero(b, r.position)) throw malformed(`quote: ${trailing} bytes after the signature data are not zero padding`)

  return {
    version,
    attestationKeyType,
    teeType,
    qeVendorId: field(b, HEADER.qeVendorId),
    userData: field(b, HEADER.userData),
    tdxVersion,
    body,
    signedBytes,
    quoteSignature,
    attestationKey,
    qeReport: parseQeReport(qeReportBytes),
    qeReportBytes,
    qeReportSignature,
    qeAuthData,
    pckChain,
    trailingZeroBytes: trailing,
  }
}

/** Lowercase hex of the QE vendor id (for claims). */
export function qeVendorIdHex(quote: TdxQuote): string {
  return toHex(quote.qeVendorId)
}
