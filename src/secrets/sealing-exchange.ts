import { ECDH, createECDH, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { p256, p521 } from '@noble/curves/nist.js'
import { calculateJwkThumbprint } from 'jose'
import { KeybrokerError } from '../errors.js'

/**
 * The key exchange behind sealing keys: the McCallum-Relyea exchange that Tang and clevis's tang
 * pin use (latchset/tang, latchset/clevis `src/pins/tang`), with keybroker in Tang's place.
 *
 * - Sealing key: private scalar `s`, public point `S = s·G`.
 * - Bind (client, offline): a JWE with `alg: ECDH-ES` to `S`; its ephemeral key `C = c·G` stays in
 *   the header and `c` is discarded. The content key derives from `x(c·S) = x(s·C)`.
 * - Recover: the client draws `E = e·G` and sends the blinded `X = C + E`; the server answers
 *   `Y = s·X`; the client computes `Z = e·S` and `K = Y − Z = s·C`, the ECDH value of the JWE.
 *
 * The server thus never sees `C` nor `s·C`: `X` is uniformly random to it. This module only does
 * the server's part, `Y = s·X`, on validated points.
 */
export type SealingCurve = 'P-256' | 'P-521'
export const SEALING_CURVES = ['P-256', 'P-521'] as const satisfies readonly SealingCurve[]

/** A public EC key as JWK, only the RFC 7638 members. */
export interface EcPublicJwk {
  readonly kty: 'EC'
  readonly crv: SealingCurve
  readonly x: string
  readonly y: string
}

export interface SealingKeyPair {
  readonly publicJwk: EcPublicJwk
  /** The private scalar, big-endian, field size; the caller seals it at rest and wipes it. */
  readonly d: Uint8Array
}

const CURVES = {
  // `oid`: the DER of the named curve's OBJECT IDENTIFIER (RFC 5480 §2.1.1.1).
  'P-256': { noble: p256, node: 'prime256v1', bytes: 32, oid: '06082a8648ce3d030107' },
  'P-521': { noble: p521, node: 'secp521r1', bytes: 66, oid: '06052b81040023' },
} as const

/** DER of the id-ecPublicKey OBJECT IDENTIFIER (RFC 5480 §2.1.1). */
const ID_EC_PUBLIC_KEY = '06072a8648ce3d0201'

type NoblePoint = ReturnType<typeof p256.Point.fromAffine>

/** Generates a sealing key pair on `curve` (node:crypto, OpenSSL's generator). */
export function generateSealingKeyPair(curve: SealingCurve): SealingKeyPair {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: CURVES[curve].node })
  const jwk = privateKey.export({ format: 'jwk' })
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string' || typeof jwk.d !== 'string') {
    throw new KeybrokerError('internal', 'cannot export the generated sealing key')
  }
  const d = new Uint8Array(Buffer.from(jwk.d, 'base64url'))
  return { publicJwk: { kty: 'EC', crv: curve, x: jwk.x, y: jwk.y }, d }
}

/** RFC 7638 thumbprint (SHA-256, base64url) of an EC public key: the `kid` of an exchange key. */
export function exchangeKeyThumbprint(jwk: EcPublicJwk): Promise<string> {
  return calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, 'sha256')
}

/**
 * Validates a client's exchange point (`X`, untrusted JSON already shaped as strings) for
 * `curve`: coordinates of exactly the field size in canonical base64url, a point on the curve,
 * not the point at infinity (which has no affine encoding anyway).
 * @throws KeybrokerError `key-unsupported` naming the failed check.
 */
export function parseExchangePoint(jwk: { readonly kty?: unknown; readonly crv?: unknown; readonly x?: unknown; readonly y?: unknown }, curve: SealingCurve): EcPublicJwk {
  if (jwk.kty !== 'EC') reject('exchange key: kty must be "EC"')
  if (jwk.crv !== curve) reject(`exchange key: crv must be "${curve}", the curve of the sealing key`)
  const x = coordinate(jwk.x, 'x', curve)
  const y = coordinate(jwk.y, 'y', curve)
  pointOf({ kty: 'EC', crv: curve, x, y })
  return { kty: 'EC', crv: curve, x, y }
}

/**
 * A sealing key version's private scalar imported once into OpenSSL, its key pair checked:
 * what {@link exchangeWith} multiplies with. P-256 through `createECDH` (OpenSSL's P-256 code
 * makes the d·G of `setPrivateKey` nearly free); P-521 through a KeyObject imported as DER,
 * cheaper there than `createECDH`, whose `computeSecret` also checks the peer key (valgrind,
 * Node 20 / OpenSSL 3.0). On P-521 importing costs a d·G and the pair check another, as much as
 * the recovery's own two ECDH: a service keeps the imported key (see `recoverDiskKey`).
 */
