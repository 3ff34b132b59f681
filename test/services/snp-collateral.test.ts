/**
 * Parsers of the SNP collateral path, fuzzed (fast-check): the admin upload (any text gives
 * `bad-request` or `chain-untrusted`, never another error and never acceptance of a changed
 * AMD certificate), the collateral key parser and the cache-directory layout (never a path
 * outside the directory), and the CLI's file-to-evidence mapping.
 */
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isKeybrokerError } from '../../src/errors.js'
import { snpEvidenceFromFiles, snpEvidenceSchema, verifySnpEvidence, verifySnpReport } from '../../src/evidence/snp/index.js'
import { verifySnpUpload } from '../../src/services/snp-collateral.js'
import { parseVcekKey, SNP_KDS_LAYOUT } from '../../src/services/snp-kds.js'
import type { Database } from '../../src/storage/index.js'
import { openTestDatabase } from '../support/databases.js'

const VCEK = new Uint8Array(readFileSync(new URL('../vectors/snp/trustee-milan-vcek/test-vcek.der', import.meta.url)))
const NOW = new Date('2026-11-23T00:00:00Z')
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64')

let database: Database
beforeAll(async () => {
  database = await openTestDatabase('pglite')
})
afterAll(() => database?.close())

async function uploadCode(body: { certificate?: string; crl?: string }): Promise<string> {
  try {
    await verifySnpUpload({ database, now: () => NOW, snpExtraPinnedArks: [] }, body)
    return 'ok'
  } catch (err) {
    return isKeybrokerError(err) ? err.code : `not-a-keybroker-error: ${String(err)}`
  }
}

describe('admin SNP upload parsing', () => {
  it('the real VCEK is accepted; any text gives bad-request or chain-untrusted', async () => {
    expect(await uploadCode({ certificate: b64(VCEK) })).toBe('ok')
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.base64String(), fc.uint8Array({ maxLength: 2048 }).map(b64)), fc.boolean(), async (text, asCrl) => {
        const code = await uploadCode(asCrl ? { crl: text } : { certificate: text })
        expect(['bad-request', 'chain-untrusted']).toContain(code)
      }),
      { numRuns: 300 },
    )
  })

  it('any changed byte of a real VCEK is never accepted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: VCEK.byteLength - 1 }), fc.integer({ min: 1, max: 255 }), async (at, x) => {
        const bad = VCEK.slice()
        bad[at] = (bad[at] ?? 0) ^ x
        expect(['bad-request', 'chain-untrusted']).toContain(await uploadCode({ certificate: b64(bad) }))
      }),
      { numRuns: 200 },
    )
  })

  it('PEM text around the certificate that is not PEM is refused', async () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${b64(VCEK)}\n-----END CERTIFICATE-----\n`
    expect(await uploadCode({ certificate: pem })).toBe('ok')
    expect(await uploadCode({ certificate: `junk\n${pem}` })).toBe('bad-request')
    expect(await uploadCode({ certificate: pem.repeat(9) })).toBe('bad-request')
    expect(await uploadCode({ certificate: pem + pem })).toBe('bad-request')
  })
})

describe('corrupted certificates in evidence (the /v1/attest path)', () => {
  const REPORT = new Uint8Array(readFileSync(new URL('../vectors/snp/trustee-milan-vcek/test-report.bin', import.meta.url)))
  const amdDer = (p: string) =>
    new Uint8Array(Buffer.from(readFileSync(new URL(`../../reference-values/amd/${p}`, import.meta.url), 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'))
  const CHAIN = [VCEK, amdDer('milan/ask-milan.pem'), amdDer('milan/ark-milan.pem')]

  it('any changed byte of VCEK, ASK or ARK gives a typed refusal, never a crash; acceptance only without the changed certificate', async () => {
    expect(await verifySnpEvidence({ report: REPORT, certs: { form: 'list', certificates: CHAIN }, now: NOW }).then(() => 'ok')).toBe('ok')
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (which, pos, x) => {
        const certs = CHAIN.map((c) => c.slice())
        const cert = certs[which] ?? new Uint8Array()
        const at = pos % cert.byteLength
        cert[at] = (cert[at] ?? 0) ^ x
        const outcome = await verifySnpReport({ report: REPORT, certs: { form: 'list', certificates: certs }, now: NOW }).then(
          (v) => ({ code: 'ok', used: [v.chain.leaf, v.chain.intermediate, v.chain.ark].map((c) => c.sha256) }),
          (err: unknown) => ({ code: isKeybrokerError(err) ? err.code : `not-a-keybroker-error: ${String(err)}`, used: [] }),
        )
        // A certificate whose name no longer says its role is ignored and AMD's built-in one is
        // used instead: accepted, but never with the changed bytes.
        expect(['ok', 'evidence-malformed', 'chain-untrusted', 'signature-invalid', 'collateral-missing']).toContain(outcome.code)
        expect(outcome.used).not.toContain(sha(cert))
      }),
      { numRuns: 300 },
    )
  })
})

describe('collateral keys and the cache-directory layout', () => {
  it('never map a key outside the directory', () => {
    const kinds = fc.constantFrom('snp-vcek', 'snp-vlek', 'snp-ask', 'snp-asvk', 'snp-ark', 'snp-crl', 'tdx-x')
    const keys = fc.oneof(
      fc.string(),
      fc.stringMatching(/^(Milan|Genoa|Turin|\.\.)\/[0-9a-f./]{0,140}\/[0-9a-f]{16}$/),
      fc.constantFrom('Milan', 'Genoa', 'Turin', '../Milan', 'Milan/vcek', 'Milan/../vlek'),
    )
    fc.assert(
      fc.property(kinds, keys, (kind, key) => {
        const entry = SNP_KDS_LAYOUT.locate(kind, key)
        if (entry === undefined) return
        expect(entry.path.startsWith('/')).toBe(false)
        expect(entry.path.split('/')).not.toContain('..')
        expect(entry.path).toMatch(/^(vcek|vlek)\/v1\/(Milan|Genoa|Turin)\//)
      }),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(fc.string(), (key) => {
        const k = parseVcekKey(key)
        if (k !== undefined) expect(key.startsWith(`${k.product}/${k.hwid}/`)).toBe(true)
      }),
    )
  })
})

describe('snpEvidenceFromFiles', () => {
  // Each branch of the reader: a certificate table (anything else), DER (a SEQUENCE first) or PEM.
  const certFile = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }).map((b) => new Uint8Array([0x30, ...b])),
    fc.base64String({ maxLength: 300 }).map((b) => new TextEncoder().encode(`-----BEGIN CERTIFICATE-----\n${b}\n-----END CERTIFICATE-----\n`)),
  )
  it('maps report and certificate files to wire evidence the schema reads, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1300 }), fc.array(certFile, { maxLength: 3 }), (report, certs) => {
        let evidence: ReturnType<typeof snpEvidenceFromFiles>
        try {
          evidence = snpEvidenceFromFiles(report, { certs })
        } catch (err) {
          expect(isKeybrokerError(err) && err.code).toBe('evidence-malformed')
          return
        }
        expect(evidence.type).toBe('snp')
        expect(Buffer.from(evidence.report, 'base64')).toEqual(Buffer.from(report))
        // The schema bounds the report to 1..2048 base64 characters; anything else it reads.
        expect(snpEvidenceSchema.safeParse(evidence).success).toBe(report.byteLength > 0)
      }),
    )
  })
})
