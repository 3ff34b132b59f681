/**
 * Synthetic Intel TDX signer for tests (docs/conventions.md §9): a test "Intel SGX Root CA" → PCK Platform
 * CA → PCK certificate (with the SGX extension) chain, a TCB Signing certificate, a QE whose
 * report the PCK key signs, an attestation key, quotes v4/v5 written through the parser's own
 * layout tables (`src/evidence/tdx/quote/layout.ts`), TCB info / QE identity documents signed
 * like Intel PCS signs them, and CRLs. Every knob has a default that verifies, so a negative test
 * overrides exactly one thing.
 *
 * The test root is not Intel's: tests pin it with `extraPinnedRoots` (an option the service
 * never reads from configuration).
 */
import 'reflect-metadata'
import { createHash, KeyObject, sign, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import {
  ATTESTATION_KEY_TYPE_ECDSA_P256,
  BODY_TYPE,
  CERT_DATA_TYPE,
  HEADER,
  HEADER_SIZE,
  INTEL_QE_VENDOR_ID,
  QE_REPORT,
  QE_REPORT_SIZE,
  TD_REPORT,
  TD_REPORT10_SIZE,
  TD_REPORT15_SIZE,
  TEE_TYPE_TDX,
} from '../../src/evidence/tdx/quote/layout.js'
import { encodePemCertificate } from '../../src/evidence/tdx/quote/pem.js'
import type { Field } from '../../src/evidence/reader.js'
import { sha256Hex } from '../../src/evidence/x509-chain.js'

const subtle = webcrypto.subtle
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const

export const GEN_NOT_BEFORE = new Date('2024-01-01T00:00:00Z')
export const GEN_NOT_AFTER = new Date('2034-01-01T00:00:00Z')
/** A time inside every default validity window (certificates, collateral, CRLs). */
export const GEN_NOW = new Date('2025-06-01T00:00:00Z')
export const GEN_ISSUE_DATE = '2025-05-20T00:00:00Z'
export const GEN_NEXT_UPDATE = '2025-06-19T00:00:00Z'

export const GEN_FMSPC = '00906ed50000'
export const GEN_PCE_ID = '0000'
/** SGX TCB components and PCESVN the default PCK certifies. */
export const GEN_SGX_TCB = [3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0] as const
export const GEN_PCESVN = 13
/** TEE_TCB_SVN of the default quote: module ISVSVN 5, module version 3 (TDX_03), SEAM SVN 2. */
export const GEN_TEE_TCB_SVN = new Uint8Array([5, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
export const GEN_QE_MRSIGNER = new Uint8Array(32).fill(0xdc)
export const GEN_MRSIGNERSEAM = new Uint8Array(48)

function intelName(cn: string): string {
  return `CN=${cn}, O=Intel Corporation, L=Santa Clara, ST=CA, C=US`
}

// --- minimal DER writers for the SGX extension ------------------------------------------------
function derLength(n: number): number[] {
  if (n < 0x80) return [n]
  if (n < 0x100) return [0x81, n]
  return [0x82, n >> 8, n & 0xff]
}
export function tlv(tag: number, body: Uint8Array): Uint8Array {
  return new Uint8Array([tag, ...derLength(body.byteLength), ...body])
}
const seq = (...items: Uint8Array[]): Uint8Array => tlv(0x30, new Uint8Array(Buffer.concat(items)))
export function derOid(oid: string): Uint8Array {
  const [a = 0, b = 0, ...rest] = oid.split('.').map(Number)
  const out = [a * 40 + b]
  for (const arc of rest) {
    const bytes = [arc & 0x7f]
    let v = Math.floor(arc / 128)
    while (v > 0) {
      bytes.unshift((v & 0x7f) | 0x80)
      v = Math.floor(v / 128)
    }
    out.push(...bytes)
  }
  return tlv(0x06, new Uint8Array(out))
}
export function derUint(n: number, tag = 0x02): Uint8Array {
  const bytes: number[] = []
  let v = n
  do {
    bytes.unshift(v & 0xff)
    v = Math.floor(v / 256)
  } while (v > 0)
  if ((bytes[0] ?? 0) & 0x80) bytes.unshift(0)
  return tlv(tag, new Uint8Array(bytes))
}
const octets = (b: Uint8Array): Uint8Array => tlv(0x04, b)
const bool = (v: boolean): Uint8Array => tlv(0x01, new Uint8Array([v ? 0xff : 0]))

const SGX = '1.2.840.113741.1.13.1'

export interface PckExtensionFields {
  ppid: Uint8Array
  sgxTcb: readonly number[]
  pceSvn: number
  cpuSvn: Uint8Array
  pceId: Uint8Array
  fmspc: Uint8Array
  sgxType: number
  platformInstanceId: Uint8Array | undefined
}

export function pckExtensionFields(overrides: Partial<PckExtensionFields> = {}): PckExtensionFields {
  return {
    ppid: new Uint8Array(16).fill(0x9a),
    sgxTcb: [...GEN_SGX_TCB],
    pceSvn: GEN_PCESVN,
    cpuSvn: new Uint8Array(GEN_SGX_TCB),
    pceId: new Uint8Array(Buffer.from(GEN_PCE_ID, 'hex')),
    fmspc: new Uint8Array(Buffer.from(GEN_FMSPC, 'hex')),
    sgxType: 1,
    platformInstanceId: new Uint8Array(16).fill(0x42),
    ...overrides,
  }
}

/** The SGX extension value (extnValue contents) for `f`, as Intel's PCK profile lays it out. */
export function encodePckExtension(f: PckExtensionFields): Uint8Array {
  const pair = (oid: string, value: Uint8Array): Uint8Array => seq(derOid(oid), value)
  const tcb = seq(
    ...f.sgxTcb.map((svn, i) => pair(`${SGX}.2.${i + 1}`, derUint(svn))),
    pair(`${SGX}.2.17`, derUint(f.pceSvn)),
    pair(`${SGX}.2.18`, octets(f.cpuSvn)),
  )
  const items = [
    pair(`${SGX}.1`, octets(f.ppid)),
    pair(`${SGX}.2`, tcb),
    pair(`${SGX}.3`, octets(f.pceId)),
    pair(`${SGX}.4`, octets(f.fmspc)),
    pair(`${SGX}.5`, derUint(f.sgxType, 0x0a)),
  ]
  if (f.platformInstanceId !== undefined) {
    items.push(pair(`${SGX}.6`, octets(f.platformInstanceId)))
    items.push(pair(`${SGX}.7`, seq(pair(`${SGX}.7.1`, bool(true)), pair(`${SGX}.7.2`, bool(false)), pair(`${SGX}.7.3`, bool(true)))))
  }
  return seq(...items)
}

export interface CaKey {
  readonly keys: CryptoKeyPair
  readonly cert: x509.X509Certificate
  readonly der: Uint8Array
  readonly privateKey: KeyObject
}

export interface CertOptions {
  readonly cn: string
  readonly notBefore?: Date
  readonly notAfter?: Date
  readonly serial?: string
  readonly isCa?: boolean
  readonly pathLength?: number
  readonly keyUsage?: x509.KeyUsageFlags
  readonly extensions?: readonly x509.Extension[]
  readonly keys?: CryptoKeyPair
}

export async function ecKeys(): Promise<CryptoKeyPair> {
  return subtle.generateKey(EC, true, ['sign', 'verify']) as Promise<CryptoKeyPair>
}

/** An ECDSA P-256 / SHA-256 certificate in Intel's style: self-signed, or signed by `issuer`. */
export async function issueCert(options: CertOptions, issuer?: CaKey): Promise<CaKey> {
  const keys = options.keys ?? (await ecKeys())
  const isCa = options.isCa ?? false
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(isCa, options.pathLength, true),
    new x509.KeyUsagesExtension(
      options.keyUsage ?? (isCa ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation),
      true,
    ),
    ...(options.extensions ?? []),
  ]
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: options.serial ?? '0a01',
    subject: intelName(options.cn),
    issuer: issuer === undefined ? intelName(options.cn) : issuer.cert.subject,
    notBefore: options.notBefore ?? GEN_NOT_BEFORE,
    notAfter: options.notAfter ?? GEN_NOT_AFTER,
    signingAlgorithm: ECDSA_SHA256,
    publicKey: keys.publicKey,
    signingKey: (issuer?.keys ?? keys).privateKey,
    extensions,
  })
  return { keys, cert, der: new Uint8Array(cert.rawData), privateKey: KeyObject.from(keys.privateKey) }
}

