/**
 * Synthetic SEV-SNP signer for tests (docs/conventions.md §9; after go-sev-guest `AmdSignerBuilder`): a test
 * ARK → ASK/ASVK → VCEK/VLEK chain with AMD's extensions, and reports written through the
 * parser's own layout table (`report-layout.ts`) and signed like the firmware does. Every knob
 * has a default that verifies, so a negative test overrides exactly one thing.
 *
 * RSA-PSS 2048 instead of AMD's 4096 keeps key generation at ~50 ms; nothing checks key size.
 * The test ARK is not AMD's: tests pin it with `extraPinnedArks` and pass the chain in `certs`
 * (or disable the built-in AMD certificates).
 */
import 'reflect-metadata'
import { KeyObject, sign, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import {
  REPORT,
  REPORT_SIZE,
  SIGNATURE,
  SIGNED_SIZE,
  SIG_ALGO_ECDSA_P384_SHA384,
  SIGNER_INFO,
  POLICY_BITS,
  P384_SCALAR_SIZE,
} from '../../src/evidence/snp/report-layout.js'
import { encodeTcb, type TcbParts } from '../../src/evidence/snp/tcb.js'
import type { SnpProduct } from '../../src/evidence/snp/products.js'
import { AMD_OID } from '../../src/evidence/snp/vcek-extensions.js'
import type { Field } from '../../src/evidence/reader.js'
import { sha256Hex } from '../../src/evidence/x509-chain.js'

const subtle = webcrypto.subtle
const RSA_PSS = { name: 'RSA-PSS', hash: 'SHA-384', saltLength: 48 } as const
const RSA_GEN = { ...RSA_PSS, publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const
const EC_GEN = { name: 'ECDSA', namedCurve: 'P-384' } as const

export const GEN_NOT_BEFORE = new Date('2024-01-01T00:00:00Z')
export const GEN_NOT_AFTER = new Date('2034-01-01T00:00:00Z')
/** A time inside every default validity window. */
export const GEN_NOW = new Date('2025-06-01T00:00:00Z')

/** CPUID family/model/stepping a v3+ report of each product carries. */
export const GEN_CPUID: Readonly<Record<SnpProduct, { family: number; model: number; stepping: number }>> = {
  Milan: { family: 0x19, model: 0x01, stepping: 0x01 },
  Genoa: { family: 0x19, model: 0x11, stepping: 0x01 },
  Turin: { family: 0x1a, model: 0x02, stepping: 0x00 },
}

function amdName(cn: string): string {
  return `OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=${cn}`
}

// --- tiny DER writers for AMD's extension values -------------------------------------------
function derLength(n: number): number[] {
  if (n < 0x80) return [n]
  if (n < 0x100) return [0x81, n]
  return [0x82, n >> 8, n & 0xff]
}
function tlv(tag: number, body: Uint8Array): Uint8Array {
  return new Uint8Array([tag, ...derLength(body.byteLength), ...body])
}
export function derInteger(n: number): Uint8Array {
  const bytes: number[] = []
  let v = n
  do {
    bytes.unshift(v & 0xff)
    v = Math.floor(v / 256)
  } while (v > 0)
  if ((bytes[0] ?? 0) & 0x80) bytes.unshift(0)
  return tlv(0x02, new Uint8Array(bytes))
}
export function derIa5(s: string): Uint8Array {
  return tlv(0x16, new Uint8Array(Buffer.from(s, 'latin1')))
}
export function derOctetString(b: Uint8Array): Uint8Array {
  return tlv(0x04, b)
}

export interface CaKey {
  readonly keys: CryptoKeyPair
  readonly cert: x509.X509Certificate
  readonly der: Uint8Array
}

export interface SnpPki {
  readonly product: SnpProduct
  readonly ark: CaKey
  readonly ask: CaKey
  readonly asvk: CaKey
  /** The ARK's SPKI SHA-256, to pass as `extraPinnedArks`. */
  readonly arkSpkiSha256: string
  /** One VCEK/VLEK key pair, reused by every endorsement (signing reports is cheap, keygen is not). */
  readonly leafKeys: CryptoKeyPair
  readonly leafPrivateKey: KeyObject
}

export interface CaOptions {
  readonly name?: string
  readonly notBefore?: Date
  readonly notAfter?: Date
  readonly serial?: string
  readonly isCa?: boolean
  readonly keyUsage?: x509.KeyUsageFlags | null
  readonly extraExtensions?: readonly x509.Extension[]
}

/** An RSA-PSS SHA-384 CA certificate: self-signed, or signed by `issuer`. */
export async function createCa(
  keys: CryptoKeyPair,
  options: CaOptions & { readonly name: string },
  issuer?: { keys: CryptoKeyPair; cert: x509.X509Certificate },
): Promise<CaKey> {
  const extensions: x509.Extension[] = []
  if (options.isCa !== false) extensions.push(new x509.BasicConstraintsExtension(true, undefined, true))
  if (options.keyUsage !== null) {
    extensions.push(new x509.KeyUsagesExtension(options.keyUsage ?? (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign), true))
  }
  extensions.push(...(options.extraExtensions ?? []))
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: options.serial ?? '01',
    subject: amdName(options.name),
    issuer: issuer === undefined ? amdName(options.name) : issuer.cert.subject,
    notBefore: options.notBefore ?? GEN_NOT_BEFORE,
    notAfter: options.notAfter ?? GEN_NOT_AFTER,
    signingAlgorithm: RSA_PSS,
    publicKey: keys.publicKey,
    signingKey: (issuer?.keys ?? keys).privateKey,
    extensions,
  })
  return { keys, cert, der: new Uint8Array(cert.rawData) }
}

