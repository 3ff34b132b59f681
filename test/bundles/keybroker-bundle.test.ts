import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import fc from 'fast-check'
import { CompactSign } from 'jose'
import { describe, expect, it } from 'vitest'
import { BUNDLE_FORMAT, BUNDLE_TYP, parseSignerKey, signBundle, verifyBundle, type SignerKey } from '../../src/bundles/index.js'
import { KeybrokerError } from '../../src/errors.js'

const NOW = new Date('2026-06-01T00:00:00Z')
const M = 'ab'.repeat(48)

function keyPair(kind: 'P-256' | 'P-384' | 'Ed25519' | 'RSA'): { privateKey: KeyObject; signer: SignerKey } {
  const pair =
    kind === 'Ed25519'
      ? generateKeyPairSync('ed25519')
      : kind === 'RSA'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: kind })
  return { privateKey: pair.privateKey, signer: parseSignerKey(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'keybroker') }
}

export function bundlePayload(overrides: Record<string, unknown> = {}) {
  return {
    format: BUNDLE_FORMAT,
    name: 'web-frontend',
    version: 3,
    issuedAt: '2026-05-01T00:00:00Z',
    expiresAt: '2027-05-01T00:00:00Z',
    referenceValues: [
      {
        name: 'web-v3',
        evidenceType: 'snp',
        allowDebug: false,
        expect: [{ claim: 'tcb.snp', atLeast: 22 }],
        values: [{ measurement: M.toUpperCase(), notAfter: '2027-01-01T00:00:00Z' }],
      },
    ],
    ...overrides,
  }
}

async function codeOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn()
    return undefined
  } catch (err) {
    return err instanceof KeybrokerError ? err.code : `not-a-keybroker-error: ${String(err)}`
  }
}