export interface TdxPki {
  readonly root: CaKey
  readonly platformCa: CaKey
  readonly pck: CaKey
  readonly tcbSigning: CaKey
  /** The test root's SPKI SHA-256, to pass as `extraPinnedRoots`. */
  readonly rootSpkiSha256: string
  readonly attestationKey: KeyObject
  /** Raw x‖y of the attestation key (64 bytes). */
  readonly attestationPublic: Uint8Array
}

/** The PCK certificate with the SGX extension for `fields`, signed by the Platform CA (or `issuer`). */
export async function issuePck(
  pki: Pick<TdxPki, 'platformCa'>,
  fields: Partial<PckExtensionFields> = {},
  options: Partial<CertOptions> = {},
  issuer: CaKey = pki.platformCa,
): Promise<CaKey> {
  return issueCert(
    {
      cn: 'Intel SGX PCK Certificate',
      serial: '5a01',
      extensions: [new x509.Extension(SGX, false, new Uint8Array(encodePckExtension(pckExtensionFields(fields))))],
      ...options,
    },
    issuer,
  )
}

/** Mints the whole test PKI (~30 ms). Call once per test file. */
export async function createTdxPki(): Promise<TdxPki> {
  const root = await issueCert({ cn: 'Intel SGX Root CA', isCa: true, pathLength: 1, serial: '0a00' })
  const platformCa = await issueCert({ cn: 'Intel SGX PCK Platform CA', isCa: true, pathLength: 0, serial: '0b00' }, root)
  const pck = await issuePck({ platformCa })
  const tcbSigning = await issueCert({ cn: 'Intel SGX TCB Signing', serial: '0c00' }, root)
  const att = await ecKeys()
  const jwk = await subtle.exportKey('jwk', att.publicKey)
  const attestationPublic = new Uint8Array(Buffer.concat([Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]))
  const spki = new Uint8Array(await subtle.exportKey('spki', root.keys.publicKey))
  return {
    root,
    platformCa,
    pck,
    tcbSigning,
    rootSpkiSha256: sha256Hex(spki),
    attestationKey: KeyObject.from(att.privateKey),
    attestationPublic,
  }
}

