import { generateKeyPairSync } from 'node:crypto'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { describe, expect, it } from 'vitest'
import { jwkThumbprintSha256 } from '../../src/tokens/thumbprint.js'

/** Public JWKs of every key type the service meets, freshly generated. */
function keys(): JWK[] {
  const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve }).publicKey.export({ format: 'jwk' }) as JWK
  return [
    ec('P-256'),
    ec('P-384'),
    ec('P-521'),
    generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as JWK,
    generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as JWK,
    generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }) as JWK,
    { kty: 'oct', k: 'c2VjcmV0' },
  ]
}

describe('jwkThumbprintSha256 (RFC 7638)', () => {
  it('equals jose calculateJwkThumbprint for every key type, extra members ignored', async () => {
    for (const jwk of keys()) {
      const extended = { ...jwk, kid: 'k1', alg: 'whatever', use: 'enc' }
      expect(jwkThumbprintSha256(extended)).toBe(await calculateJwkThumbprint(jwk, 'sha256'))
    }
  })

  it('refuses what jose refuses: unknown kty, missing or non-string members', async () => {
    const [p256] = keys()
    const bad: Record<string, unknown>[] = [{}, { kty: 'XX', x: 'a' }, { ...p256, y: undefined }, { ...p256, x: 5 }, { ...p256, crv: '' }, { kty: 'RSA', n: 'AQAB' }]
    for (const jwk of bad) {
      expect(() => jwkThumbprintSha256(jwk)).toThrow(TypeError)
      await expect(calculateJwkThumbprint(jwk as JWK, 'sha256')).rejects.toThrow()
    }
  })
})
