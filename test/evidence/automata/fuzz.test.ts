/**
 * Property tests of the collaterals parser and the composed verifier: arbitrary JSON and
 * arbitrary bytes in every member give only typed 4xx errors — never a 500, a foreign exception
 * or a hang.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, test } from 'vitest'
import { KeybrokerError, isKeybrokerError } from '../../../src/errors.js'
import { collateralsSchema, createAutomataVerifier, decodeCollaterals } from '../../../src/evidence/automata/index.js'
import { PROBLEMS } from '../../../src/server/problem.js'
import { buildCollaterals, snpCollateralLookup, vcekOf } from '../../generators/automata.js'
import { createSnpPki, GEN_NOW, type SnpPki } from '../../generators/snp.js'
import { akKeyPair } from '../../generators/tpm.js'

/** What the route + parser do with a collaterals value: the code, or `ok`. */
function parseOutcome(value: unknown): string {
  const parsed = collateralsSchema.safeParse(value)
  if (!parsed.success) return 'evidence-malformed'
  try {
    decodeCollaterals(parsed.data)
    return 'ok'
  } catch (err) {
    return isKeybrokerError(err) ? err.code : `foreign: ${String(err)}`
  }
}

const b64 = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('base64'))
const member = fc.oneof(b64, fc.string({ maxLength: 40 }), fc.constant(''), fc.integer(), fc.constant(null))

describe('collaterals parser', () => {
  test('arbitrary JSON: only evidence-malformed or evidence-unsupported', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => ['evidence-malformed', 'evidence-unsupported', 'ok'].includes(parseOutcome(v))),
      { numRuns: 2000 },
    )
  })

  test('documents of the right shape with arbitrary members: only typed 400 errors', () => {
    const doc = fc.record(
      {
        sev_snp: fc.record({ attestation_report: member, vek_cert: member }),
        tdx: fc.record({ attestation_report: member }),
        tpm: fc.record(
          {
            quote: member,
            raw_sig: member,
            pcrs: fc.record({ hash: fc.oneof(fc.integer({ min: -1, max: 70000 }), fc.constantFrom(4, 11, 12, 13)), pcrs: fc.dictionary(fc.string({ maxLength: 3 }), member, { maxKeys: 4 }) }),
            ak_cert: member,
            ak_pub: member,
            var_data: member,
          },
          { requiredKeys: ['quote', 'raw_sig', 'pcrs'] },
        ),
        magic: member,
        nonce: member,
        uuid: member,
        boot_log_tpm: member,
        boot_log_ccel: member,
      },
      { requiredKeys: ['tpm', 'magic', 'nonce'] },
    )
    fc.assert(
      fc.property(doc, (d) => {
        const outcome = parseOutcome(d)
        return outcome === 'ok' || ((outcome === 'evidence-malformed' || outcome === 'evidence-unsupported') && PROBLEMS[outcome].status === 400)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('composed verifier', () => {
  let pki: SnpPki
  let good: Record<string, unknown>
  const verifier = () => createAutomataVerifier({ snp: { extraPinnedArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }] } })
  // Azure's HCLAkPub is an RSA key (the runtime-claims generator writes RSA JWKs).
  const ak = akKeyPair('rsa')

  beforeAll(async () => {
    pki = await createSnpPki('Milan')
    good = (await buildCollaterals({ tee: 'snp', cloud: 'azure', generation: 'v2', nonce: 'x'.repeat(43), ak, snp: { pki, vcek: await vcekOf(pki) } })) as unknown as Record<string, unknown>
  })

  /** Outcome of the whole verifier: `ok`, a 4xx code, or a failure description. */
  async function verifyOutcome(collaterals: unknown): Promise<string> {
    const v = verifier()
    const parsed = v.schema.safeParse({ type: 'automata', collaterals })
    if (!parsed.success) return 'evidence-malformed'
    try {
      await v.verify(parsed.data, { now: GEN_NOW, collateral: snpCollateralLookup(pki) })
      return 'ok'
    } catch (err) {
      if (!(err instanceof KeybrokerError)) return `foreign: ${String(err)}`
      const status = PROBLEMS[err.code].status
      return status >= 400 && status < 500 ? err.code : `status ${status}: ${err.code}`
    }
  }

  const FIELDS = [
    ['sev_snp', 'attestation_report'],
    ['sev_snp', 'vek_cert'],
    ['tpm', 'quote'],
    ['tpm', 'raw_sig'],
    ['tpm', 'ak_pub'],
    ['tpm', 'var_data'],
    ['magic'],
    ['nonce'],
    ['boot_log_tpm'],
  ] as const

  function replaced(path: readonly string[], value: string): Record<string, unknown> {
    const copy = JSON.parse(JSON.stringify(good)) as Record<string, unknown>
    let node = copy
    for (const k of path.slice(0, -1)) node = node[k] as Record<string, unknown>
    node[path[path.length - 1] ?? ''] = value
    return copy
  }

  test('the control verifies', async () => {
    expect(await verifyOutcome(good)).toBe('ok')
  })

  test('arbitrary bytes in any member: a typed 4xx error (or, for magic/nonce, acceptance: the profile judges them)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...FIELDS), fc.uint8Array({ minLength: 1, maxLength: 2000 }), async (path, bytes) => {
        const outcome = await verifyOutcome(replaced(path, Buffer.from(bytes).toString('base64')))
        expect(outcome.startsWith('foreign') || outcome.startsWith('status')).toBe(false)
        if (outcome === 'ok') expect(['magic', 'nonce']).toContain(path[0])
      }),
      { numRuns: 300 },
    )
  })

  test('any member truncated at any length, or one bit flipped: never accepted (except magic/nonce), never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...FIELDS.filter((f) => f[0] !== 'magic' && f[0] !== 'nonce')), fc.nat(), fc.boolean(), async (path, at, truncate) => {
        let node: unknown = good
        for (const k of path) node = (node as Record<string, unknown>)[k]
        const bytes = Buffer.from(String(node), 'base64')
        const i = at % bytes.length
        let mutated: Buffer
        if (truncate) mutated = bytes.subarray(0, i)
        else {
          mutated = Buffer.from(bytes)
          mutated[i] = (mutated[i] ?? 0) ^ (1 << at % 8)
        }
        const outcome = await verifyOutcome(replaced(path, mutated.toString('base64')))
        expect(outcome.startsWith('foreign') || outcome.startsWith('status')).toBe(false)
        // Accepted only where no signed byte changed: the boot log's event data (the digests are
        // what replays; the claims mark data that does not hash to its digest) or a log cut to
        // nothing (no log); ak_pub's DER encoding of an equal key (node tolerates a changed
        // AlgorithmIdentifier parameter; the key, compared by identity, is the same); a VCEK's
        // outer signatureAlgorithm, which its signature does not cover. Everything else is refused.
        if (outcome === 'ok') expect(path.join('.')).toMatch(/^(boot_log_tpm|tpm\.ak_pub|sev_snp\.vek_cert)$/)
      }),
      { numRuns: 300 },
    )
  })
})