/** PEM chain PCK → Platform CA → root, as the quote's certification data type 5 carries it. */
export function pckChainPem(certs: readonly CaKey[]): string {
  return certs.map((c) => encodePemCertificate(c.der)).join('')
}

export interface TdBodyFields {
  teeTcbSvn: Uint8Array
  mrSeam: Uint8Array
  mrSignerSeam: Uint8Array
  seamAttributes: Uint8Array
  tdAttributes: bigint
  xfam: bigint
  mrTd: Uint8Array
  mrConfigId: Uint8Array
  mrOwner: Uint8Array
  mrOwnerConfig: Uint8Array
  rtmr: [Uint8Array, Uint8Array, Uint8Array, Uint8Array]
  reportData: Uint8Array
  teeTcbSvn2: Uint8Array
  mrServiceTd: Uint8Array
}

export interface QeReportFields {
  cpuSvn: Uint8Array
  miscSelect: number
  attributes: Uint8Array
  mrEnclave: Uint8Array
  mrSigner: Uint8Array
  isvProdId: number
  isvSvn: number
  /** Default: SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes. */
  reportData: Uint8Array | undefined
}

export interface QuoteFields {
  version: number
  /** v5 only: 2 = TDX 1.0, 3 = TDX 1.5. */
  bodyType: number
  /** v5 only; default the size of `bodyType`. */
  bodySize: number | undefined
  attestationKeyType: number
  teeType: number
  headerReserved: Uint8Array
  userData: Uint8Array
  body: TdBodyFields
  qe: QeReportFields
  qeAuthData: Uint8Array
  outerCertType: number
  innerCertType: number
  /** PCK chain text of certification data type 5; default the PKI's chain. */
  pckChain: string | undefined
  /** Bytes after the signature data (zero padding is legal). */
  trailing: Uint8Array
}

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v)

