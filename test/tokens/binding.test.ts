import { createHash } from 'node:crypto'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { describe, expect, it } from 'vitest'
import { codeOf, asyncCodeOf } from '../support/error-code.js'
import { checkBinding, computeBinding } from '../../src/tokens/index.js'

/**
 * Binding test vectors (docs/architecture.md, "Binding"), printed in the README so that clients in any
 * language can check their implementation:
 *   report_data = SHA-512(ASCII("keybroker-v1:" + nonce + ":" + RFC7638-thumbprint(publicKey)))
 */
const NONCE = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4'

const VECTORS: readonly { name: string; jwk: JWK; canonical: string; thumbprint: string; reportData: string }[] = [
  {
    // RFC 7515 Appendix A.3 P-256 key (public part).
    name: 'P-256',
    jwk: { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' },
    canonical:
      '{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}',
    thumbprint: 'oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U',
    reportData:
      'a1cdbb3467687a86e5e94b81e531e547e41881dbac14863ec331e92c1b8f3a75ac755b62660ad8ab3294d76fecea5e5089cc4f04fc4c4dff3bc3ccee2785ed35',
  },
  {
    name: 'P-384',
    jwk: {
      kty: 'EC',
      crv: 'P-384',
      x: 'I2vrLpdfb-Eac3mgHNc6Zud3i3zcz5ICQb-lhPXpsFALnf6R2j9_odrTb91da2Nc',
      y: 'wT4MY_3lUNG6NarlX2jR522k3gmmjdLr-DoxfOitv7-mBl02DBrw11-3s5hsyd_1',
    },
    canonical:
      '{"crv":"P-384","kty":"EC","x":"I2vrLpdfb-Eac3mgHNc6Zud3i3zcz5ICQb-lhPXpsFALnf6R2j9_odrTb91da2Nc","y":"wT4MY_3lUNG6NarlX2jR522k3gmmjdLr-DoxfOitv7-mBl02DBrw11-3s5hsyd_1"}',
    thumbprint: 'h48JTvgCqLAC0DtrduJBFwxaLu3QGVpsb7ia7a3GNWg',
    reportData:
      '6b253428e1757dca03c69548e58dd524f1eed676eb41918a196c1e6ab27301dcbc5843ac96fd947d7d529b177b58374c603b92d51ad071d122f66137d8e6b074',
  },
  {
    // RFC 7638 §3.1 example key.
    name: 'RSA-2048',
    jwk: {
      kty: 'RSA',
      e: 'AQAB',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    },
    canonical:
      '{"e":"AQAB","kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}',
    thumbprint: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
    reportData:
      '42751188e974b8f725a6e3ed64de391b639364d732e946a03005c12944bcf15c21b4a8b110b9f181d7ca30f981a93205e4a9c34ddc8f4581b1ff9c2253ee2bb2',
  },
]

describe('binding', () => {
  it('jose computes the RFC 7638 §3.1 example thumbprint', async () => {
    const rsa = VECTORS.find((v) => v.name === 'RSA-2048')
    expect(rsa).toBeDefined()
    expect(await calculateJwkThumbprint(rsa?.jwk ?? {}, 'sha256')).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
  })

  for (const v of VECTORS) {
    describe(v.name, () => {
      it('matches the fixed vector', async () => {
        expect(Buffer.from(await computeBinding(NONCE, v.jwk)).toString('hex')).toBe(v.reportData)
      })

      it('matches an independent computation from the raw definition', () => {
        // RFC 7638 §3: required members only, lexicographic order, no whitespace.
        const thumbprint = createHash('sha256').update(v.canonical, 'utf8').digest('base64url')
        expect(thumbprint).toBe(v.thumbprint)
        const input = Buffer.from(`keybroker-v1:${NONCE}:${thumbprint}`, 'ascii')
        expect(createHash('sha512').update(input).digest('hex')).toBe(v.reportData)
      })

      it('ignores non-required members (kid, alg, use)', async () => {
        const extended: JWK = { ...v.jwk, kid: 'some-id', use: 'enc' }
        expect(Buffer.from(await computeBinding(NONCE, extended)).toString('hex')).toBe(v.reportData)
      })

      it('accepts the full 64 bytes and the 32-byte TPM prefix', () => {
        const expected = new Uint8Array(Buffer.from(v.reportData, 'hex'))
        expect(codeOf(() => checkBinding(Uint8Array.from(expected), expected))).toBe('no-error')
        expect(codeOf(() => checkBinding(expected.slice(0, 32), expected))).toBe('no-error')
      })
    })
  }

  it('refuses any mismatching byte, and other lengths', () => {
    const expected = new Uint8Array(Buffer.from(VECTORS[0]?.reportData ?? '', 'hex'))
    for (let i = 0; i < 64; i++) {
      const bad = Uint8Array.from(expected)
      bad[i] = (bad[i] ?? 0) ^ 1
      expect(codeOf(() => checkBinding(bad, expected))).toBe('binding-mismatch')
      if (i < 32) expect(codeOf(() => checkBinding(bad.slice(0, 32), expected))).toBe('binding-mismatch')
    }
    for (const length of [0, 1, 31, 33, 48, 63, 65, 128]) {
      expect(codeOf(() => checkBinding(new Uint8Array(length), expected))).toBe('binding-mismatch')
    }
  })

  it('differs with another nonce or key', async () => {
    const [a, b] = VECTORS
    if (a === undefined || b === undefined) throw new Error('vectors')
    const base = await computeBinding(NONCE, a.jwk)
    expect(codeOf(() => checkBinding(base, new Uint8Array(Buffer.from(b.reportData, 'hex'))))).toBe('binding-mismatch')
    const otherNonce = await computeBinding(`${NONCE.slice(0, -1)}9`, a.jwk)
    expect(codeOf(() => checkBinding(otherNonce, base))).toBe('binding-mismatch')
  })

  it('refuses non-base64url nonces and keys without a thumbprint', async () => {
    const jwk = VECTORS[0]?.jwk ?? {}
    expect(await asyncCodeOf(() => computeBinding('not ascii é', jwk))).toBe('nonce-invalid')
    expect(await asyncCodeOf(() => computeBinding('', jwk))).toBe('nonce-invalid')
    expect(await asyncCodeOf(() => computeBinding(NONCE, { kty: 'EC', crv: 'P-256' }))).toBe('key-unsupported')
  })
})
