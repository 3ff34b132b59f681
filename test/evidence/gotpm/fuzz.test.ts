/**
 * Property tests of the gotpm decoding and verification (docs/conventions.md §9): arbitrary bytes, arbitrary
 * protojson and mutated real attestations only ever give typed 4xx errors, never anything else.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { gotpmVerifier } from '../../../src/evidence/gotpm/index.js'
import { problemFor } from '../../../src/server/problem.js'
import { asyncCodeOf, type Outcome } from '../../support/error-code.js'
import { COCOS_PB, cocosTrust, GCE_PB, gceTrust } from './vectors.js'

const NOW = new Date('2026-11-23T00:00:00Z')
const isClientError = (o: Outcome): boolean => o !== 'foreign-error' && o !== 'internal' && (o === 'no-error' || problemFor(o, '', undefined).status < 500)
const run = (attestation: unknown, lookup = cocosTrust()) =>
  asyncCodeOf(async () => {
    const parsed = gotpmVerifier.schema.safeParse({ type: 'gotpm', attestation })
    if (!parsed.success) return
    await gotpmVerifier.verify(parsed.data, { now: NOW, collateral: lookup })
  })

describe('gotpm fuzz', () => {
  test('arbitrary bytes: only typed 4xx errors', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 512 }), async (bytes) => {
        expect(isClientError(await run(Buffer.from(bytes).toString('base64')))).toBe(true)
      }),
      { numRuns: 1500 },
    )
  })

  test('a real attestation with bytes changed or cut: only typed 4xx errors', async () => {
    for (const [pb, lookup] of [[GCE_PB(), gceTrust()], [COCOS_PB(), cocosTrust()]] as const) {
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: pb.byteLength - 1 }), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (at, xor, cut) => {
          const b = pb.slice(0, cut ? at + 1 : pb.byteLength)
          if (!cut) b[at] = (b[at] ?? 0) ^ xor
          const outcome = await run(Buffer.from(b).toString('base64'), lookup)
          expect(isClientError(outcome)).toBe(true)
        }),
        { numRuns: 300 },
      )
    }
  })

  test('arbitrary protojson objects: only typed 4xx errors', async () => {
    const json = fc.dictionary(
      fc.constantFrom('akPub', 'ak_pub', 'quotes', 'eventLog', 'akCert', 'intermediateCerts', 'sevSnpAttestation', 'tdxAttestation', 'instanceInfo', 'x'),
      fc.jsonValue({ maxDepth: 3 }),
    )
    await fc.assert(
      fc.asyncProperty(json, async (j) => {
        expect(isClientError(await run(j))).toBe(true)
      }),
      { numRuns: 1500 },
    )
  })
})