describe('keybroker signed bundles (JWS)', () => {
  const es256 = keyPair('P-256')
  const lookup = (signers: readonly SignerKey[]) => (fp: string) => signers.find((s) => s.fingerprint === fp)

  it('signs and verifies with ES256, ES384, EdDSA and PS256', async () => {
    for (const kind of ['P-256', 'P-384', 'Ed25519', 'RSA'] as const) {
      const { privateKey, signer } = keyPair(kind)
      const jws = await signBundle(bundlePayload(), privateKey)
      const verified = await verifyBundle(jws, lookup([signer]), NOW)
      expect(verified.signer.fingerprint).toBe(signer.fingerprint)
      expect(verified.payload.version).toBe(3)
      expect(verified.sets[0]).toMatchObject({ name: 'web-v3', evidenceType: 'snp', values: [{ measurement: M }] })
      expect(verified.digest).toMatch(/^[0-9a-f]{64}$/)
    }
  })

  it('refuses an unknown signer', async () => {
    const jws = await signBundle(bundlePayload(), es256.privateKey)
    expect(await codeOf(() => verifyBundle(jws, lookup([]), NOW))).toBe('bundle-signer-unknown')
  })

  it('refuses a bad signature: changed payload, signature, or a key posing under another kid', async () => {
    const jws = await signBundle(bundlePayload(), es256.privateKey)
    const [h, p, s] = jws.split('.') as [string, string, string]
    const changed = Buffer.from(JSON.stringify({ ...bundlePayload(), version: 4 })).toString('base64url')
    expect(await codeOf(() => verifyBundle(`${h}.${changed}.${s}`, lookup([es256.signer]), NOW))).toBe('bundle-signature-invalid')
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`
    expect(await codeOf(() => verifyBundle(`${h}.${p}.${flipped}`, lookup([es256.signer]), NOW))).toBe('bundle-signature-invalid')

    // An attacker's key signs with the registered signer's kid.
    const attacker = keyPair('P-256')
    const forged = await new CompactSign(new TextEncoder().encode(JSON.stringify(bundlePayload())))
      .setProtectedHeader({ alg: 'ES256', kid: es256.signer.fingerprint, typ: BUNDLE_TYP })
      .sign(attacker.privateKey)
    expect(await codeOf(() => verifyBundle(forged, lookup([es256.signer]), NOW))).toBe('bundle-signature-invalid')

    // Algorithm confusion: the registered key is P-256, the header claims ES384.
    const p384 = keyPair('P-384')
    const confused = await new CompactSign(new TextEncoder().encode(JSON.stringify(bundlePayload())))
      .setProtectedHeader({ alg: 'ES384', kid: es256.signer.fingerprint, typ: BUNDLE_TYP })
      .sign(p384.privateKey)
    expect(await codeOf(() => verifyBundle(confused, lookup([es256.signer]), NOW))).toBe('bundle-signature-invalid')
  })

  it('refuses a bundle outside its validity, just outside each bound', async () => {
    const jws = await signBundle(bundlePayload({ notBefore: '2026-05-02T00:00:00Z' }), es256.privateKey)
    expect(await codeOf(() => verifyBundle(jws, lookup([es256.signer]), new Date('2026-05-01T23:59:59Z')))).toBe('bundle-expired')
    expect(await codeOf(() => verifyBundle(jws, lookup([es256.signer]), new Date('2026-05-02T00:00:00Z')))).toBeUndefined()
    expect(await codeOf(() => verifyBundle(jws, lookup([es256.signer]), new Date('2027-05-01T00:00:00Z')))).toBeUndefined()
    expect(await codeOf(() => verifyBundle(jws, lookup([es256.signer]), new Date('2027-05-01T00:00:01Z')))).toBe('bundle-expired')
  })

  it('refuses malformed bundles before and after the signature', async () => {
    expect(await codeOf(() => signBundle(bundlePayload({ version: 0 }), es256.privateKey))).toBe('bundle-malformed')
    expect(await codeOf(() => signBundle(bundlePayload({ referenceValues: [] }), es256.privateKey))).toBe('bundle-malformed')
    const wrongTyp = await new CompactSign(new TextEncoder().encode('{}')).setProtectedHeader({ alg: 'ES256', kid: es256.signer.fingerprint }).sign(es256.privateKey)
    expect(await codeOf(() => verifyBundle(wrongTyp, lookup([es256.signer]), NOW))).toBe('bundle-malformed')
    const badPayload = await new CompactSign(new TextEncoder().encode('{"format":"other"}'))
      .setProtectedHeader({ alg: 'ES256', kid: es256.signer.fingerprint, typ: BUNDLE_TYP })
      .sign(es256.privateKey)
    expect(await codeOf(() => verifyBundle(badPayload, lookup([es256.signer]), NOW))).toBe('bundle-malformed')
    const twice = bundlePayload()
    const dup = await new CompactSign(new TextEncoder().encode(JSON.stringify({ ...twice, referenceValues: [...twice.referenceValues, ...twice.referenceValues] })))
      .setProtectedHeader({ alg: 'ES256', kid: es256.signer.fingerprint, typ: BUNDLE_TYP })
      .sign(es256.privateKey)
    expect(await codeOf(() => verifyBundle(dup, lookup([es256.signer]), NOW))).toBe('bundle-malformed')
    for (const text of ['', 'a.b', 'a.b.c', '....', 'x'.repeat(600_000)]) {
      expect(await codeOf(() => verifyBundle(text, lookup([es256.signer]), NOW))).toBe('bundle-malformed')
    }
  })

  it('property: arbitrary input raises only bundle problem types', async () => {
    const jws = await signBundle(bundlePayload(), es256.privateKey)
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 400 }),
          fc.tuple(fc.nat(jws.length - 1), fc.constantFrom('A', 'z', '_', '.', '-')).map(([i, c]) => `${jws.slice(0, i)}${c}${jws.slice(i + 1)}`),
        ),
        async (text) => {
          const code = await codeOf(() => verifyBundle(text, lookup([es256.signer]), NOW))
          return text === jws ? code === undefined : code === undefined ? text === jws || isSameBytes(text, jws) : code.startsWith('bundle-')
        },
      ),
      { numRuns: 400 },
    )
  })

  it('only accepts signer keys it can check', () => {
    const dsa = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    expect(() => parseSignerKey(dsa, 'keybroker')).toThrow(KeybrokerError)
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    expect(() => parseSignerKey(p384, 'automata')).toThrow(KeybrokerError)
    const priv = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    expect(() => parseSignerKey(priv, 'keybroker')).toThrow(KeybrokerError)
  })
})

/** base64url with a changed trailing bit may decode to the same bytes: that is the same JWS. */
function isSameBytes(a: string, b: string): boolean {
  const pa = a.split('.')
  const pb = b.split('.')
  return pa.length === 3 && pa.every((part, i) => Buffer.from(part, 'base64url').equals(Buffer.from(pb[i] ?? '', 'base64url')))
}