export function tdBodyFields(overrides: Partial<TdBodyFields> = {}): TdBodyFields {
  return {
    teeTcbSvn: GEN_TEE_TCB_SVN.slice(),
    mrSeam: fill(48, 0x5e),
    mrSignerSeam: GEN_MRSIGNERSEAM.slice(),
    seamAttributes: new Uint8Array(8),
    tdAttributes: 1n << 28n, // SEPT_VE_DISABLE
    xfam: 0x61ae7n,
    mrTd: fill(48, 0x7d),
    mrConfigId: fill(48, 0xc0),
    mrOwner: fill(48, 0),
    mrOwnerConfig: fill(48, 0),
    rtmr: [fill(48, 0x10), fill(48, 0x11), fill(48, 0x12), fill(48, 0)],
    reportData: fill(64, 0x5d),
    teeTcbSvn2: GEN_TEE_TCB_SVN.slice(),
    mrServiceTd: fill(48, 0),
    ...overrides,
  }
}

export function qeReportFields(overrides: Partial<QeReportFields> = {}): QeReportFields {
  return {
    cpuSvn: new Uint8Array(GEN_SGX_TCB),
    miscSelect: 0,
    attributes: new Uint8Array([0x11, 0, 0, 0, 0, 0, 0, 0, 0xe7, 0, 0, 0, 0, 0, 0, 0]),
    mrEnclave: fill(32, 0xe1),
    mrSigner: GEN_QE_MRSIGNER.slice(),
    isvProdId: 2,
    isvSvn: 8,
    reportData: undefined,
    ...overrides,
  }
}

export function quoteFields(overrides: Partial<Omit<QuoteFields, 'body' | 'qe'>> & { body?: Partial<TdBodyFields>; qe?: Partial<QeReportFields> } = {}): QuoteFields {
  const { body, qe, ...rest } = overrides
  return {
    version: 4,
    bodyType: BODY_TYPE.tdReport10,
    bodySize: undefined,
    attestationKeyType: ATTESTATION_KEY_TYPE_ECDSA_P256,
    teeType: TEE_TYPE_TDX,
    headerReserved: new Uint8Array(4),
    userData: fill(20, 0x0d),
    qeAuthData: new Uint8Array(32).map((_, i) => i),
    outerCertType: CERT_DATA_TYPE.qeReportCertificationData,
    innerCertType: CERT_DATA_TYPE.pckCertChain,
    pckChain: undefined,
    trailing: new Uint8Array(0),
    ...rest,
    body: tdBodyFields(body),
    qe: qeReportFields(qe),
  }
}

function put(out: Uint8Array, f: Field, v: Uint8Array, base = 0): void {
  if (v.byteLength !== f.size) throw new Error(`generator: field at ${f.at} needs ${f.size} bytes, got ${v.byteLength}`)
  out.set(v, base + f.at)
}
const u16 = (n: number): Uint8Array => new Uint8Array([n & 0xff, (n >> 8) & 0xff])
const u32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return new Uint8Array(b)
}
const u64 = (n: bigint): Uint8Array => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(n)
  return new Uint8Array(b)
}

