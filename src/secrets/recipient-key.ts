import { createPublicKey, type KeyObject } from 'node:crypto'
import { KeybrokerError } from '../errors.js'

/**
 * The attested public key a secret is released to (docs/architecture.md, "Secrets are sealed to the
 * attested key"). Only what this module validated is kept.
 */
export type RecipientJwk =
  | { readonly kty: 'EC'; readonly crv: 'P-256' | 'P-384'; readonly x: string; readonly y: string }
  | { readonly kty: 'RSA'; readonly e: string; readonly n: string }

export type RecipientAlg = 'ECDH-ES+A256KW' | 'RSA-OAEP-256'

export interface RecipientKey {
  /** Canonical public JWK: only the RFC 7638 required members, for `cnf.jwk` and thumbprints. */
  readonly publicJwk: RecipientJwk
  /** The same key imported by node:crypto (which checks EC points are on the curve). */
  readonly keyObject: KeyObject
  /** JWE key management algorithm for this key type (RFC 7518 §4.6 / §4.3). */
  readonly alg: RecipientAlg
  /** JWE content encryption, always AES-256-GCM (RFC 7518 §5.3). */
  readonly enc: 'A256GCM'
}

const CURVE_BYTES = { 'P-256': 32, 'P-384': 48 } as const
/** RFC 7518 §3.3 / NIST SP 800-131A: nothing below 2048 bits; 16384 bounds the work. */
export const RSA_MIN_BITS = 2048
export const RSA_MAX_BITS = 16384
/** Any private or symmetric member (RFC 7518 §6.2.2, §6.3.2, §6.4.1) means the wrong key was sent. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const
const B64URL = /^[A-Za-z0-9_-]*$/

/**
 * Validates an attested public key given as a JWK (untrusted JSON) and returns its canonical
 * form, the imported KeyObject and the JWE algorithms to use with it.
 *
 * Accepted: EC P-256 / P-384 with `x`/`y` of exactly the field size and a point on the curve;
 * RSA with a minimal-length modulus of 2048..16384 bits and `e` = 65537. If present, `use` must
 * be `enc` and `alg` must equal the algorithm we would choose. Members outside RFC 7517/7518
 * (e.g. `kid`) are ignored and not kept.
 * @throws KeybrokerError `key-unsupported`, with a detail naming the failed check, for anything
 *   else: non-objects, private members, `oct`/`OKP` keys, other curves, bad encodings.
 */
export function parseRecipientKey(jwk: unknown): RecipientKey {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) reject('public key must be a JWK object')
  const members = new Map<string, unknown>(Object.entries(jwk))
  for (const name of PRIVATE_MEMBERS) {
    if (members.has(name)) reject(`public key must not contain the private member "${name}"`)
  }
  const kty = members.get('kty')
  let publicJwk: RecipientJwk
  let alg: RecipientAlg
  if (kty === 'EC') {
    publicJwk = parseEc(members)
    alg = 'ECDH-ES+A256KW'
  } else if (kty === 'RSA') {
    publicJwk = parseRsa(members)
    alg = 'RSA-OAEP-256'
  } else if (kty === 'oct' || kty === 'OKP') {
    reject(`kty "${kty}" is not supported (use EC P-256, P-384 or RSA)`)
  } else {
    reject('kty must be "EC" or "RSA"')
  }
  const use = members.get('use')
  if (use !== undefined && use !== 'enc') reject('public key "use" must be "enc"')
  const declaredAlg = members.get('alg')
  if (declaredAlg !== undefined && declaredAlg !== alg) reject(`public key "alg" must be "${alg}" or absent`)

  let keyObject: KeyObject
  try {
    keyObject = createPublicKey({ key: { ...publicJwk }, format: 'jwk' })
  } catch (cause) {
    throw new KeybrokerError('key-unsupported', 'public key is not a valid key (point not on curve?)', { cause })
  }
  return Object.freeze({ publicJwk: Object.freeze(publicJwk), keyObject, alg, enc: 'A256GCM' })
}

function parseEc(members: ReadonlyMap<string, unknown>): RecipientJwk {
  const crv = members.get('crv')
  if (crv !== 'P-256' && crv !== 'P-384') reject('EC crv must be "P-256" or "P-384"')
  const size = CURVE_BYTES[crv]
  const x = coordinate(members, 'x', size)
  const y = coordinate(members, 'y', size)
  return { kty: 'EC', crv, x, y }
}

function parseRsa(members: ReadonlyMap<string, unknown>): RecipientJwk {
  const n = base64urlMember(members, 'n', Math.ceil(((RSA_MAX_BITS / 8) * 4) / 3))
  const e = base64urlMember(members, 'e', 8)
  const modulus = Buffer.from(n, 'base64url')
  // RFC 7518 §6.3.1.1: n is the minimal big-endian encoding, so no leading zero octet.
  if (modulus.byteLength === 0 || modulus[0] === 0) reject('RSA "n" must not have leading zero octets')
  const bits = modulus.byteLength * 8 - Math.clz32(modulus[0] ?? 0) + 24
  if (bits < RSA_MIN_BITS) reject(`RSA modulus has ${bits} bits; at least ${RSA_MIN_BITS} are required`)
  if (bits > RSA_MAX_BITS) reject(`RSA modulus has ${bits} bits; at most ${RSA_MAX_BITS} are supported`)
  // 65537 is the only exponent in practice (TPM's default "0" means 65537 too); "AQAB" is its
  // only minimal encoding (RFC 7518 §6.3.1.2).
  if (e !== 'AQAB') reject('RSA "e" must be 65537 ("AQAB")')
  return { kty: 'RSA', e, n }
}

function coordinate(members: ReadonlyMap<string, unknown>, name: 'x' | 'y', size: number): string {
  const text = base64urlMember(members, name, Math.ceil((size * 4) / 3))
  // RFC 7518 §6.2.1.2: the coordinate is the full field size, leading zeros included.
  if (Buffer.from(text, 'base64url').byteLength !== size || text.length !== Math.ceil((size * 4) / 3)) {
    reject(`EC "${name}" must encode exactly ${size} bytes`)
  }
  return text
}

function base64urlMember(members: ReadonlyMap<string, unknown>, name: string, maxLength: number): string {
  const value = members.get(name)
  if (typeof value !== 'string' || value.length === 0) reject(`"${name}" is missing or not a string`)
  if (value.length > maxLength || value.length % 4 === 1 || !B64URL.test(value)) {
    reject(`"${name}" is not base64url without padding`)
  }
  // Reject non-canonical encodings (stray bits in the last character), so one key has one text.
  if (Buffer.from(value, 'base64url').toString('base64url') !== value) reject(`"${name}" is not canonical base64url`)
  return value
}

function reject(detail: string): never {
  throw new KeybrokerError('key-unsupported', detail)
}