export interface ExchangeKey {
  readonly publicJwk: EcPublicJwk
  /** `x(d·A)` and `x(d·B)` by OpenSSL. */
  readonly ecdhPair: (a: NoblePoint, b: NoblePoint) => [Uint8Array, Uint8Array]
}

/**
 * Imports `d` (big-endian, field size; not retained, the caller wipes it) for `publicJwk`.
 * @throws KeybrokerError `internal` when the key pair is inconsistent (a storage or caller bug).
 */
export function importExchangeKey(d: Uint8Array, publicJwk: EcPublicJwk): ExchangeKey {
  const curve = publicJwk.crv
  if (curve === 'P-256') {
    const ecdh = createECDH(CURVES[curve].node)
    ecdh.setPrivateKey(d)
    if (!equalPublic(ecdh.getPublicKey(), pointOf(publicJwk).toBytes(false))) throw new KeybrokerError('internal', 'sealing key pair is inconsistent')
    return { publicJwk, ecdhPair: (a, b) => [ecdh.computeSecret(a.toBytes(false)), ecdh.computeSecret(b.toBytes(false))] }
  }
  const privateKey = checkPair(curve, d, publicJwk)
  return {
    publicJwk,
    ecdhPair: (a, b) => [
      diffieHellman({ privateKey, publicKey: publicKeyOf(curve, a) }),
      diffieHellman({ privateKey, publicKey: publicKeyOf(curve, b) }),
    ],
  }
}

/**
 * The server's step of the exchange with a freshly imported key ({@link importExchangeKey},
 * then {@link exchangeWith}).
 * @param d the private scalar (big-endian, field size); not retained.
 * @throws KeybrokerError `internal` when the key pair is inconsistent (a storage or caller bug).
 */
export function exchange(d: Uint8Array, publicJwk: EcPublicJwk, point: EcPublicJwk): EcPublicJwk {
  return exchangeWith(importExchangeKey(d, publicJwk), point)
}

/**
 * The server's step of the exchange: `Y = s·X` as a full point (both coordinates: the client
 * subtracts `e·S` from it, so the sign of `y` matters).
 *
 * node:crypto's ECDH (OpenSSL, constant time) yields only `x(s·X)`. The sign of `y` is recovered
 * with a second ECDH: `x(s·(X + G)) = x(Y + S)`, and of the two points with `x = x(s·X)` exactly
 * one, `Y`, satisfies it (the other, `−Y`, would need `2Y = O` or `S = −S`, impossible in a group
 * of prime order). Where `X + G` is the point at infinity (`X = −G`), `Y = s·(−G) = −S`. OpenSSL
 * decompresses the candidate (`ECDH.convertKey`: the square root in C rather than in bigint
 * arithmetic), and the check compares projective coordinates (no field inversion).
 * @param point `X`, validated by {@link parseExchangePoint}.
 * @throws KeybrokerError `internal` when `point` is on another curve than the key.
 */
export function exchangeWith(key: ExchangeKey, point: EcPublicJwk): EcPublicJwk {
  const curve = key.publicJwk.crv
  if (point.crv !== curve) throw new KeybrokerError('internal', 'exchange point on another curve than the sealing key')
  const { noble, node, bytes } = CURVES[curve]
  const S = pointOf(key.publicJwk)
  const X = pointOf(point)
  const XG = X.add(noble.Point.BASE)
  if (XG.is0()) return jwkOf(curve, S.negate())
  const [x1, x2] = key.ecdhPair(X, XG)
  // Decompress x1 (SEC 1 §2.3.4: prefix 0x02, even y); OpenSSL checks it is on the curve.
  const x = padTo(x1, bytes)
  const uncompressed = new Uint8Array(ECDH.convertKey(Buffer.concat([Uint8Array.of(0x02), x]), node, undefined, undefined, 'uncompressed') as Buffer)
  const sum = noble.Point.fromBytes(uncompressed).add(S)
  // candidate + S = O means candidate = −S; then Y = S (X = G), the other root.
  // x(sum) = X/Z in projective coordinates: X is compared with x2·Z.
  const { Fp } = noble.Point
  const isY = !sum.is0() && Fp.eql(sum.X, Fp.mul(bytesToBig(padTo(x2, bytes)), sum.Z))
  // Y is the candidate (x, even y) or its negation (x, p − y): written from the bytes, no inversion.
  const yEven = uncompressed.subarray(1 + bytes)
  const y = isY ? yEven : bigToBytes(Fp.neg(bytesToBig(yEven)), bytes)
  return { kty: 'EC', crv: curve, x: Buffer.from(x).toString('base64url'), y: Buffer.from(y).toString('base64url') }
}

