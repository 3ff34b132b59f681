import { generateKeyPairSync } from 'node:crypto'
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, UnsecuredJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { isKeybrokerError, type ErrorCode } from '../../src/errors.js'
import { parseRecipientKey } from '../../src/secrets/index.js'
import {
  createKeySet,
  EAR_PROFILE,
  EXECUTABLES,
  generateSigner,
  HARDWARE,
  issueEar,
  verifyEar,
  type EarInput,
  type KeySet,
  type TokenSigner,
} from '../../src/tokens/index.js'

async function asyncCodeOf(fn: () => Promise<unknown>): Promise<ErrorCode | 'no-error' | 'foreign-error'> {
  try {
    await fn()
    return 'no-error'
  } catch (err) {
    return isKeybrokerError(err) ? err.code : 'foreign-error'
  }
}

const NOW = new Date('2026-03-01T12:00:00.900Z')
const ISSUER = 'https://keybroker.example'
const AUDIENCE = 'keybroker-clients'
const OPTIONS = { issuer: ISSUER, audience: AUDIENCE, now: NOW }
const cnf = parseRecipientKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }))

function input(overrides: Partial<EarInput> = {}): EarInput {
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    now: NOW,
    ttlSeconds: 300,
    nonce: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4',
    cnfJwk: cnf.publicJwk,
    status: 'affirming',
    trustVector: { executables: EXECUTABLES.APPROVED_RUNTIME, hardware: HARDWARE.GENUINE },
    hardwareBacked: true,
    evidenceType: 'snp',
    claims: { measurement: 'ab'.repeat(48), debug: false, tcb: { snp: 22 }, list: [1, 'two', null] },
    secrets: ['db-password'],
    ...overrides,
  }
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

