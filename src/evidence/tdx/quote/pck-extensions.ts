/**
 * Intel's SGX extension on PCK certificates (Intel "SGX PCK Certificate and Certificate
 * Revocation List Profile Specification", rev. 1.5, section 1.3.5 "Intel SGX Extensions"): OID
 * 1.2.840.113741.1.13.1, a SEQUENCE of (OID, value) pairs — PPID, TCB (16 SGX TCB component
 * SVNs, PCESVN, CPUSVN), PCE-ID, FMSPC, SGX type, and on Platform-CA-issued certificates the
 * platform instance id and configuration flags. A minimal DER reader decodes exactly these
 * shapes; anything else in a present extension is `chain-untrusted` (the certificate is Intel's
 * by then, so a bad value means a certificate we do not understand, not bad client input).
 */
import { EvidenceError } from '../../../errors.js'
import { BoundedCache } from '../../snp/cache.js'
import type { ParsedCertificate } from '../../x509-chain.js'

export const SGX_EXTENSIONS_OID = '1.2.840.113741.1.13.1'
const OID = {
  ppid: `${SGX_EXTENSIONS_OID}.1`,
  tcb: `${SGX_EXTENSIONS_OID}.2`,
  pcesvn: `${SGX_EXTENSIONS_OID}.2.17`,
  cpusvn: `${SGX_EXTENSIONS_OID}.2.18`,
  pceId: `${SGX_EXTENSIONS_OID}.3`,
  fmspc: `${SGX_EXTENSIONS_OID}.4`,
  sgxType: `${SGX_EXTENSIONS_OID}.5`,
  platformInstanceId: `${SGX_EXTENSIONS_OID}.6`,
  configuration: `${SGX_EXTENSIONS_OID}.7`,
  dynamicPlatform: `${SGX_EXTENSIONS_OID}.7.1`,
  cachedKeys: `${SGX_EXTENSIONS_OID}.7.2`,
  smtEnabled: `${SGX_EXTENSIONS_OID}.7.3`,
} as const

export const SGX_TYPES = ['Standard', 'Scalable', 'ScalableWithIntegrity'] as const
export type SgxType = (typeof SGX_TYPES)[number]

/** The facts a PCK certificate certifies about the platform. */
export interface PckExtensions {
  readonly ppid: Uint8Array
  /** SGX TCB component SVNs 1..16 (index 0 = component 01). */
  readonly sgxTcbComponents: readonly number[]
  readonly pceSvn: number
  readonly cpuSvn: Uint8Array
  readonly pceId: Uint8Array
  readonly fmspc: Uint8Array
  readonly sgxType: SgxType
  readonly platformInstanceId?: Uint8Array
  readonly configuration?: { readonly dynamicPlatform?: boolean; readonly cachedKeys?: boolean; readonly smtEnabled?: boolean }
}

function bad(detail: string): EvidenceError {
  return new EvidenceError('chain-untrusted', `PCK certificate SGX extension: ${detail}`)
}

interface Tlv {
  readonly tag: number
  readonly body: Uint8Array
}

/** Splits `bytes` into consecutive DER TLVs (single-byte tags, definite lengths up to 2^32). */
function tlvs(bytes: Uint8Array): Tlv[] {
  const out: Tlv[] = []
  let p = 0
  while (p < bytes.byteLength) {
    const tag = bytes[p]
    const first = bytes[p + 1]
    if (tag === undefined || first === undefined) throw bad('truncated')
    if ((tag & 0x1f) === 0x1f) throw bad('high tag number')
    let len = first
    let head = 2
    if (first & 0x80) {
      const n = first & 0x7f
      if (n === 0 || n > 4) throw bad('unsupported length')
      len = 0
      for (let i = 0; i < n; i++) {
        const byte = bytes[p + 2 + i]
        if (byte === undefined) throw bad('truncated length')
        len = len * 256 + byte
      }
      head = 2 + n
    }
    if (len > bytes.byteLength - p - head) throw bad('length beyond the value')
    out.push({ tag, body: bytes.subarray(p + head, p + head + len) })
    p += head + len
  }
  return out
}

function one(bytes: Uint8Array, tag: number, what: string): Uint8Array {
  const [t, ...rest] = tlvs(bytes)
  if (t === undefined || rest.length > 0 || t.tag !== tag) throw bad(`${what} is not a single tag 0x${tag.toString(16)}`)
  return t.body
}

function oidText(body: Uint8Array): string {
  if (body.byteLength === 0) throw bad('empty OID')
  const parts: number[] = []
  let v = 0
  for (const [i, byte] of body.entries()) {
    v = v * 128 + (byte & 0x7f)
    if (v > Number.MAX_SAFE_INTEGER / 256) throw bad('OID arc too large')
    if ((byte & 0x80) === 0) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80)
      else parts.push(v)
      v = 0
    } else if (i === body.byteLength - 1) {
      throw bad('truncated OID')
    }
  }
  return parts.join('.')
}

function uint(body: Uint8Array, what: string): number {
  if (body.byteLength === 0 || body.byteLength > 3) throw bad(`${what}: not a small INTEGER`)
  if ((body[0] ?? 0) & 0x80) throw bad(`${what}: negative`)
  let n = 0
  for (const byte of body) n = n * 256 + byte
  return n
}

