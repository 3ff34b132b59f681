import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { codeOf } from '../support/error-code.js'
import { parseRecipientKey } from '../../src/secrets/index.js'

function ecJwk(curve: 'P-256' | 'P-384' | 'P-521' | 'secp256k1'): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: curve })
  return { ...privateKey.export({ format: 'jwk' }) }
}

function withoutD(jwk: Record<string, unknown>): Record<string, unknown> {
  const { d: _d, ...rest } = jwk
  return rest
}

describe('parseRecipientKey', () => {
  it('accepts P-256 and P-384 and keeps only the required members', () => {
    for (const crv of ['P-256', 'P-384'] as const) {
      const pub = withoutD(ecJwk(crv))
      const key = parseRecipientKey({ ...pub, kid: 'k1', use: 'enc', alg: 'ECDH-ES+A256KW' })
      expect(key.alg).toBe('ECDH-ES+A256KW')
      expect(key.enc).toBe('A256GCM')
      expect(key.publicJwk).toEqual({ kty: 'EC', crv, x: pub.x, y: pub.y })
      expect(Object.keys(key.publicJwk).sort()).toEqual(['crv', 'kty', 'x', 'y'])
      expect(key.keyObject.type).toBe('public')
    }
  })

  it('accepts RSA 2048 and 3072 with e = 65537', () => {
    for (const modulusLength of [2048, 3072]) {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength })
      const key = parseRecipientKey(publicKey.export({ format: 'jwk' }))
      expect(key.alg).toBe('RSA-OAEP-256')
      expect(Object.keys(key.publicJwk).sort()).toEqual(['e', 'kty', 'n'])
    }
  })

  const p256 = withoutD(ecJwk('P-256'))
  const rsaPrivate: Record<string, unknown> = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) }
  const rsaSmall = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
  const rsaE3 = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).publicKey.export({ format: 'jwk' })
  const x = typeof p256.x === 'string' ? p256.x : ''
  const y = typeof p256.y === 'string' ? p256.y : ''
  const xBytes = Buffer.from(x, 'base64url')

  const rejections: readonly [string, unknown][] = [
    ['not an object', 'EC'],
    ['null', null],
    ['an array', [p256]],
    ['missing kty', { crv: 'P-256', x, y }],
    ['EC private key', ecJwk('P-256')],
    ['RSA private key', rsaPrivate],
    ['private member p alone', { ...p256, p: 'AQAB' }],
    ['oct key', { kty: 'oct', k: 'AAAAAAAAAAAAAAAAAAAAAA' }],
    ['oct key without k', { kty: 'oct' }],
    ['OKP X25519', { ...generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }) }],
    ['OKP Ed25519', { ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) }],
    ['P-521', withoutD(ecJwk('P-521'))],
    ['secp256k1', withoutD(ecJwk('secp256k1'))],
    ['wrong crv for coordinates', { ...p256, crv: 'P-384' }],
    ['missing x', { kty: 'EC', crv: 'P-256', y }],
    ['missing y', { kty: 'EC', crv: 'P-256', x }],
    ['x not a string', { ...p256, x: 5 }],
    ['x too short', { ...p256, x: xBytes.subarray(1).toString('base64url') }],
    ['x too long', { ...p256, x: Buffer.concat([Buffer.from([0]), xBytes]).toString('base64url') }],
    ['x with padding', { ...p256, x: `${xBytes.toString('base64')}` }],
    ['x with whitespace', { ...p256, x: `${x.slice(0, 10)} ${x.slice(10)}` }],
    ['point not on curve', { ...p256, y: x }],
    ['point at zero', { ...p256, x: Buffer.alloc(32).toString('base64url'), y: Buffer.alloc(32).toString('base64url') }],
    ['small RSA', rsaSmall],
    ['RSA e = 3', rsaE3],
    ['RSA missing n', { kty: 'RSA', e: 'AQAB' }],
    ['RSA n with leading zero', { kty: 'RSA', e: 'AQAB', n: Buffer.concat([Buffer.from([0]), Buffer.from(String(rsaPrivate.n), 'base64url')]).toString('base64url') }],
    ['use sig', { ...p256, use: 'sig' }],
    ['alg mismatch', { ...p256, alg: 'RSA-OAEP-256' }],
  ]

  for (const [name, jwk] of rejections) {
    it(`refuses ${name}`, () => {
      expect(codeOf(() => parseRecipientKey(jwk))).toBe('key-unsupported')
    })
  }
})
