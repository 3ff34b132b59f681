/**
 * Property tests of the Cosmian parsers (docs/conventions.md §9): arbitrary bytes and truncations of the
 * real quotes only ever give `evidence-malformed` / `evidence-unsupported`, and the schema-level
 * wire decoding never lets anything else escape.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { cosmianVerifier, parseCosmianTeeQuote } from '../../../src/evidence/cosmian/index.js'
import { NO_COLLATERAL } from '../../../src/evidence/types.js'
import { asyncCodeOf, codeOf } from '../../support/error-code.js'

const sev = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../vectors/snp/cosmian-tee-tools/${name}`, import.meta.url)))
const QUOTES = ['report-ark-ask-vcek.bin', 'report-vlek-aws.bin', 'report-vlek.bin', 'az_sev_report_with_chain.bin'].map(sev)
const STRUCTURAL = ['evidence-malformed', 'evidence-unsupported']

describe('parseCosmianTeeQuote', () => {
  test('arbitrary bytes: only evidence-malformed or evidence-unsupported (or a parse)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), (b) => [...STRUCTURAL, 'no-error'].includes(codeOf(() => parseCosmianTeeQuote(b)))), { numRuns: 400 })
  })

  test('a real report followed by arbitrary bytes: never another error', () => {
    const report = QUOTES[0]!.subarray(0, 1184)
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), (tail) => [...STRUCTURAL, 'no-error'].includes(codeOf(() => parseCosmianTeeQuote(new Uint8Array([...report, ...tail]))))),
      { numRuns: 400 },
    )
  })

  // Every cut point, not a sample: a sampled run once missed the cuts that parsed (a bincode
  // quote cut so that it read as the other enum's layout with 16 stray bytes for a certificate).
  test('truncating a real quote anywhere after the report is evidence-malformed, or (PEM form) a shorter chain at a block boundary', () => {
    for (const q of QUOTES) {
      const full = parseCosmianTeeQuote(q)
      const listOf = (p: ReturnType<typeof parseCosmianTeeQuote> | undefined): readonly Uint8Array[] =>
        p?.kind === 'snp' && p.certs?.form === 'list' ? p.certs.certificates : []
      const fullCerts = listOf(full)
      let end = q.byteLength
      while (end > 0 && (q[end - 1] === 0x0a || q[end - 1] === 0x0d || q[end - 1] === 0x20)) end--
      for (let n = 1185; n < end; n++) {
        let parsed: ReturnType<typeof parseCosmianTeeQuote> | undefined
        const code = codeOf(() => {
          parsed = parseCosmianTeeQuote(q.subarray(0, n))
        })
        if (code === 'evidence-malformed') continue
        // A PEM chain cut right after an END line is a well-formed shorter chain; the verifier
        // then lacks a certificate. It must be a strict prefix of the real chain, nothing else.
        expect({ n, code, layout: parsed?.kind === 'snp' ? parsed.layout : undefined }).toEqual({ n, code: 'no-error', layout: 'azure-pem' })
        const certs = listOf(parsed)
        expect(certs.length).toBeLessThan(fullCerts.length)
        certs.forEach((c, i) => expect(Buffer.from(c).equals(Buffer.from(fullCerts[i]!))).toBe(true))
      }
    }
  })

  test('a bincode length field pointing past the end is evidence-malformed, never an allocation', () => {
    const q = QUOTES[0]!.slice()
    const view = new DataView(q.buffer)
    // First certificate's u64 length: after report (1184), count (8), type (4).
    view.setBigUint64(1184 + 8 + 4, 0xffffffffffffn, true)
    expect(codeOf(() => parseCosmianTeeQuote(q))).toBe('evidence-malformed')
    view.setBigUint64(1184, 1n << 40n, true)
    expect(codeOf(() => parseCosmianTeeQuote(q))).toBe('evidence-malformed')
  })
})

describe('cosmian evidence objects', () => {
  test('arbitrary members: schema refusal or a structural error, nothing else', async () => {
    const member = fc.oneof(
      fc.uint8Array({ maxLength: 1300 }).map((b) => Buffer.from(b).toString('base64').replace(/=+$/, '')),
      fc.uint8Array({ maxLength: 1300 }).map((b) => [...b]),
      fc.string({ maxLength: 30 }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          teeQuote: member,
          tpmQuote: fc.option(fc.record({ pcr_value_hash_method: fc.constantFrom('Sha1', 'Sha256', 'Md5'), quote: member, signature: member, public_key: member })),
          imaBinary: fc.option(member),
          agentCertificate: fc.option(fc.string({ maxLength: 60 })),
        }),
        async (r) => {
          const parsed = cosmianVerifier.schema.safeParse(Object.fromEntries(Object.entries({ type: 'cosmian', ...r }).filter(([, v]) => v !== null)))
          if (!parsed.success) return true
          const code = await asyncCodeOf(() => cosmianVerifier.verify(parsed.data, { now: new Date('2026-11-23T00:00:00Z'), collateral: NO_COLLATERAL }))
          return [...STRUCTURAL, 'chain-untrusted', 'signature-invalid', 'collateral-missing'].includes(code)
        },
      ),
      { numRuns: 200 },
    )
  })
})