/** A SEQUENCE OF SEQUENCE { OID, value } as a map from OID to the value's TLV. */
function pairs(sequenceBody: Uint8Array, what: string): Map<string, Tlv> {
  const out = new Map<string, Tlv>()
  for (const item of tlvs(sequenceBody)) {
    if (item.tag !== 0x30) throw bad(`${what}: item is not a SEQUENCE`)
    const [oid, value, ...rest] = tlvs(item.body)
    if (oid === undefined || value === undefined || rest.length > 0 || oid.tag !== 0x06) throw bad(`${what}: item is not (OID, value)`)
    const name = oidText(oid.body)
    if (out.has(name)) throw bad(`${what}: duplicate ${name}`)
    out.set(name, value)
  }
  return out
}

function octets(map: Map<string, Tlv>, oid: string, size: number, what: string): Uint8Array {
  const v = map.get(oid)
  if (v === undefined) throw bad(`${what} missing`)
  if (v.tag !== 0x04 || v.body.byteLength !== size) throw bad(`${what} is not a ${size}-byte OCTET STRING`)
  return v.body.slice()
}

function bool(map: Map<string, Tlv>, oid: string, what: string): boolean | undefined {
  const v = map.get(oid)
  if (v === undefined) return undefined
  if (v.tag !== 0x01 || v.body.byteLength !== 1) throw bad(`${what} is not a BOOLEAN`)
  return v.body[0] !== 0
}

/**
 * Decodes the SGX extension of a PCK certificate (extnValue bytes).
 * @throws `chain-untrusted` when it is missing a required member or is not the documented shape
 */
export function decodePckExtensions(extnValue: Uint8Array): PckExtensions {
  const top = pairs(one(extnValue, 0x30, 'SGX extensions'), 'SGX extensions')
  const tcbTlv = top.get(OID.tcb)
  if (tcbTlv === undefined || tcbTlv.tag !== 0x30) throw bad('TCB missing')
  const tcb = pairs(tcbTlv.body, 'TCB')
  const sgxTcbComponents: number[] = []
  for (let i = 1; i <= 16; i++) {
    const v = tcb.get(`${OID.tcb}.${i}`)
    if (v === undefined || v.tag !== 0x02) throw bad(`TCB component ${i} missing`)
    const svn = uint(v.body, `TCB component ${i}`)
    if (svn > 255) throw bad(`TCB component ${i} above 255`)
    sgxTcbComponents.push(svn)
  }
  const pcesvnTlv = tcb.get(OID.pcesvn)
  if (pcesvnTlv === undefined || pcesvnTlv.tag !== 0x02) throw bad('PCESVN missing')
  const pceSvn = uint(pcesvnTlv.body, 'PCESVN')
  if (pceSvn > 0xffff) throw bad('PCESVN above 65535')
  const sgxTypeTlv = top.get(OID.sgxType)
  if (sgxTypeTlv === undefined || sgxTypeTlv.tag !== 0x0a) throw bad('SGX type missing')
  const sgxType = SGX_TYPES[uint(sgxTypeTlv.body, 'SGX type')]
  if (sgxType === undefined) throw bad('unknown SGX type')
  const configTlv = top.get(OID.configuration)
  let configuration: PckExtensions['configuration']
  if (configTlv !== undefined) {
    if (configTlv.tag !== 0x30) throw bad('configuration is not a SEQUENCE')
    const c = pairs(configTlv.body, 'configuration')
    const dynamicPlatform = bool(c, OID.dynamicPlatform, 'dynamicPlatform')
    const cachedKeys = bool(c, OID.cachedKeys, 'cachedKeys')
    const smtEnabled = bool(c, OID.smtEnabled, 'smtEnabled')
    configuration = {
      ...(dynamicPlatform === undefined ? {} : { dynamicPlatform }),
      ...(cachedKeys === undefined ? {} : { cachedKeys }),
      ...(smtEnabled === undefined ? {} : { smtEnabled }),
    }
  }
  return {
    ppid: octets(top, OID.ppid, 16, 'PPID'),
    sgxTcbComponents,
    pceSvn,
    cpuSvn: octets(tcb, OID.cpusvn, 16, 'CPUSVN'),
    pceId: octets(top, OID.pceId, 2, 'PCE-ID'),
    fmspc: octets(top, OID.fmspc, 6, 'FMSPC'),
    sgxType,
    ...(top.has(OID.platformInstanceId) ? { platformInstanceId: octets(top, OID.platformInstanceId, 16, 'platform instance id') } : {}),
    ...(configuration === undefined ? {} : { configuration }),
  }
}

const byCertificate = new BoundedCache<PckExtensions>(512)

/** Reads the SGX extension of a parsed PCK certificate (remembered by the certificate's digest). @throws `chain-untrusted` */
export function readPckExtensions(cert: ParsedCertificate): PckExtensions {
  const hit = byCertificate.get(cert.sha256)
  if (hit !== undefined) return hit
  const ext = cert.extensions.get(SGX_EXTENSIONS_OID)
  if (ext === undefined) throw bad('missing')
  const decoded = decodePckExtensions(ext.value)
  byCertificate.set(cert.sha256, decoded)
  return decoded
}