/** `d` as an OpenSSL key, after checking that OpenSSL's d·G is `publicJwk`. */
function checkPair(curve: SealingCurve, d: Uint8Array, publicJwk: EcPublicJwk): KeyObject {
  const privateKey = privateKeyOf(curve, d)
  const derived = createPublicKey(privateKey).export({ format: 'jwk' })
  if (derived.x !== publicJwk.x || derived.y !== publicJwk.y) throw new KeybrokerError('internal', 'sealing key pair is inconsistent')
  return privateKey
}

/**
 * `d` as an OpenSSL private key: SEC 1 §C.4 ECPrivateKey DER {version 1, privateKey, parameters
 * [0] the named curve}, without the public key, so OpenSSL computes it from `d`. DER, not JWK:
 * OpenSSL's JWK import checks the key pair with a variable-base multiplication (~40 % of an ECDH
 * on P-521). The DER holding `d` is wiped once imported.
 */
function privateKeyOf(curve: SealingCurve, d: Uint8Array): KeyObject {
  const { oid, bytes } = CURVES[curve]
  if (d.byteLength !== bytes) throw new KeybrokerError('internal', `sealing key scalar is not ${bytes} bytes`)
  const scalar = derTlv(0x04, d)
  const der = derTlv(0x30, Buffer.from('020101', 'hex'), scalar, derTlv(0xa0, Buffer.from(oid, 'hex')))
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'sec1' })
  } finally {
    scalar.fill(0)
    der.fill(0)
  }
}

/** A validated point as an OpenSSL public key: RFC 5480 SubjectPublicKeyInfo DER, uncompressed point. */
function publicKeyOf(curve: SealingCurve, point: NoblePoint): KeyObject {
  const { oid } = CURVES[curve]
  const algorithm = derTlv(0x30, Buffer.from(ID_EC_PUBLIC_KEY, 'hex'), Buffer.from(oid, 'hex'))
  const key = derTlv(0x30, algorithm, derTlv(0x03, Uint8Array.of(0), point.toBytes(false)))
  return createPublicKey({ key, format: 'der', type: 'spki' })
}

/** One DER TLV (X.690 §8.1.3 definite length; our contents stay below 64 KiB). The joined copy of the contents is wiped. */
function derTlv(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents)
  const n = body.byteLength
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff]
  const out = Buffer.concat([Uint8Array.of(tag, ...length), body])
  body.fill(0)
  return out
}

function pointOf(jwk: EcPublicJwk): NoblePoint {
  const { noble } = CURVES[jwk.crv]
  try {
    const p = noble.Point.fromAffine({ x: bytesToBig(Buffer.from(jwk.x, 'base64url')), y: bytesToBig(Buffer.from(jwk.y, 'base64url')) })
    p.assertValidity()
    return p
  } catch (cause) {
    throw new KeybrokerError('key-unsupported', 'exchange key is not a point on the curve', { cause })
  }
}

function jwkOf(curve: SealingCurve, point: NoblePoint): EcPublicJwk {
  const { bytes } = CURVES[curve]
  const { x, y } = point.toAffine()
  return {
    kty: 'EC',
    crv: curve,
    x: Buffer.from(bigToBytes(x, bytes)).toString('base64url'),
    y: Buffer.from(bigToBytes(y, bytes)).toString('base64url'),
  }
}

function coordinate(value: unknown, name: 'x' | 'y', curve: SealingCurve): string {
  const size = CURVES[curve].bytes
  const length = Math.ceil((size * 4) / 3)
  if (typeof value !== 'string' || value.length !== length || !/^[A-Za-z0-9_-]+$/.test(value)) {
    reject(`exchange key: "${name}" must be base64url of ${size} bytes`)
  }
  // One key, one text: no stray bits in the last character (RFC 7518 §6.2.1.2 fixed size).
  if (Buffer.from(value, 'base64url').toString('base64url') !== value) reject(`exchange key: "${name}" is not canonical base64url`)
  return value
}

function bytesToBig(bytes: Uint8Array): bigint {
  return bytes.byteLength === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`)
}

function bigToBytes(value: bigint, size: number): Uint8Array {
  return new Uint8Array(Buffer.from(value.toString(16).padStart(size * 2, '0'), 'hex'))
}

/** OpenSSL returns the ECDH x-coordinate at field size already; this only guards the assumption. */
function padTo(bytes: Uint8Array, size: number): Uint8Array {
  if (bytes.byteLength === size) return bytes
  if (bytes.byteLength > size) throw new KeybrokerError('internal', 'ECDH output longer than the field')
  const out = new Uint8Array(size)
  out.set(bytes, size - bytes.byteLength)
  return out
}

function equalPublic(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b))
}

function reject(detail: string): never {
  throw new KeybrokerError('key-unsupported', detail)
}
