/**
 * AMD SEV certificates in AMD's own binary format (SEV API spec 55766, Appendix C): the platform
 * certificates PDH, PEK, OCA, CEK (and the guest owner's GODH), and the AMD CA certificates ARK,
 * ASK. Parsing is strict (sizes, enums, reserved bytes); signatures are checked with node:crypto.
 *
 * Encoding facts, as virtee/sev@9cf2adbffa209cc5becf7ff89ffdf624e7278ced implements them:
 * - every integer, coordinate, exponent, modulus and signature is little-endian
 *   (`src/certs/sev/util.rs` `FromLe`, `AsLeBytes`);
 * - RSA signatures are RSASSA-PSS with a salt as long as the digest (`src/certs/sev/crypto.rs`,
 *   `RsaPssSaltlen::DIGEST_LENGTH`); ECDSA signatures are R ‖ S, 72 bytes each;
 * - the digest comes from the algorithm id (0x1/0x2/0x3: SHA-256, 0x101/0x102/0x103: SHA-384),
 *   not from the curve: the Naples PEK signs with ECDSA P-384 and SHA-256;
 * - CA certificates use SHA-256 with 2048-bit keys and SHA-384 with 4096-bit keys
 *   (`src/certs/sev/ca/cert/v1.rs`, `Size::Small | Large`).
 */
import { createHash, createPublicKey, verify as verifySignature, constants, type KeyObject } from 'node:crypto'
import { EvidenceError } from '../errors.js'
import { ByteReader, isZero, toBase64Url } from '../evidence/reader.js'
import {
  CA_CERT_PREAMBLE,
  CA_CERT_PREAMBLE_SIZE,
  ECC_PUBKEY,
  ECC_PUBKEY_RESERVED,
  ECDSA_SIG,
  ECDSA_SIG_RESERVED,
  PLATFORM_CERT,
  PLATFORM_CERT_SIGNED_SIZE,
  PLATFORM_CERT_SIZE,
  RSA_PUBKEY,
  SIGNATURE_SLOT,
  view,
} from './layout.js'

/** Key usages (Appendix C, "Key Usage"; virtee/sev `certs::sev::Usage`). */
export const KEY_USAGE = { ARK: 0x0000, ASK: 0x0013, OCA: 0x1001, PEK: 0x1002, PDH: 0x1003, CEK: 0x1004 } as const
export type KeyUsage = keyof typeof KEY_USAGE
/** The usage of an unused signature slot. */
export const USAGE_INVALID = 0x1000

/** Algorithms (Appendix C, "Algorithm"; virtee/sev `sev::cert::v1::algo::Algorithm`). */
export const ALGORITHM = {
  RSA_SHA256: 0x0001,
  ECDSA_SHA256: 0x0002,
  ECDH_SHA256: 0x0003,
  RSA_SHA384: 0x0101,
  ECDSA_SHA384: 0x0102,
  ECDH_SHA384: 0x0103,
} as const
export type Algorithm = keyof typeof ALGORITHM

type Hash = 'sha256' | 'sha384'
const ALGORITHM_INFO: Readonly<Record<Algorithm, { readonly kind: 'rsa' | 'ecdsa' | 'ecdh'; readonly hash: Hash }>> = {
  RSA_SHA256: { kind: 'rsa', hash: 'sha256' },
  ECDSA_SHA256: { kind: 'ecdsa', hash: 'sha256' },
  ECDH_SHA256: { kind: 'ecdh', hash: 'sha256' },
  RSA_SHA384: { kind: 'rsa', hash: 'sha384' },
  ECDSA_SHA384: { kind: 'ecdsa', hash: 'sha384' },
  ECDH_SHA384: { kind: 'ecdh', hash: 'sha384' },
}

/** ECC curve ids of Appendix C.2.2 and their coordinate sizes. */
const CURVES: Readonly<Record<number, { readonly name: 'P-256' | 'P-384'; readonly size: number }>> = {
  1: { name: 'P-256', size: 32 },
  2: { name: 'P-384', size: 48 },
}
const RSA_BITS: readonly number[] = [2048, 4096]