export async function rsaKeys(): Promise<CryptoKeyPair> {
  return subtle.generateKey(RSA_GEN, true, ['sign', 'verify']) as Promise<CryptoKeyPair>
}

/** Mints a product's test ARK, ASK and ASVK and one leaf key pair. ~200 ms: call once per test file. */
export async function createSnpPki(product: SnpProduct = 'Milan'): Promise<SnpPki> {
  const arkKeys = await rsaKeys()
  const ark = await createCa(arkKeys, { name: `ARK-${product}`, serial: '010000' })
  const ask = await createCa(await rsaKeys(), { name: `SEV-${product}`, serial: '010001' }, ark)
  const asvk = await createCa(await rsaKeys(), { name: `SEV-VLEK-${product}`, serial: '010101' }, ark)
  const leafKeys = (await subtle.generateKey(EC_GEN, true, ['sign', 'verify'])) as CryptoKeyPair
  const spki = new Uint8Array(await subtle.exportKey('spki', arkKeys.publicKey))
  return {
    product,
    ark,
    ask,
    asvk,
    arkSpkiSha256: sha256Hex(spki),
    leafKeys,
    leafPrivateKey: KeyObject.from(leafKeys.privateKey),
  }
}

export interface EndorsementOptions {
  readonly kind?: 'vcek' | 'vlek'
  readonly tcb?: TcbParts
  /** hwID bytes (default: the first hwID-size bytes of the default chip id); null omits the extension. */
  readonly hwId?: Uint8Array | null
  readonly hwIdEncoding?: 'raw' | 'octet-string'
  readonly productName?: string
  readonly notBefore?: Date
  readonly notAfter?: Date
  readonly serial?: string
  /** Override the signer (default: ASK for a VCEK, ASVK for a VLEK). */
  readonly signer?: { keys: CryptoKeyPair; cert: x509.X509Certificate }
  readonly subjectName?: string
  readonly leafKeys?: CryptoKeyPair
}

export const DEFAULT_CHIP_ID = new Uint8Array(64).map((_, i) => (i * 7 + 3) & 0xff)
export function defaultTcb(product: SnpProduct): TcbParts {
  return product === 'Turin' ? { bootloader: 3, tee: 0, snp: 22, microcode: 84, fmc: 1 } : { bootloader: 3, tee: 0, snp: 8, microcode: 115 }
}
export function chipIdFor(product: SnpProduct): Uint8Array {
  // Turin certifies 8 bytes of CHIP_ID; its reports carry zeros after them.
  return product === 'Turin' ? new Uint8Array(64).map((v, i) => (i < 8 ? DEFAULT_CHIP_ID[i] ?? 0 : 0)) : DEFAULT_CHIP_ID.slice()
}