export function encodeBody(f: TdBodyFields, tdx15: boolean): Uint8Array {
  const out = new Uint8Array(tdx15 ? TD_REPORT15_SIZE : TD_REPORT10_SIZE)
  const T = TD_REPORT
  put(out, T.teeTcbSvn, f.teeTcbSvn)
  put(out, T.mrSeam, f.mrSeam)
  put(out, T.mrSignerSeam, f.mrSignerSeam)
  put(out, T.seamAttributes, f.seamAttributes)
  put(out, T.tdAttributes, u64(f.tdAttributes))
  put(out, T.xfam, u64(f.xfam))
  put(out, T.mrTd, f.mrTd)
  put(out, T.mrConfigId, f.mrConfigId)
  put(out, T.mrOwner, f.mrOwner)
  put(out, T.mrOwnerConfig, f.mrOwnerConfig)
  put(out, T.rtmr0, f.rtmr[0])
  put(out, T.rtmr1, f.rtmr[1])
  put(out, T.rtmr2, f.rtmr[2])
  put(out, T.rtmr3, f.rtmr[3])
  put(out, T.reportData, f.reportData)
  if (tdx15) {
    put(out, T.teeTcbSvn2, f.teeTcbSvn2)
    put(out, T.mrServiceTd, f.mrServiceTd)
  }
  return out
}

export function encodeQeReport(f: QeReportFields, attestationPublic: Uint8Array, qeAuthData: Uint8Array): Uint8Array {
  const out = new Uint8Array(QE_REPORT_SIZE)
  const Q = QE_REPORT
  put(out, Q.cpuSvn, f.cpuSvn)
  put(out, Q.miscSelect, u32(f.miscSelect))
  put(out, Q.attributes, f.attributes)
  put(out, Q.mrEnclave, f.mrEnclave)
  put(out, Q.mrSigner, f.mrSigner)
  put(out, Q.isvProdId, u16(f.isvProdId))
  put(out, Q.isvSvn, u16(f.isvSvn))
  const reportData =
    f.reportData ?? new Uint8Array(Buffer.concat([createHash('sha256').update(attestationPublic).update(qeAuthData).digest(), Buffer.alloc(32)]))
  put(out, Q.reportData, reportData)
  return out
}

function p1363(data: Uint8Array, key: KeyObject): Uint8Array {
  return new Uint8Array(sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }))
}

export interface SigningOverrides {
  /** Signs the quote (default: the PKI's attestation key). */
  readonly attestationKey?: KeyObject
  /** Raw x‖y written as the attestation key (default: the PKI's). */
  readonly attestationPublic?: Uint8Array
  /** Signs the QE report (default: the PKI's PCK key). */
  readonly pckKey?: KeyObject
}

/** Writes and signs a quote: header, (v5 descriptor), body, signature data with type 6 / type 5 certification data. */
export function makeQuote(pki: TdxPki, f: QuoteFields = quoteFields(), s: SigningOverrides = {}): Uint8Array {
  const header = new Uint8Array(HEADER_SIZE)
  put(header, HEADER.version, u16(f.version))
  put(header, HEADER.attestationKeyType, u16(f.attestationKeyType))
  put(header, HEADER.teeType, u32(f.teeType))
  put(header, HEADER.reserved, f.headerReserved)
  put(header, HEADER.qeVendorId, new Uint8Array(Buffer.from(INTEL_QE_VENDOR_ID, 'hex')))
  put(header, HEADER.userData, f.userData)
  const tdx15 = f.version === 5 && f.bodyType === BODY_TYPE.tdReport15
  const body = encodeBody(f.body, tdx15)
  const descriptor = f.version === 5 ? new Uint8Array([...u16(f.bodyType), ...u32(f.bodySize ?? body.byteLength)]) : new Uint8Array(0)
  const signed = new Uint8Array(Buffer.concat([header, descriptor, body]))

  const attPublic = s.attestationPublic ?? pki.attestationPublic
  const qeReport = encodeQeReport(f.qe, attPublic, f.qeAuthData)
  const chain = Buffer.from(f.pckChain ?? pckChainPem([pki.pck, pki.platformCa, pki.root]), 'latin1')
  const inner = Buffer.concat([u16(f.innerCertType), u32(chain.byteLength), chain])
  const qeCert = Buffer.concat([qeReport, p1363(qeReport, s.pckKey ?? pki.pck.privateKey), u16(f.qeAuthData.byteLength), f.qeAuthData, inner])
  const sigData = Buffer.concat([
    p1363(signed, s.attestationKey ?? pki.attestationKey),
    attPublic,
    u16(f.outerCertType),
    u32(qeCert.byteLength),
    qeCert,
  ])
  return new Uint8Array(Buffer.concat([signed, u32(sigData.byteLength), sigData, f.trailing]))
}