export type SevPublicKey =
  | { readonly kind: 'ec'; readonly curve: 'P-256' | 'P-384'; readonly x: Uint8Array; readonly y: Uint8Array }
  | { readonly kind: 'rsa'; readonly bits: number; readonly n: Uint8Array; readonly e: Uint8Array }

/** A used signature slot, its value as stored (512 bytes, little-endian pieces). */
export interface SignatureSlot {
  readonly usage: KeyUsage
  readonly algorithm: Algorithm
  readonly value: Uint8Array
}

/** A parsed platform certificate: PDH, PEK, OCA or CEK (or a GODH). */
export interface PlatformCertificate {
  readonly usage: 'OCA' | 'PEK' | 'PDH' | 'CEK'
  readonly algorithm: Algorithm
  readonly apiMajor: number
  readonly apiMinor: number
  readonly key: SevPublicKey
  readonly publicKey: KeyObject
  /** The used slots (zero, one or two). */
  readonly signatures: readonly SignatureSlot[]
  /** The certificate, 0x824 bytes (a copy). */
  readonly bytes: Uint8Array
}

/** A parsed AMD CA certificate: ARK (self-signed) or ASK (signed by the ARK). */
export interface CaCertificate {
  readonly usage: 'ARK' | 'ASK'
  readonly keyId: Uint8Array
  readonly certifyingId: Uint8Array
  readonly bits: number
  readonly publicKey: KeyObject
  /** SHA-256 of the key's DER SubjectPublicKeyInfo, lowercase hex: what roots are pinned by. */
  readonly spkiSha256: string
  readonly hash: Hash
  /** Preamble, exponent and modulus: what the signature covers. */
  readonly signed: Uint8Array
  /** The signature, big-endian (as stored, reversed). */
  readonly signature: Uint8Array
  /** The whole certificate (a copy). */
  readonly bytes: Uint8Array
}

const USAGE_BY_VALUE: ReadonlyMap<number, KeyUsage> = new Map(Object.entries(KEY_USAGE).map(([k, v]) => [v, k as KeyUsage]))
const ALGORITHM_BY_VALUE: ReadonlyMap<number, Algorithm> = new Map(Object.entries(ALGORITHM).map(([k, v]) => [v, k as Algorithm]))

function u32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true)
}

/** Little-endian bytes `le[0..size)` as big-endian; the bytes from `size` on must be zero. */
function leToBe(le: Uint8Array, size: number): Uint8Array | undefined {
  if (!isZero(le, size)) return undefined
  return le.slice(0, size).reverse()
}

function malformed(field: string, what: string): EvidenceError {
  return new EvidenceError('evidence-malformed', `${field}: ${what}`)
}

/** A public key as node:crypto's KeyObject; a point off the curve or a bad RSA key is malformed. */
function keyObject(key: SevPublicKey, field: string): KeyObject {
  try {
    return key.kind === 'ec'
      ? createPublicKey({ key: { kty: 'EC', crv: key.curve, x: toBase64Url(key.x), y: toBase64Url(key.y) }, format: 'jwk' })
      : createPublicKey({ key: { kty: 'RSA', n: toBase64Url(key.n), e: toBase64Url(key.e) }, format: 'jwk' })
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', `${field}: not a valid ${key.kind === 'ec' ? key.curve + ' point' : 'RSA key'}`, { cause })
  }
}

/** SHA-256 of the DER SubjectPublicKeyInfo, hex. */
export function spkiSha256(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex')
}

function parseEccKey(field: Uint8Array, name: string): SevPublicKey {
  const curveId = u32(field, ECC_PUBKEY.curve.at)
  const curve = CURVES[curveId]
  if (curve === undefined) throw new EvidenceError('evidence-unsupported', `${name}.curve: curve id ${curveId} is not P-256 (1) or P-384 (2)`)
  const x = leToBe(view(field, ECC_PUBKEY.qx), curve.size)
  const y = leToBe(view(field, ECC_PUBKEY.qy), curve.size)
  if (x === undefined) throw malformed(`${name}.qx`, `bytes beyond the ${curve.name} coordinate size are not zero`)
  if (y === undefined) throw malformed(`${name}.qy`, `bytes beyond the ${curve.name} coordinate size are not zero`)
  if (!isZero(field, ECC_PUBKEY_RESERVED[0], ECC_PUBKEY_RESERVED[1])) throw malformed(`${name}.reserved`, 'not zero')
  return { kind: 'ec', curve: curve.name, x, y }
}

