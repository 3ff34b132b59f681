import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { codeOf } from '../support/error-code.js'
import { createNonceService, NONCE_LENGTH } from '../../src/tokens/index.js'

const KEY = new Uint8Array(32).fill(7)
const OTHER_KEY = new Uint8Array(32).fill(8)
const T0 = new Date('2026-03-01T12:00:00.250Z')
const TTL = 120

describe('nonce service', () => {
  const service = createNonceService({ key: KEY, ttlSeconds: TTL })

  it('issues 76-character base64url nonces that verify', () => {
    const { nonce, expiresAt } = service.issue(T0)
    expect(nonce).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(nonce).toHaveLength(NONCE_LENGTH)
    expect(expiresAt.toISOString()).toBe('2026-03-01T12:02:00.000Z')
    const verified = service.verify(nonce, T0)
    expect(verified.expiresAt).toEqual(expiresAt)
    expect(verified.id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(service.verify(nonce, T0).id).toBe(verified.id)
  })

  it('verifies nonces of an earlier key given as previous (a KEK rotation across replicas), and only those', () => {
    const { nonce } = service.issue(T0)
    const rotated = createNonceService({ key: OTHER_KEY, previousKeys: [KEY], ttlSeconds: TTL })
    expect(rotated.verify(nonce, T0).id).toBe(service.verify(nonce, T0).id)
    expect(codeOf(() => createNonceService({ key: OTHER_KEY, ttlSeconds: TTL }).verify(nonce, T0))).toBe('nonce-invalid')
    // New nonces are MAC'd with the current key only.
    expect(codeOf(() => service.verify(rotated.issue(T0).nonce, T0))).toBe('nonce-invalid')
  })

  it('is verifiable by another instance holding the same key (stateless replicas)', () => {
    const { nonce } = service.issue(T0)
    const replica = createNonceService({ key: Uint8Array.from(KEY), ttlSeconds: 5 })
    expect(replica.verify(nonce, T0).id).toBe(service.verify(nonce, T0).id)
  })

  it('gives distinct nonces and ids', () => {
    const a = service.issue(T0)
    const b = service.issue(T0)
    expect(a.nonce).not.toBe(b.nonce)
    expect(service.verify(a.nonce, T0).id).not.toBe(service.verify(b.nonce, T0).id)
  })

  it('accepts just before expiry and refuses at and after it', () => {
    const { nonce, expiresAt } = service.issue(T0)
    expect(service.verify(nonce, new Date(expiresAt.getTime() - 1)).expiresAt).toEqual(expiresAt)
    expect(codeOf(() => service.verify(nonce, expiresAt))).toBe('nonce-expired')
    expect(codeOf(() => service.verify(nonce, new Date(expiresAt.getTime() + 1000)))).toBe('nonce-expired')
  })

  it('refuses a nonce from another key', () => {
    const other = createNonceService({ key: OTHER_KEY, ttlSeconds: TTL })
    expect(codeOf(() => service.verify(other.issue(T0).nonce, T0))).toBe('nonce-invalid')
  })

  it('refuses every single-byte tamper', () => {
    const bytes = Buffer.from(service.issue(T0).nonce, 'base64url')
    for (let i = 0; i < bytes.byteLength; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const tampered = Buffer.from(bytes)
        tampered[i] = (tampered[i] ?? 0) ^ mask
        expect(codeOf(() => service.verify(tampered.toString('base64url'), T0)), `byte ${i} ^ ${mask}`).toBe('nonce-invalid')
      }
    }
  })

  it('refuses truncated, extended and padded nonces', () => {
    const { nonce } = service.issue(T0)
    for (const text of [nonce.slice(0, -1), `${nonce}A`, `${nonce}=`, ` ${nonce}`, nonce.replace(/.$/, '+'), '']) {
      expect(codeOf(() => service.verify(text, T0))).toBe('nonce-invalid')
    }
  })

  it('throws only nonce-invalid for arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ minLength: 76, maxLength: 76 }), fc.base64String()), (s) => {
        expect(codeOf(() => service.verify(s, T0))).toBe('nonce-invalid')
      }),
      { numRuns: 2000 },
    )
  })

  it('throws only nonce-invalid for arbitrary well-formed 57-byte strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 57, maxLength: 57 }), (b) => {
        expect(codeOf(() => service.verify(Buffer.from(b).toString('base64url'), T0))).toBe('nonce-invalid')
      }),
      { numRuns: 2000 },
    )
  })

  it('is bounded on huge input', () => {
    expect(codeOf(() => service.verify('A'.repeat(10_000_000), T0))).toBe('nonce-invalid')
  })

  it('refuses bad configuration', () => {
    expect(codeOf(() => createNonceService({ key: new Uint8Array(16), ttlSeconds: TTL }))).toBe('internal')
    expect(codeOf(() => createNonceService({ key: KEY, ttlSeconds: 0 }))).toBe('internal')
    expect(codeOf(() => createNonceService({ key: KEY, ttlSeconds: 1.5 }))).toBe('internal')
  })
})
