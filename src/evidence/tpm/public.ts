/**
 * TPMT_PUBLIC of RSA and ECC keys (TPM 2.0 Library Part 2 rev. 1.59, §12.2.4 TPMT_PUBLIC,
 * §12.2.3.5 TPMS_RSA_PARMS, §12.2.3.6 TPMS_ECC_PARMS), its Name (Part 1 §16: nameAlg ‖
 * H_nameAlg(TPMT_PUBLIC)) and the public key it holds.
 *
 * | field            | RSA                                         | ECC                                  |
 * |------------------|---------------------------------------------|--------------------------------------|
 * | type             | TPM_ALG_RSA 0x0001                          | TPM_ALG_ECC 0x0023                   |
 * | nameAlg          | TPMI_ALG_HASH                               |                                      |
 * | objectAttributes | TPMA_OBJECT (u32)                           |                                      |
 * | authPolicy       | TPM2B_DIGEST (≤ 64)                         |                                      |
 * | parameters       | symmetric, scheme, keyBits u16, exponent u32| symmetric, scheme, curveID, kdf      |
 * | unique           | TPM2B_PUBLIC_KEY_RSA (≤ 512)                | TPMS_ECC_POINT: x, y TPM2B (≤ 66)    |
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { ByteReader, toBase64Url } from '../reader.js'
import { hashByAlg, MAX_DIGEST_SIZE, TPM_ALG, TPM_ECC_CURVES, TPMA_OBJECT, TPMA_OBJECT_RESERVED, type TpmHash } from './algorithms.js'
import { concatBytes, readTpm2b, u16be } from './marshal.js'

export const MAX_PUBLIC_SIZE = 1024

export interface TpmSymmetric {
  /** TPM_ALG_NULL, or e.g. TPM_ALG_AES. */
  readonly algorithm: number
  readonly keyBits: number
  readonly mode: number
}

export interface TpmPublic {
  /** The marshaled TPMT_PUBLIC, exactly as hashed into the Name. */
  readonly bytes: Uint8Array
  readonly type: 'rsa' | 'ecc'
  readonly nameAlg: TpmHash
  readonly objectAttributes: number
  readonly authPolicy: Uint8Array
  readonly symmetric: TpmSymmetric
  /** Signing or decryption scheme (TPM_ALG_NULL when any is allowed) and its hash, if any. */
  readonly scheme: { readonly alg: number; readonly hash: number | undefined }
  /** RSA modulus bits, or the curve name for ECC. */
  readonly keyBits: number | undefined
  readonly curve: string | undefined
  /** TPM Name: nameAlg (u16) ‖ H_nameAlg(bytes). */
  readonly name: Uint8Array
  readonly publicKey: KeyObject
}

function readSymmetric(r: ByteReader): TpmSymmetric {
  const algorithm = r.u16be('public.symmetric.algorithm')
  if (algorithm === TPM_ALG.null) return { algorithm, keyBits: 0, mode: TPM_ALG.null }
  return { algorithm, keyBits: r.u16be('public.symmetric.keyBits'), mode: r.u16be('public.symmetric.mode') }
}

/** Schemes whose details are a single hash (TPMS_SCHEME_HASH); ECDAA adds a count; RSAES has none. */
const HASH_SCHEMES: ReadonlySet<number> = new Set([TPM_ALG.rsassa, TPM_ALG.rsapss, TPM_ALG.oaep, TPM_ALG.ecdsa, TPM_ALG.ecdh, TPM_ALG.sm2, TPM_ALG.ecschnorr])

function readScheme(r: ByteReader): { alg: number; hash: number | undefined } {
  const alg = r.u16be('public.scheme')
  if (alg === TPM_ALG.null || alg === TPM_ALG.rsaes) return { alg, hash: undefined }
  if (alg === TPM_ALG.ecdaa) {
    const hash = r.u16be('public.scheme.hashAlg')
    r.u16be('public.scheme.count')
    return { alg, hash }
  }
  if (!HASH_SCHEMES.has(alg)) throw new EvidenceError('evidence-unsupported', `public: scheme 0x${alg.toString(16)} unsupported`)
  return { alg, hash: r.u16be('public.scheme.hashAlg') }
}

/**
 * Parses a TPMT_PUBLIC of an RSA or ECC key and builds its node:crypto public key.
 * @throws `evidence-malformed` (sizes, reserved attribute bits, trailing bytes, a key node
 *   cannot import); `evidence-unsupported` (KEYEDHASH/SYMCIPHER objects, unknown curves or hashes)
 */