function parseRsaKey(field: Uint8Array, name: string): SevPublicKey {
  const bits = u32(field, RSA_PUBKEY.modulusSize.at)
  if (!RSA_BITS.includes(bits)) throw new EvidenceError('evidence-unsupported', `${name}.modulusSize: ${bits} bits (2048 or 4096 expected)`)
  const e = leToBe(view(field, RSA_PUBKEY.pubExp), bits / 8)
  const n = leToBe(view(field, RSA_PUBKEY.modulus), bits / 8)
  if (e === undefined) throw malformed(`${name}.pubExp`, 'bytes beyond the modulus size are not zero')
  if (n === undefined) throw malformed(`${name}.modulus`, 'bytes beyond the modulus size are not zero')
  return { kind: 'rsa', bits, n, e }
}

function parseSignatureSlot(slot: Uint8Array, name: string): SignatureSlot | undefined {
  const usageValue = u32(slot, SIGNATURE_SLOT.usage.at)
  const algoValue = u32(slot, SIGNATURE_SLOT.algo.at)
  const value = view(slot, SIGNATURE_SLOT.value)
  if (usageValue === USAGE_INVALID && algoValue === 0) {
    // An unused slot (virtee/sev `Signature::default()`): nothing may hide in it.
    if (!isZero(value)) throw malformed(`${name}.value`, 'an unused signature slot is not zero')
    return undefined
  }
  const usage = USAGE_BY_VALUE.get(usageValue)
  if (usage === undefined || usage === 'PDH' || usage === 'ARK') throw malformed(`${name}.usage`, `0x${usageValue.toString(16)} is not a signing key usage`)
  const algorithm = ALGORITHM_BY_VALUE.get(algoValue)
  if (algorithm === undefined || ALGORITHM_INFO[algorithm].kind === 'ecdh') throw malformed(`${name}.algo`, `0x${algoValue.toString(16)} is not a signature algorithm`)
  if (ALGORITHM_INFO[algorithm].kind === 'ecdsa' && !isZero(value, ECDSA_SIG_RESERVED[0], ECDSA_SIG_RESERVED[1])) {
    throw malformed(`${name}.reserved`, 'bytes after R and S are not zero')
  }
  return { usage, algorithm, value: value.slice() }
}

const PLATFORM_USAGES: readonly PlatformCertificate['usage'][] = ['OCA', 'PEK', 'PDH', 'CEK']

/**
 * Parses one platform certificate (exactly 0x824 bytes). `name` prefixes every error's field
 * (`PDH.pubKeyUsage`, `PEK.sig2.algo`, …).
 * @throws EvidenceError `evidence-malformed` (size, enum, reserved bytes, a key that is not a key),
 *   `evidence-unsupported` (version, curve, RSA size)
 */
