import { createHash } from 'node:crypto'

/** RFC 7638 §3.2: the required members of each key type, in lexicographic order. */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  AKP: ['alg', 'kty', 'pub'],
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
  oct: ['k', 'kty'],
}

/**
 * The RFC 7638 JWK thumbprint with SHA-256, base64url without padding: SHA-256 over the JSON of
 * the key type's required members only, in lexicographic order, no whitespace. Synchronous
 * (node:crypto): jose's `calculateJwkThumbprint` gives the same value through WebCrypto's digest,
 * a round trip through its thread pool on every attestation. Equality with jose is tested.
 *
 * @throws TypeError for an unsupported `kty` or a required member that is missing or not a string.
 */
export function jwkThumbprintSha256(jwk: Readonly<Record<string, unknown>>): string {
  const kty = jwk['kty']
  const members = typeof kty === 'string' && Object.hasOwn(REQUIRED, kty) ? REQUIRED[kty] : undefined
  if (members === undefined) throw new TypeError('unsupported JWK key type')
  const picked: Record<string, string> = {}
  for (const name of members) {
    const value = jwk[name]
    // As jose: an empty member is refused, except an empty symmetric key `k`.
    if (typeof value !== 'string' || (value === '' && name !== 'k')) throw new TypeError(`JWK member ${name} missing or not a string`)
    picked[name] = value
  }
  return createHash('sha256').update(JSON.stringify(picked), 'utf8').digest('base64url')
}