describe('EAR tokens', async () => {
  const es256: TokenSigner = await generateSigner('ES256')
  const es384: TokenSigner = await generateSigner('ES384')
  const keys: KeySet = createKeySet(es256)

  it('issues a token with the EAR claims and verifies it', async () => {
    const issued = await issueEar(es256, input())
    expect(issued.expiresAt.toISOString()).toBe('2026-03-01T12:05:00.000Z')
    expect(decodeProtectedHeader(issued.token)).toEqual({ alg: 'ES256', kid: es256.kid, typ: 'JWT' })
    const ear = await verifyEar(issued.token, keys, OPTIONS)
    expect(ear).toMatchObject({
      iss: ISSUER,
      aud: AUDIENCE,
      iat: 1772366400,
      exp: 1772366700,
      jti: issued.jti,
      eat_profile: EAR_PROFILE,
      'ear.status': 'affirming',
      'ear.verifier_id': { developer: 'keybroker' },
      cnf: { jwk: cnf.publicJwk },
      'kb.hardware_backed': true,
      'kb.secrets': ['db-password'],
      evidenceType: 'snp',
      trustVector: { executables: 2, hardware: 2 },
    })
    expect(ear.submods.snp?.['ear.veraison.annotated-evidence']).toEqual(input().claims)
    expect(ear.claims).toEqual(input().claims)
  })

  it('marks non-hardware evidence', async () => {
    const issued = await issueEar(es256, input({ hardwareBacked: false, evidenceType: 'sample', status: 'warning' }))
    const ear = await verifyEar(issued.token, keys, OPTIONS)
    expect(ear['kb.hardware_backed']).toBe(false)
    expect(ear.submods.sample?.['kb.hardware_backed']).toBe(false)
    expect(ear['ear.status']).toBe('warning')
  })

  it('verifies with plain jose and the published JWKS (ES256 and ES384)', async () => {
    const set = createKeySet(es256, createKeySet(es384).verificationKeys)
    for (const signer of [es256, es384]) {
      const issued = await issueEar(signer, input())
      const { payload, protectedHeader } = await jwtVerify(issued.token, createLocalJWKSet(set.jwks()), {
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: NOW,
      })
      expect(protectedHeader).toEqual({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
      expect(payload.jti).toBe(issued.jti)
      expect((await verifyEar(issued.token, set, OPTIONS)).jti).toBe(issued.jti)
    }
  })

  it('accepts just before expiry and refuses at expiry', async () => {
    const { token, expiresAt } = await issueEar(es256, input())
    expect(await asyncCodeOf(() => verifyEar(token, keys, { ...OPTIONS, now: new Date(expiresAt.getTime() - 1000) }))).toBe('no-error')
    expect(await asyncCodeOf(() => verifyEar(token, keys, { ...OPTIONS, now: expiresAt }))).toBe('token-invalid')
    expect(await asyncCodeOf(() => verifyEar(token, keys, { ...OPTIONS, now: new Date(expiresAt.getTime() + 3600_000) }))).toBe('token-invalid')
  })

  it('refuses wrong audience and issuer', async () => {
    const { token } = await issueEar(es256, input())
    expect(await asyncCodeOf(() => verifyEar(token, keys, { ...OPTIONS, audience: 'other' }))).toBe('token-invalid')
    expect(await asyncCodeOf(() => verifyEar(token, keys, { ...OPTIONS, issuer: 'https://evil.example' }))).toBe('token-invalid')
  })

  it('refuses a tampered payload, header or signature', async () => {
    const { token } = await issueEar(es256, input())
    const [header = '', payload = '', signature = ''] = token.split('.')
    const claims: Record<string, unknown> = { ...decodeJwt(token), 'ear.status': 'affirming', exp: 9999999999 }
    const sig = Buffer.from(signature, 'base64url')
    sig[5] = (sig[5] ?? 0) ^ 1
    const tampered = [
      `${header}.${b64(claims)}.${signature}`,
      `${header}.${payload}.${sig.toString('base64url')}`,
      `${header}.${payload}.`,
      `${b64({ alg: 'ES256', kid: es256.kid, typ: 'JWT', crit: [] })}.${payload}.${signature}`,
      `${header}.${payload.slice(0, -2)}.${signature}`,
    ]
    for (const t of tampered) expect(await asyncCodeOf(() => verifyEar(t, keys, OPTIONS))).toBe('token-invalid')
  })

  it('refuses an unknown kid and a signer outside the key set', async () => {
    const stranger = await generateSigner('ES256')
    const { token } = await issueEar(stranger, input())
    expect(await asyncCodeOf(() => verifyEar(token, keys, OPTIONS))).toBe('token-invalid')
    // Right kid, wrong key: the stranger claims our kid.
    const forged = await new SignJWT(decodeJwt(token)).setProtectedHeader({ alg: 'ES256', kid: es256.kid, typ: 'JWT' }).sign(stranger.privateKey)
    expect(await asyncCodeOf(() => verifyEar(forged, keys, OPTIONS))).toBe('token-invalid')
  })

  it('refuses alg none and algorithm confusion', async () => {
    const { token } = await issueEar(es256, input())
    const unsecured = new UnsecuredJWT(decodeJwt(token)).encode()
    expect(await asyncCodeOf(() => verifyEar(unsecured, keys, OPTIONS))).toBe('token-invalid')
    const [, payload = ''] = token.split('.')
    const none = `${b64({ alg: 'none', kid: es256.kid, typ: 'JWT' })}.${payload}.`
    expect(await asyncCodeOf(() => verifyEar(none, keys, OPTIONS))).toBe('token-invalid')
    // An ES384 header against an ES256 key.
    const es384Header = `${b64({ alg: 'ES384', kid: es256.kid, typ: 'JWT' })}.${payload}.${token.split('.')[2] ?? ''}`
    expect(await asyncCodeOf(() => verifyEar(es384Header, keys, OPTIONS))).toBe('token-invalid')
    // HS256 with the public JWK as a secret.
    const hs = await new SignJWT(decodeJwt(token))
      .setProtectedHeader({ alg: 'HS256', kid: es256.kid, typ: 'JWT' })
      .sign(new TextEncoder().encode(JSON.stringify(es256.publicJwk)))
    expect(await asyncCodeOf(() => verifyEar(hs, keys, OPTIONS))).toBe('token-invalid')
  })

  it('refuses a correctly signed token that is not a keybroker EAR', async () => {
    const signed = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, jti: 'x', eat_nonce: 'n' })
      .setProtectedHeader({ alg: 'ES256', kid: es256.kid, typ: 'JWT' })
      .setIssuedAt(Math.floor(NOW.getTime() / 1000))
      .setExpirationTime(Math.floor(NOW.getTime() / 1000) + 60)
      .sign(es256.privateKey)
    expect(await asyncCodeOf(() => verifyEar(signed, keys, OPTIONS))).toBe('token-invalid')
    const wrongTyp = await new SignJWT(decodeJwt((await issueEar(es256, input())).token))
      .setProtectedHeader({ alg: 'ES256', kid: es256.kid, typ: 'at+jwt' })
      .sign(es256.privateKey)
    expect(await asyncCodeOf(() => verifyEar(wrongTyp, keys, OPTIONS))).toBe('token-invalid')
  })

  it('refuses garbage', async () => {
    for (const t of ['', 'a.b.c', 'x'.repeat(10_000), '...', 'eyJhbGciOiJFUzI1NiJ9.e30.']) {
      expect(await asyncCodeOf(() => verifyEar(t, keys, OPTIONS))).toBe('token-invalid')
    }
  })

  it('refuses inconsistent issue input', async () => {
    expect(await asyncCodeOf(() => issueEar(es256, input({ ttlSeconds: 0 })))).toBe('internal')
    expect(await asyncCodeOf(() => issueEar(es256, input({ trustVector: { hardware: 500 } })))).toBe('internal')
    const unknownClaim: Record<string, number> = { 'not-ar4si': 2 }
    expect(await asyncCodeOf(() => issueEar(es256, input({ trustVector: unknownClaim })))).toBe('internal')
  })
})