export function parsePlatformCertificate(bytes: Uint8Array, name: string): PlatformCertificate {
  if (bytes.byteLength !== PLATFORM_CERT_SIZE) throw malformed(name, `${bytes.byteLength} bytes, a certificate is ${PLATFORM_CERT_SIZE}`)
  const cert = bytes.slice()
  const version = u32(cert, PLATFORM_CERT.version.at)
  if (version !== 1) throw new EvidenceError('evidence-unsupported', `${name}.version: ${version} (only version 1 exists)`)
  if (!isZero(view(cert, PLATFORM_CERT.reserved))) throw malformed(`${name}.reserved`, 'not zero')
  const usageValue = u32(cert, PLATFORM_CERT.pubKeyUsage.at)
  const usage = USAGE_BY_VALUE.get(usageValue)
  if (usage === undefined || !PLATFORM_USAGES.includes(usage as PlatformCertificate['usage'])) {
    throw malformed(`${name}.pubKeyUsage`, `0x${usageValue.toString(16)} is not OCA, PEK, PDH or CEK`)
  }
  const algoValue = u32(cert, PLATFORM_CERT.pubKeyAlgo.at)
  const algorithm = ALGORITHM_BY_VALUE.get(algoValue)
  if (algorithm === undefined) throw malformed(`${name}.pubKeyAlgo`, `0x${algoValue.toString(16)} is not an algorithm`)
  const kind = ALGORITHM_INFO[algorithm].kind
  // The PDH is the key-agreement key; every other platform key signs (Appendix C, key usage table).
  if ((usage === 'PDH') !== (kind === 'ecdh')) throw malformed(`${name}.pubKeyAlgo`, `${algorithm} does not fit a ${usage} key`)
  const keyField = view(cert, PLATFORM_CERT.pubKey)
  const key = kind === 'rsa' ? parseRsaKey(keyField, `${name}.pubKey`) : parseEccKey(keyField, `${name}.pubKey`)
  const signatures = [parseSignatureSlot(view(cert, PLATFORM_CERT.sig1), `${name}.sig1`), parseSignatureSlot(view(cert, PLATFORM_CERT.sig2), `${name}.sig2`)]
  return {
    usage: usage as PlatformCertificate['usage'],
    algorithm,
    apiMajor: cert[PLATFORM_CERT.apiMajor.at]!,
    apiMinor: cert[PLATFORM_CERT.apiMinor.at]!,
    key,
    publicKey: keyObject(key, `${name}.pubKey`),
    signatures: signatures.filter((s): s is SignatureSlot => s !== undefined),
    bytes: cert,
  }
}

/**
 * Reads one AMD CA certificate (ARK or ASK) from `reader`: the preamble gives the key size,
 * which fixes the length of what follows.
 * @throws EvidenceError `evidence-malformed` / `evidence-unsupported`
 */
export function readCaCertificate(reader: ByteReader, name: string): CaCertificate {
  const preamble = reader.bytes(CA_CERT_PREAMBLE_SIZE, `${name} preamble`)
  const version = u32(preamble, CA_CERT_PREAMBLE.version.at)
  if (version !== 1) throw new EvidenceError('evidence-unsupported', `${name}.version: ${version} (only version 1 exists)`)
  const usageValue = u32(preamble, CA_CERT_PREAMBLE.keyUsage.at)
  const usage = USAGE_BY_VALUE.get(usageValue)
  if (usage !== 'ARK' && usage !== 'ASK') throw malformed(`${name}.keyUsage`, `0x${usageValue.toString(16)} is not ARK (0x0) or ASK (0x13)`)
  if (!isZero(view(preamble, CA_CERT_PREAMBLE.reserved))) throw malformed(`${name}.reserved`, 'not zero')
  const pubExpBits = u32(preamble, CA_CERT_PREAMBLE.pubExpSize.at)
  const bits = u32(preamble, CA_CERT_PREAMBLE.modulusSize.at)
  // virtee/sev `Preamble::size`: the exponent field is as wide as the modulus, 2048 or 4096 bits.
  if (!RSA_BITS.includes(bits)) throw new EvidenceError('evidence-unsupported', `${name}.modulusSize: ${bits} bits (2048 or 4096 expected)`)
  if (pubExpBits !== bits) throw malformed(`${name}.pubExpSize`, `${pubExpBits} bits, not the modulus size ${bits}`)
  const size = bits / 8
  const pubExp = reader.bytes(size, `${name}.pubExp`)
  const modulus = reader.bytes(size, `${name}.modulus`)
  const signature = reader.bytes(size, `${name}.signature`)
  const publicKey = keyObject({ kind: 'rsa', bits, n: modulus.slice().reverse(), e: pubExp.slice().reverse() }, `${name}.modulus`)
  const bytes = new Uint8Array(Buffer.concat([preamble, pubExp, modulus, signature]))
  return {
    usage,
    keyId: view(preamble, CA_CERT_PREAMBLE.keyId).slice(),
    certifyingId: view(preamble, CA_CERT_PREAMBLE.certifyingId).slice(),
    bits,
    publicKey,
    spkiSha256: spkiSha256(publicKey),
    hash: bits === 2048 ? 'sha256' : 'sha384',
    signed: bytes.slice(0, CA_CERT_PREAMBLE_SIZE + 2 * size),
    signature: signature.reverse(),
    bytes,
  }
}