/** Offsets of interesting parts of a `makeQuote` quote (for bit-flip properties). */
export function quoteOffsets(f: QuoteFields): { signedEnd: number; sigData: number; qeReport: number } {
  const tdx15 = f.version === 5 && f.bodyType === BODY_TYPE.tdReport15
  const signedEnd = HEADER_SIZE + (f.version === 5 ? 6 : 0) + (tdx15 ? TD_REPORT15_SIZE : TD_REPORT10_SIZE)
  return { signedEnd, sigData: signedEnd + 4, qeReport: signedEnd + 4 + 128 + 6 }
}

// --- collateral ------------------------------------------------------------------------------

export type Status = string

export interface TcbLevelSpec {
  sgx?: readonly number[]
  pcesvn?: number
  tdx?: readonly number[]
  status: Status
  date?: string
  advisoryIDs?: readonly string[]
}

export interface TcbInfoSpec {
  fmspc?: string
  pceId?: string
  issueDate?: string
  nextUpdate?: string
  levels?: readonly TcbLevelSpec[]
  /** TDX module identities; default TDX_03 with one UpToDate level at ISVSVN 3. */
  modules?: readonly { id: string; mrsigner?: string; levels: readonly { isvsvn: number; status: Status; advisoryIDs?: readonly string[] }[] }[]
  tdxModuleMrSigner?: string
  id?: string
  version?: number
}

const comps = (svns: readonly number[]) => svns.map((svn) => ({ svn }))
const TDX_DEFAULT = [0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]

