import { spawnSync } from 'node:child_process'
import { createECDH } from 'node:crypto'
import { p256, p521 } from '@noble/curves/nist.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  exchange,
  exchangeKeyThumbprint,
  exchangeWith,
  generateSealingKeyPair,
  importExchangeKey,
  parseExchangePoint,
  type EcPublicJwk,
  type SealingCurve,
} from '../../src/secrets/index.js'
import { asyncCodeOf, codeOf } from '../support/error-code.js'
import { requireWhen } from '../support/required.js'

const NOBLE = { 'P-256': p256, 'P-521': p521 } as const
const BYTES = { 'P-256': 32, 'P-521': 66 } as const
type Point = ReturnType<typeof p256.Point.fromAffine>

function jwkOf(curve: SealingCurve, point: Point): EcPublicJwk {
  const { x, y } = point.toAffine()
  const enc = (v: bigint) => Buffer.from(v.toString(16).padStart(BYTES[curve] * 2, '0'), 'hex').toString('base64url')
  return { kty: 'EC', crv: curve, x: enc(x), y: enc(y) }
}

function pointOf(jwk: EcPublicJwk): Point {
  const dec = (s: string) => BigInt(`0x${Buffer.from(s, 'base64url').toString('hex')}`)
  return NOBLE[jwk.crv].Point.fromAffine({ x: dec(jwk.x), y: dec(jwk.y) })
}

function scalar(curve: SealingCurve, d: Uint8Array): bigint {
  return NOBLE[curve].Point.Fn.fromBytes(d)
}

/** Reference: noble's own scalar multiplication, independent of the ECDH + sign-recovery path. */
function reference(curve: SealingCurve, d: Uint8Array, x: EcPublicJwk): EcPublicJwk {
  return jwkOf(curve, pointOf(x).multiply(scalar(curve, d)))
}

const HAS_JOSE = requireWhen('KEYBROKER_TEST_REQUIRE_INTEROP', 'the latchset jose CLI', spawnSync('jose', ['alg'], { encoding: 'utf8' }).status === 0)