/** Parses a file holding exactly one CA certificate (AMD's `ark.cert`, `ask.cert`). */
export function parseCaCertificate(bytes: Uint8Array, name: string): CaCertificate {
  const reader = new ByteReader(bytes)
  const cert = readCaCertificate(reader, name)
  reader.end(name)
  return cert
}

function rsaPssVerify(hash: Hash, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  // Callers pass a signature exactly as long as the modulus, so node:crypto answers false, never throws.
  return verifySignature(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: hash === 'sha256' ? 32 : 48 }, signature)
}

/** True when `signer` (an ARK) signed the CA certificate `subject` (its own, or the ASK). */
export function isCaSignedBy(subject: CaCertificate, signer: CaCertificate): boolean {
  if (signer.usage !== 'ARK' || Buffer.compare(subject.certifyingId, signer.keyId) !== 0 || subject.hash !== signer.hash) return false
  return rsaPssVerify(signer.hash, signer.publicKey, subject.signed, subject.signature)
}

/** The signer of a platform certificate: another platform certificate, or the ASK (for the CEK). */
export type CertificateSigner = PlatformCertificate | CaCertificate

/** What verifying a signature needs to know of its signer: its algorithm and key size. */
function signerInfo(signer: CertificateSigner): { readonly algorithm: Algorithm; readonly rsaBytes?: number; readonly ecBytes?: number } {
  if ('algorithm' in signer) {
    const key = signer.key
    return key.kind === 'rsa' ? { algorithm: signer.algorithm, rsaBytes: key.bits / 8 } : { algorithm: signer.algorithm, ecBytes: key.curve === 'P-384' ? 48 : 32 }
  }
  return { algorithm: signer.hash === 'sha256' ? 'RSA_SHA256' : 'RSA_SHA384', rsaBytes: signer.bits / 8 }
}

/** The slot's signature as node:crypto verifies it (big-endian; ECDSA as R ‖ S), if it fits the signer's key. */
function slotSignature(slot: SignatureSlot, signer: ReturnType<typeof signerInfo>): Uint8Array | undefined {
  if (signer.rsaBytes !== undefined) return leToBe(slot.value, signer.rsaBytes)
  if (signer.ecBytes === undefined) return undefined
  const r = leToBe(view(slot.value, ECDSA_SIG.r), signer.ecBytes)
  const s = leToBe(view(slot.value, ECDSA_SIG.s), signer.ecBytes)
  return r === undefined || s === undefined ? undefined : new Uint8Array(Buffer.concat([r, s]))
}

/**
 * True when `signer` signed `subject`: a used slot names the signer's usage and algorithm
 * (virtee/sev `PublicKey::verify`: usage, key kind and digest must all match) and its signature
 * over bytes 0x000-0x413 verifies under the signer's key.
 */
export function isPlatformSignedBy(subject: PlatformCertificate, signer: CertificateSigner): boolean {
  const info = signerInfo(signer)
  const { kind, hash } = ALGORITHM_INFO[info.algorithm]
  if (kind === 'ecdh') return false
  const data = subject.bytes.subarray(0, PLATFORM_CERT_SIGNED_SIZE)
  return subject.signatures.some((slot) => {
    if (slot.usage !== signer.usage || slot.algorithm !== info.algorithm) return false
    const signature = slotSignature(slot, info)
    if (signature === undefined) return false
    if (kind === 'rsa') return rsaPssVerify(hash, signer.publicKey, data, signature)
    return verifySignature(hash, data, { key: signer.publicKey, dsaEncoding: 'ieee-p1363' }, signature)
  })
}

/** SHA-256 of `bytes`, lowercase hex (certificates are named by digest). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}