export function parsePublic(bytes: Uint8Array): TpmPublic {
  if (bytes.byteLength > MAX_PUBLIC_SIZE) throw new EvidenceError('evidence-malformed', 'public: too large')
  const r = new ByteReader(bytes)
  const typeId = r.u16be('public.type')
  if (typeId !== TPM_ALG.rsa && typeId !== TPM_ALG.ecc) {
    throw new EvidenceError('evidence-unsupported', `public: object type 0x${typeId.toString(16)} is not RSA or ECC`)
  }
  const nameAlg = hashByAlg(r.u16be('public.nameAlg'), 'public.nameAlg')
  const objectAttributes = r.u32be('public.objectAttributes')
  if ((objectAttributes & TPMA_OBJECT_RESERVED) !== 0) throw new EvidenceError('evidence-malformed', 'public.objectAttributes: reserved bits set')
  const authPolicy = readTpm2b(r, 'public.authPolicy', MAX_DIGEST_SIZE)
  const symmetric = readSymmetric(r)
  const scheme = readScheme(r)
  let jwk: Record<string, string>
  let keyBits: number | undefined
  let curve: string | undefined
  if (typeId === TPM_ALG.rsa) {
    keyBits = r.u16be('public.keyBits')
    const exponent = r.u32be('public.exponent')
    const modulus = readTpm2b(r, 'public.unique.rsa', 512)
    if (modulus.byteLength * 8 !== keyBits) throw new EvidenceError('evidence-malformed', 'public: modulus size differs from keyBits')
    const e = exponent === 0 ? 65537 : exponent
    jwk = { kty: 'RSA', n: toBase64Url(modulus), e: toBase64Url(minimalBigEndian(e)) }
  } else {
    const curveId = r.u16be('public.curveID')
    const c = TPM_ECC_CURVES.get(curveId)
    if (c === undefined) throw new EvidenceError('evidence-unsupported', `public: curve 0x${curveId.toString(16)} unsupported`)
    curve = c.name
    const kdf = r.u16be('public.kdf.scheme')
    if (kdf !== TPM_ALG.null) r.u16be('public.kdf.hashAlg')
    const x = readTpm2b(r, 'public.unique.x', 66)
    const y = readTpm2b(r, 'public.unique.y', 66)
    if (x.byteLength > c.size || y.byteLength > c.size) throw new EvidenceError('evidence-malformed', 'public: point larger than the curve')
    jwk = { kty: 'EC', crv: c.name, x: toBase64Url(leftPad(x, c.size)), y: toBase64Url(leftPad(y, c.size)) }
  }
  r.end('public')
  let publicKey: KeyObject
  try {
    publicKey = createPublicKey({ key: jwk, format: 'jwk' })
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', 'public: not a valid public key', { cause })
  }
  const copy = bytes.slice()
  const name = concatBytes(u16be(nameAlg.alg), new Uint8Array(createHash(nameAlg.name).update(copy).digest()))
  return {
    bytes: copy,
    type: typeId === TPM_ALG.rsa ? 'rsa' : 'ecc',
    nameAlg,
    objectAttributes,
    authPolicy,
    symmetric,
    scheme,
    keyBits,
    curve,
    name,
    publicKey,
  }
}

function leftPad(v: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size)
  out.set(v, size - v.byteLength)
  return out
}

function minimalBigEndian(n: number): Uint8Array {
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256)
  return new Uint8Array(bytes)
}

/** The attributes of an attestation key: a restricted signing key that never left its TPM. */
export const AK_REQUIRED_ATTRIBUTES =
  TPMA_OBJECT.fixedTpm | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.restricted | TPMA_OBJECT.sign

/**
 * An AK must be a restricted signing key (so the TPM signs only structures it generated, which
 * start with TPM_GENERATED_VALUE), not a decryption key, fixed to its TPM and generated inside it.
 * @throws `policy-violation` naming the first missing property
 */
export function checkAkAttributes(pub: TpmPublic): void {
  const missing = AK_ATTRIBUTE_NAMES.find(([, bit]) => (pub.objectAttributes & bit) === 0)
  if (missing !== undefined) throw new EvidenceError('policy-violation', `AK attributes lack ${missing[0]}`)
  if ((pub.objectAttributes & TPMA_OBJECT.decrypt) !== 0) throw new EvidenceError('policy-violation', 'AK is also a decryption key')
}

const AK_ATTRIBUTE_NAMES: readonly (readonly [string, number])[] = [
  ['fixedTPM', TPMA_OBJECT.fixedTpm],
  ['fixedParent', TPMA_OBJECT.fixedParent],
  ['sensitiveDataOrigin', TPMA_OBJECT.sensitiveDataOrigin],
  ['restricted', TPMA_OBJECT.restricted],
  ['sign', TPMA_OBJECT.sign],
]

/** DER SubjectPublicKeyInfo of a key: the identity keybroker registers AKs under. */
export function spkiDer(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }))
}

/** Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo: an AK's id. */
export function akIdOf(key: KeyObject): string {
  return createHash('sha256').update(spkiDer(key)).digest('hex')
}