describe.each(['P-256', 'P-521'] as const)('sealing exchange on %s', (curve) => {
  const pair = generateSealingKeyPair(curve)
  const G = NOBLE[curve].Point.BASE
  const S = pointOf(pair.publicJwk)

  it('generates a key pair whose public key is d·G', () => {
    expect(pair.d.byteLength).toBe(BYTES[curve])
    expect(pointOf(pair.publicJwk).equals(G.multiply(scalar(curve, pair.d)))).toBe(true)
  })

  it('computes s·X for random X (fast-check), equal to noble multiplication', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: NOBLE[curve].Point.Fn.ORDER - 1n }), (k) => {
        const x = jwkOf(curve, G.multiply(k))
        expect(exchange(pair.d, pair.publicJwk, parseExchangePoint(x, curve))).toEqual(reference(curve, pair.d, x))
      }),
      { numRuns: curve === 'P-256' ? 100 : 10 },
    )
  })

  it('one imported key (as the service keeps it) serves many exchanges, each equal to noble multiplication', () => {
    const key = importExchangeKey(pair.d, pair.publicJwk)
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: NOBLE[curve].Point.Fn.ORDER - 1n }), (k) => {
        const x = jwkOf(curve, G.multiply(k))
        expect(exchangeWith(key, parseExchangePoint(x, curve))).toEqual(reference(curve, pair.d, x))
      }),
      { numRuns: curve === 'P-256' ? 50 : 8 },
    )
    for (const p of [G, G.negate(), S, S.negate()]) {
      const x = jwkOf(curve, p)
      expect(exchangeWith(key, parseExchangePoint(x, curve))).toEqual(reference(curve, pair.d, x))
    }
  })

  it('refuses to import a scalar that is not the public key\'s', async () => {
    const other = generateSealingKeyPair(curve)
    expect(await asyncCodeOf(async () => importExchangeKey(other.d, pair.publicJwk))).toBe('internal')
  })

  it('handles the points where the sign recovery degenerates: X = G, −G, S, −S', () => {
    for (const p of [G, G.negate(), S, S.negate()]) {
      const x = jwkOf(curve, p)
      expect(exchange(pair.d, pair.publicJwk, parseExchangePoint(x, curve))).toEqual(reference(curve, pair.d, x))
    }
  })

  it('completes the McCallum-Relyea recovery: (s·(C + E)) − e·S = c·S', () => {
    const c = scalar(curve, NOBLE[curve].utils.randomSecretKey())
    const e = scalar(curve, NOBLE[curve].utils.randomSecretKey())
    const C = G.multiply(c)
    const X = C.add(G.multiply(e))
    const Y = pointOf(exchange(pair.d, pair.publicJwk, parseExchangePoint(jwkOf(curve, X), curve)))
    expect(Y.subtract(S.multiply(e)).equals(S.multiply(c))).toBe(true)
  })

  it.skipIf(!HAS_JOSE)('agrees with the latchset jose CLI ECMR exchange (as tangd computes it)', () => {
    const { d, ...rest } = { ...pair.publicJwk, d: Buffer.from(pair.d).toString('base64url') }
    const x = jwkOf(curve, G.multiply(scalar(curve, NOBLE[curve].utils.randomSecretKey())))
    const r = spawnSync('jose', ['jwk', 'exc', '-i', '{"alg":"ECMR"}', '-l-', '-r-'], {
      input: JSON.stringify({ ...rest, d }) + JSON.stringify(x),
      encoding: 'utf8',
      timeout: 10_000,
    })
    expect(r.status).toBe(0)
    const fromJose = JSON.parse(r.stdout) as EcPublicJwk
    const ours = exchange(pair.d, pair.publicJwk, parseExchangePoint(x, curve))
    expect({ x: fromJose.x, y: fromJose.y }).toEqual({ x: ours.x, y: ours.y })
  })

  it('names the exchange key by its RFC 7638 thumbprint', async () => {
    const kid = await exchangeKeyThumbprint(pair.publicJwk)
    expect(kid).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(await exchangeKeyThumbprint({ ...pair.publicJwk })).toBe(kid)
  })

  it('refuses exchange points off the curve, on another curve or badly encoded', () => {
    const good = jwkOf(curve, G.multiply(7n))
    const flip = (s: string) => `${s.slice(0, 5)}${s[5] === 'A' ? 'B' : 'A'}${s.slice(6)}`
    expect(codeOf(() => parseExchangePoint({ ...good, y: flip(good.y) }, curve))).toBe('key-unsupported')
    expect(codeOf(() => parseExchangePoint({ ...good, crv: curve === 'P-256' ? 'P-521' : 'P-256' }, curve))).toBe('key-unsupported')
    expect(codeOf(() => parseExchangePoint({ ...good, kty: 'OKP' }, curve))).toBe('key-unsupported')
    expect(codeOf(() => parseExchangePoint({ ...good, x: `${good.x}A` }, curve))).toBe('key-unsupported')
    expect(codeOf(() => parseExchangePoint({ ...good, x: good.x.slice(1) }, curve))).toBe('key-unsupported')
    expect(codeOf(() => parseExchangePoint({ ...good, x: undefined }, curve))).toBe('key-unsupported')
    expect(codeOf(() => parseExchangePoint(good, curve))).toBe('no-error')
  })

  it('raises only key-unsupported for arbitrary JWK-shaped input (fast-check)', () => {
    const b64 = fc.uint8Array({ minLength: 0, maxLength: 70 }).map((b) => Buffer.from(b).toString('base64url'))
    fc.assert(
      fc.property(
        fc.record({
          kty: fc.oneof(fc.constant('EC'), fc.string()),
          crv: fc.oneof(fc.constant(curve), fc.constantFrom('P-256', 'P-384', 'P-521'), fc.string()),
          x: fc.oneof(b64, fc.string()),
          y: fc.oneof(b64, fc.string()),
        }),
        (jwk) => {
          expect(['key-unsupported', 'no-error']).toContain(codeOf(() => parseExchangePoint(jwk, curve)))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('agrees with OpenSSL ECDH (node:crypto): x(s·X) and x(s·(X + G)) = x(s·X + S) fix the point', () => {
    // OpenSSL's ECDH yields the x-coordinate of s·X: an implementation independent of the
    // @noble/curves multiplication both the code (on P-521) and the reference above use. The
    // second exchange pins the sign of y: s·(X + G) = s·X + S, and −s·X + S has another x.
    const ecdh = createECDH(curve === 'P-256' ? 'prime256v1' : 'secp521r1')
    ecdh.setPrivateKey(pair.d)
    expect(new Uint8Array(ecdh.getPublicKey())).toEqual(S.toBytes(false))
    const pad = (b: Buffer) => Buffer.concat([Buffer.alloc(BYTES[curve] - b.byteLength), b]).toString('base64url')
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: NOBLE[curve].Point.Fn.ORDER - 1n }), (k) => {
        const X = G.multiply(k)
        fc.pre(!X.add(G).is0())
        const Y = exchange(pair.d, pair.publicJwk, parseExchangePoint(jwkOf(curve, X), curve))
        expect(Y.x).toBe(pad(ecdh.computeSecret(X.toBytes(false))))
        expect(jwkOf(curve, pointOf(Y).add(S)).x).toBe(pad(ecdh.computeSecret(X.add(G).toBytes(false))))
      }),
      { numRuns: curve === 'P-256' ? 50 : 8 },
    )
  })

  it('refuses a key pair that does not belong together', async () => {
    const other = generateSealingKeyPair(curve)
    const x = jwkOf(curve, G.multiply(3n))
    expect(await asyncCodeOf(async () => exchange(other.d, pair.publicJwk, parseExchangePoint(x, curve)))).toBe('internal')
  })
})
