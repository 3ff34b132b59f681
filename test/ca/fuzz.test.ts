import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { csrDerFromText, decodeAttestationExtension, parseCsr, parseOcspRequest } from '../../src/ca/index.js'
import { codeOf } from '../support/error-code.js'

/**
 * The CA's parsers of untrusted bytes: arbitrary input yields only their typed 4xx codes,
 * never another exception and never a hang.
 */
const bytes = fc.uint8Array({ minLength: 0, maxLength: 600 })
/** DER-ish input: a SEQUENCE header in front of random content, so the parsers get past byte 0. */
const derish = fc.tuple(fc.integer({ min: 0, max: 600 }), bytes).map(([n, b]) => {
  const len = Math.min(n, b.length)
  const head = len < 128 ? [0x30, len] : [0x30, 0x82, len >> 8, len & 0xff]
  return Uint8Array.from([...head, ...b])
})

describe('CA parsers on arbitrary bytes', () => {
  it('parseCsr: only csr-malformed, key-unsupported or csr-signature-invalid', () => {
    fc.assert(
      fc.property(fc.oneof(bytes, derish), (b) => {
        expect(['csr-malformed', 'key-unsupported', 'csr-signature-invalid']).toContain(codeOf(() => parseCsr(b)))
      }),
      { numRuns: 2000 },
    )
  })

  it('csrDerFromText: only csr-malformed or DER bytes', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (t) => {
        expect(['csr-malformed', 'no-error']).toContain(codeOf(() => csrDerFromText(t)))
      }),
      { numRuns: 2000 },
    )
  })

  it('parseOcspRequest: only bad-request', () => {
    fc.assert(
      fc.property(fc.oneof(bytes, derish), (b) => {
        expect(codeOf(() => parseOcspRequest(b))).toBe('bad-request')
      }),
      { numRuns: 2000 },
    )
  })

  it('decodeAttestationExtension: only bad-request', () => {
    fc.assert(
      fc.property(fc.oneof(bytes, derish), (b) => {
        expect(codeOf(() => decodeAttestationExtension(b))).toBe('bad-request')
      }),
      // A UniversalString of odd length inside a SEQUENCE: asn1js throws instead of reporting.
      { numRuns: 2000, examples: [[Uint8Array.from([0x30, 0x02, 0x1c, 0x01, 0x00])]] },
    )
  })
})
