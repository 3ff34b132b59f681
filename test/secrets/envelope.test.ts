import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isKeybrokerError, type ErrorCode } from '../../src/errors.js'
import { codeOf } from '../support/error-code.js'
import { createKekRing, kekFromBytes, openAtRest, sealAtRest, SecretValue } from '../../src/secrets/index.js'

function detailOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (isKeybrokerError(err)) return err.detail
  }
  return ''
}

const KEK = kekFromBytes(new Uint8Array(32).fill(1))
const OLD_KEK = kekFromBytes(new Uint8Array(32).fill(2))
const OTHER_KEK = kekFromBytes(new Uint8Array(32).fill(3))
const RING = createKekRing(KEK, [OLD_KEK])
const AAD = 'secret:db-password:v3'
const PLAINTEXT = new Uint8Array(Buffer.from('s3cr3t-PLAINTEXT-marker-0123456789', 'ascii'))

describe('envelope encryption at rest', () => {
  it('round-trips, including empty and 64 KiB secrets and SecretValue input', () => {
    for (const plaintext of [PLAINTEXT, new Uint8Array(0), new Uint8Array(randomBytes(65536))]) {
      expect(openAtRest(RING, sealAtRest(KEK, plaintext, AAD), AAD)).toEqual(plaintext)
    }
    expect(openAtRest(RING, sealAtRest(KEK, new SecretValue(PLAINTEXT), AAD), AAD)).toEqual(PLAINTEXT)
  })

  it('opens envelopes sealed under an older KEK of the ring', () => {
    expect(openAtRest(RING, sealAtRest(OLD_KEK, PLAINTEXT, AAD), AAD)).toEqual(PLAINTEXT)
  })

  it('never contains the plaintext or the KEK, and is fresh each time', () => {
    const a = Buffer.from(sealAtRest(KEK, PLAINTEXT, AAD))
    const b = Buffer.from(sealAtRest(KEK, PLAINTEXT, AAD))
    expect(a.includes(Buffer.from(PLAINTEXT))).toBe(false)
    expect(a.includes(Buffer.from(KEK.key))).toBe(false)
    expect(a.equals(b)).toBe(false)
    expect(a.byteLength).toBe(3 + 1 + 1 + 16 + 12 + 1 + 48 + 12 + 4 + PLAINTEXT.byteLength + 16)
  })

  it('refuses any tampered byte with one fixed detail', () => {
    const envelope = sealAtRest(KEK, PLAINTEXT, AAD)
    const details = new Set<string>()
    for (let i = 0; i < envelope.byteLength; i++) {
      const tampered = Uint8Array.from(envelope)
      tampered[i] = (tampered[i] ?? 0) ^ 0x01
      expect(codeOf(() => openAtRest(RING, tampered, AAD)), `byte ${i}`).toBe('internal')
      details.add(detailOf(() => openAtRest(RING, tampered, AAD)))
    }
    expect(details.size).toBe(1)
  })

  it('refuses a wrong aad (other name or version)', () => {
    const envelope = sealAtRest(KEK, PLAINTEXT, AAD)
    for (const aad of ['secret:db-password:v4', 'secret:other:v3', '', `${AAD} `]) {
      expect(codeOf(() => openAtRest(RING, envelope, aad))).toBe('internal')
    }
  })

  it('refuses an unknown KEK', () => {
    const envelope = sealAtRest(OTHER_KEK, PLAINTEXT, AAD)
    expect(codeOf(() => openAtRest(RING, envelope, AAD))).toBe('internal')
    expect(codeOf(() => openAtRest(createKekRing(OTHER_KEK), sealAtRest(KEK, PLAINTEXT, AAD), AAD))).toBe('internal')
  })

  it('refuses a wrong key behind a matching id', () => {
    const envelope = sealAtRest(KEK, PLAINTEXT, AAD)
    const impostor = { id: KEK.id, key: OTHER_KEK.key }
    expect(codeOf(() => openAtRest(createKekRing(impostor), envelope, AAD))).toBe('internal')
  })

  it('refuses every truncation and any appended byte', () => {
    const envelope = sealAtRest(KEK, PLAINTEXT, AAD)
    for (let n = 0; n < envelope.byteLength; n++) {
      expect(codeOf(() => openAtRest(RING, envelope.slice(0, n), AAD)), `length ${n}`).toBe('internal')
    }
    const extended = new Uint8Array(envelope.byteLength + 1)
    extended.set(envelope)
    expect(codeOf(() => openAtRest(RING, extended, AAD))).toBe('internal')
  })

  it('throws only internal for arbitrary bytes', () => {
    const valid = sealAtRest(KEK, PLAINTEXT, AAD)
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 200 }).map((tail) => Uint8Array.from([...valid.slice(0, 21), ...tail]))), (bytes) => {
        expect(codeOf(() => openAtRest(RING, bytes, AAD))).toBe('internal')
      }),
      { numRuns: 1000 },
    )
  })
})