/** The `tcbInfo` object (before signing). Default: one UpToDate level the default quote matches. */
export function tcbInfoObject(spec: TcbInfoSpec = {}): Record<string, unknown> {
  const levels = spec.levels ?? [{ status: 'UpToDate' }]
  return {
    id: spec.id ?? 'TDX',
    version: spec.version ?? 3,
    issueDate: spec.issueDate ?? GEN_ISSUE_DATE,
    nextUpdate: spec.nextUpdate ?? GEN_NEXT_UPDATE,
    fmspc: spec.fmspc ?? GEN_FMSPC.toUpperCase(),
    pceId: spec.pceId ?? GEN_PCE_ID,
    tcbType: 0,
    tcbEvaluationDataNumber: 17,
    tdxModule: { mrsigner: spec.tdxModuleMrSigner ?? '00'.repeat(48), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' },
    tdxModuleIdentities: (spec.modules ?? [{ id: 'TDX_03', levels: [{ isvsvn: 3, status: 'UpToDate' }] }]).map((m) => ({
      id: m.id,
      mrsigner: m.mrsigner ?? '00'.repeat(48),
      attributes: '0000000000000000',
      attributesMask: 'FFFFFFFFFFFFFFFF',
      tcbLevels: m.levels.map((l) => ({
        tcb: { isvsvn: l.isvsvn },
        tcbDate: '2024-03-13T00:00:00Z',
        tcbStatus: l.status,
        ...(l.advisoryIDs === undefined ? {} : { advisoryIDs: l.advisoryIDs }),
      })),
    })),
    tcbLevels: levels.map((l) => ({
      tcb: { sgxtcbcomponents: comps(l.sgx ?? GEN_SGX_TCB), pcesvn: l.pcesvn ?? GEN_PCESVN, tdxtcbcomponents: comps(l.tdx ?? TDX_DEFAULT) },
      tcbDate: l.date ?? '2024-11-13T00:00:00Z',
      tcbStatus: l.status,
      ...(l.advisoryIDs === undefined ? {} : { advisoryIDs: l.advisoryIDs }),
    })),
  }
}

export interface QeIdentitySpec {
  issueDate?: string
  nextUpdate?: string
  mrsigner?: string
  isvprodid?: number
  levels?: readonly { isvsvn: number; status: Status; advisoryIDs?: readonly string[] }[]
  miscselect?: string
  attributes?: string
}

export function qeIdentityObject(spec: QeIdentitySpec = {}): Record<string, unknown> {
  return {
    id: 'TD_QE',
    version: 2,
    issueDate: spec.issueDate ?? GEN_ISSUE_DATE,
    nextUpdate: spec.nextUpdate ?? GEN_NEXT_UPDATE,
    tcbEvaluationDataNumber: 17,
    miscselect: spec.miscselect ?? '00000000',
    miscselectMask: 'FFFFFFFF',
    attributes: spec.attributes ?? '11000000000000000000000000000000',
    attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: spec.mrsigner ?? Buffer.from(GEN_QE_MRSIGNER).toString('hex').toUpperCase(),
    isvprodid: spec.isvprodid ?? 2,
    tcbLevels: (spec.levels ?? [{ isvsvn: 8, status: 'UpToDate' }]).map((l) => ({
      tcb: { isvsvn: l.isvsvn },
      tcbDate: '2024-03-13T00:00:00Z',
      tcbStatus: l.status,
      ...(l.advisoryIDs === undefined ? {} : { advisoryIDs: l.advisoryIDs }),
    })),
  }
}

/** A PCS response: `{"<member>":<compact JSON>,"signature":"<hex r‖s>"}`, signed over the member's bytes. */
export function signCollateral(member: 'tcbInfo' | 'enclaveIdentity', body: unknown, key: KeyObject): Uint8Array {
  const json = JSON.stringify(body)
  const signature = Buffer.from(p1363(new Uint8Array(Buffer.from(json, 'utf8')), key)).toString('hex')
  return new Uint8Array(Buffer.from(`{"${member}":${json},"signature":"${signature}"}`, 'utf8'))
}

export function signedTcbInfo(pki: TdxPki, spec: TcbInfoSpec = {}, key: KeyObject = pki.tcbSigning.privateKey): Uint8Array {
  return signCollateral('tcbInfo', tcbInfoObject(spec), key)
}
export function signedQeIdentity(pki: TdxPki, spec: QeIdentitySpec = {}, key: KeyObject = pki.tcbSigning.privateKey): Uint8Array {
  return signCollateral('enclaveIdentity', qeIdentityObject(spec), key)
}
export function tcbSigningChainPem(pki: TdxPki, signing: CaKey = pki.tcbSigning): Uint8Array {
  return new Uint8Array(Buffer.from(pckChainPem([signing, pki.root]), 'latin1'))
}

/** An ECDSA SHA-256 CRL signed by `issuer`. DER. */
export async function issueCrl(
  issuer: CaKey,
  options: { revoked?: readonly string[]; thisUpdate?: Date; nextUpdate?: Date } = {},
): Promise<Uint8Array> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.cert.subject,
    thisUpdate: options.thisUpdate ?? GEN_NOT_BEFORE,
    nextUpdate: options.nextUpdate ?? GEN_NOT_AFTER,
    entries: (options.revoked ?? []).map((serialNumber) => ({ serialNumber, revocationDate: GEN_NOT_BEFORE })),
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
  })
  return new Uint8Array(crl.rawData)
}

/** Default full collateral for the default quote, as `TdxEvidenceCollateral`. */
export function defaultCollateral(pki: TdxPki): { tcbInfo: Uint8Array; qeIdentity: Uint8Array; tcbSigningChain: Uint8Array } {
  return { tcbInfo: signedTcbInfo(pki), qeIdentity: signedQeIdentity(pki), tcbSigningChain: tcbSigningChainPem(pki) }
}