/** A VCEK or VLEK with AMD's extensions, signed RSA-PSS SHA-384 by the ASK/ASVK. DER. */
export async function issueEndorsement(pki: SnpPki, options: EndorsementOptions = {}): Promise<Uint8Array> {
  const kind = options.kind ?? 'vcek'
  const product = pki.product
  const tcb = options.tcb ?? defaultTcb(product)
  const hwIdSize = product === 'Turin' ? 8 : 64
  const ext = (oid: string, value: Uint8Array): x509.Extension => new x509.Extension(oid, false, new Uint8Array(value))
  const extensions = [
    ext(AMD_OID.structVersion, derInteger(product === 'Turin' ? 1 : 0)),
    ext(AMD_OID.productName, derIa5(options.productName ?? (kind === 'vcek' ? `${product}-B0` : product))),
    ext(AMD_OID.blSpl, derInteger(tcb.bootloader)),
    ext(AMD_OID.teeSpl, derInteger(tcb.tee)),
    ext(AMD_OID.snpSpl, derInteger(tcb.snp)),
    ext(AMD_OID.ucodeSpl, derInteger(tcb.microcode)),
  ]
  if (tcb.fmc !== undefined) extensions.push(ext(AMD_OID.fmcSpl, derInteger(tcb.fmc)))
  if (kind === 'vcek' && options.hwId !== null) {
    const hw = options.hwId ?? chipIdFor(product).slice(0, hwIdSize)
    extensions.push(ext(AMD_OID.hwId, options.hwIdEncoding === 'octet-string' ? derOctetString(hw) : hw))
  }
  if (kind === 'vlek') extensions.push(ext(AMD_OID.cspId, derIa5('CN=test-csp.example')))
  const signer = options.signer ?? (kind === 'vcek' ? pki.ask : pki.asvk)
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: options.serial ?? '0a', // @peculiar/x509 replaces serial 00 with a random one
    subject: amdName(options.subjectName ?? (kind === 'vcek' ? 'SEV-VCEK' : 'SEV-VLEK')),
    issuer: signer.cert.subject,
    notBefore: options.notBefore ?? GEN_NOT_BEFORE,
    notAfter: options.notAfter ?? GEN_NOT_AFTER,
    signingAlgorithm: RSA_PSS,
    publicKey: (options.leafKeys ?? pki.leafKeys).publicKey,
    signingKey: signer.keys.privateKey,
    extensions,
  })
  return new Uint8Array(cert.rawData)
}

/** An RSA-PSS SHA-384 CRL signed by the ARK (or `signer`). DER. */
export async function issueCrl(
  pki: SnpPki,
  options: { revoked?: readonly string[]; thisUpdate?: Date; nextUpdate?: Date; signer?: CaKey } = {},
): Promise<Uint8Array> {
  const signer = options.signer ?? pki.ark
  const crl = await x509.X509CrlGenerator.create({
    issuer: signer.cert.subject,
    thisUpdate: options.thisUpdate ?? GEN_NOT_BEFORE,
    nextUpdate: options.nextUpdate ?? GEN_NOT_AFTER,
    entries: (options.revoked ?? []).map((serialNumber) => ({ serialNumber, revocationDate: GEN_NOT_BEFORE })),
    signingKey: signer.keys.privateKey,
    signingAlgorithm: RSA_PSS,
  })
  return new Uint8Array(crl.rawData)
}

/** Every field the generator writes; names and meaning as in `SnpReport`. */
export interface ReportFields {
  version: number
  guestSvn: number
  policy: bigint
  familyId: Uint8Array
  imageId: Uint8Array
  vmpl: number
  signatureAlgo: number
  currentTcb: bigint
  platformInfo: bigint
  authorKeyEn: boolean
  maskChipKey: boolean
  /** SIGNING_KEY encoding: 0 VCEK, 1 VLEK, 7 none. */
  signingKey: number
  reportData: Uint8Array
  measurement: Uint8Array
  hostData: Uint8Array
  idKeyDigest: Uint8Array
  authorKeyDigest: Uint8Array
  reportId: Uint8Array
  reportIdMa: Uint8Array
  reportedTcb: bigint
  cpuid: { family: number; model: number; stepping: number } | undefined
  chipId: Uint8Array
  committedTcb: bigint
  currentVersion: { major: number; minor: number; build: number }
  committedVersion: { major: number; minor: number; build: number }
  launchTcb: bigint
  launchMitVector: bigint | undefined
  currentMitVector: bigint | undefined
}

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v)

/** Fields of a healthy report of `product` (v3; v2 drops the CPUID), with `overrides` applied. */
export function reportFields(product: SnpProduct, overrides: Partial<ReportFields> = {}): ReportFields {
  const tcb = encodeTcb(defaultTcb(product), product)
  const version = overrides.version ?? 3
  return {
    version,
    guestSvn: 1,
    policy: (1n << BigInt(POLICY_BITS.reserved17MustBeOne)) | (1n << BigInt(POLICY_BITS.smt)),
    familyId: fill(16, 0x01),
    imageId: fill(16, 0x02),
    vmpl: 0,
    signatureAlgo: SIG_ALGO_ECDSA_P384_SHA384,
    currentTcb: tcb,
    platformInfo: 1n,
    authorKeyEn: false,
    maskChipKey: false,
    signingKey: 0,
    reportData: fill(64, 0x5d),
    measurement: fill(48, 0xa1),
    hostData: fill(32, 0x4b),
    idKeyDigest: fill(48, 0x1d),
    authorKeyDigest: fill(48, 0),
    reportId: fill(32, 0x3e),
    reportIdMa: fill(32, 0xff),
    reportedTcb: tcb,
    cpuid: version >= 3 ? GEN_CPUID[product] : undefined,
    chipId: chipIdFor(product),
    committedTcb: tcb,
    currentVersion: { major: 1, minor: 55, build: 29 },
    committedVersion: { major: 1, minor: 55, build: 29 },
    launchTcb: tcb,
    launchMitVector: version >= 5 ? 0x3n : undefined,
    currentMitVector: version >= 5 ? 0x7n : undefined,
    ...overrides,
  }
}

/** Writes `fields` through the layout table; the signature area stays zero. */
export function encodeReport(fields: ReportFields): Uint8Array {
  const out = new Uint8Array(REPORT_SIZE)
  const view = new DataView(out.buffer)
  const u32 = (f: Field, v: number): void => view.setUint32(f.at, v, true)
  const u64 = (f: Field, v: bigint): void => view.setBigUint64(f.at, v, true)
  const u8 = (f: Field, v: number): void => view.setUint8(f.at, v)
  const bytes = (f: Field, v: Uint8Array): void => {
    if (v.byteLength !== f.size) throw new Error(`generator: field at 0x${f.at.toString(16)} needs ${f.size} bytes`)
    out.set(v, f.at)
  }
  u32(REPORT.version, fields.version)
  u32(REPORT.guestSvn, fields.guestSvn)
  u64(REPORT.policy, fields.policy)
  bytes(REPORT.familyId, fields.familyId)
  bytes(REPORT.imageId, fields.imageId)
  u32(REPORT.vmpl, fields.vmpl)
  u32(REPORT.signatureAlgo, fields.signatureAlgo)
  u64(REPORT.currentTcb, fields.currentTcb)
  u64(REPORT.platformInfo, fields.platformInfo)
  u32(
    REPORT.signerInfo,
    (fields.authorKeyEn ? 1 << SIGNER_INFO.authorKeyEnBit : 0) |
      (fields.maskChipKey ? 1 << SIGNER_INFO.maskChipKeyBit : 0) |
      (fields.signingKey << SIGNER_INFO.signingKeyShift),
  )
  bytes(REPORT.reportData, fields.reportData)
  bytes(REPORT.measurement, fields.measurement)
  bytes(REPORT.hostData, fields.hostData)
  bytes(REPORT.idKeyDigest, fields.idKeyDigest)
  bytes(REPORT.authorKeyDigest, fields.authorKeyDigest)
  bytes(REPORT.reportId, fields.reportId)
  bytes(REPORT.reportIdMa, fields.reportIdMa)
  u64(REPORT.reportedTcb, fields.reportedTcb)
  if (fields.cpuid !== undefined) {
    u8(REPORT.cpuidFamId, fields.cpuid.family)
    u8(REPORT.cpuidModId, fields.cpuid.model)
    u8(REPORT.cpuidStep, fields.cpuid.stepping)
  }
  bytes(REPORT.chipId, fields.chipId)
  u64(REPORT.committedTcb, fields.committedTcb)
  u8(REPORT.currentMajor, fields.currentVersion.major)
  u8(REPORT.currentMinor, fields.currentVersion.minor)
  u8(REPORT.currentBuild, fields.currentVersion.build)
  u8(REPORT.committedMajor, fields.committedVersion.major)
  u8(REPORT.committedMinor, fields.committedVersion.minor)
  u8(REPORT.committedBuild, fields.committedVersion.build)
  u64(REPORT.launchTcb, fields.launchTcb)
  if (fields.launchMitVector !== undefined) u64(REPORT.launchMitVector, fields.launchMitVector)
  if (fields.currentMitVector !== undefined) u64(REPORT.currentMitVector, fields.currentMitVector)
  return out
}

/** Signs bytes 0x000-0x29F with ECDSA P-384/SHA-384 and stores r, s little-endian in 72-byte fields. */
export function signReport(unsigned: Uint8Array, key: KeyObject): Uint8Array {
  const out = unsigned.slice()
  const rs = sign('sha384', out.subarray(0, SIGNED_SIZE), { key, dsaEncoding: 'ieee-p1363' })
  const sigAt = REPORT.signature.at
  out.fill(0, sigAt)
  out.set(Uint8Array.from(rs.subarray(0, P384_SCALAR_SIZE)).reverse(), sigAt + SIGNATURE.r.at)
  out.set(Uint8Array.from(rs.subarray(P384_SCALAR_SIZE)).reverse(), sigAt + SIGNATURE.s.at)
  return out
}

/** `encodeReport` + `signReport` with the PKI's leaf key (or `key`). */
export function makeReport(pki: SnpPki, overrides: Partial<ReportFields> = {}, key: KeyObject = pki.leafPrivateKey): Uint8Array {
  return signReport(encodeReport(reportFields(pki.product, overrides)), key)
}
