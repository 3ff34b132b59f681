/**
 * The admin collateral store over HTTPS on both databases: uploads of real AMD certificates
 * (reference-values/amd, test/vectors/snp) and synthetic ones, kinds and keys derived by the
 * server, refusals of what does not chain to a pinned ARK, roles, listing, deletion, audit — and
 * that a stored value is what request-time verification finds.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifySnpEvidence } from '../../src/evidence/snp/index.js'
import type { Database } from '../../src/storage/index.js'
import { createCa, createSnpPki, GEN_NOT_AFTER, issueCrl, issueEndorsement, makeReport, rsaKeys, type SnpPki } from '../generators/snp.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const vector = (p: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../vectors/snp/${p}`, import.meta.url)))
const amdPem = (p: string): string => readFileSync(new URL(`../../reference-values/amd/${p}`, import.meta.url), 'utf8')
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64')

const TRUSTEE_VCEK_KEY =
  'Milan/c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e/7308000000000003'

let genoa: SnpPki

beforeAll(async () => {
  genoa = await createSnpPki('Genoa')
})

describe.each(testDatabases())('admin collateral store on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  const post = (body: unknown, token?: string) => adminCall(kb, 'POST', '/admin/v1/collateral/snp', body, token)

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, {}, undefined, { snpArks: [{ product: 'Genoa', spkiSha256: genoa.arkSpkiSha256 }] })
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it("stores AMD's Milan cert_chain (PEM ASK + ARK) under the keys the verifier looks up", async () => {
    const res = await post({ certificate: amdPem('milan/ask-milan.pem') + amdPem('milan/ark-milan.pem') })
    expect(res.status).toBe(201)
    expect(res.body.stored).toEqual([
      expect.objectContaining({ kind: 'snp-ark', key: 'Milan', notAfter: '2045-10-22T17:23:05.000Z' }),
      expect.objectContaining({ kind: 'snp-ask', key: 'Milan', uploadedBy: expect.stringMatching(/^admin-token:/) }),
    ])
  })

  it('stores a real VCEK (base64 DER) under product/hwID/TCB; the service then verifies the bare report with it', async () => {
    const report = vector('trustee-milan-vcek/test-report.bin')
    expect(await verifySnpEvidence({ report, now: kb.clock.now(), collateral: kb.services.collateral.lookup() }).catch((e) => e.code)).toBe(
      'collateral-missing',
    )
    const res = await post({ certificate: b64(vector('trustee-milan-vcek/test-vcek.der')) })
    expect(res.status).toBe(201)
    expect(res.body.stored).toEqual([expect.objectContaining({ kind: 'snp-vcek', key: TRUSTEE_VCEK_KEY, size: 1360, sha256: '3430987528a9feebc90c1ba5cfac5849926ace82ae652a1bbf464d33bdc36d45' })])
    const claims = await verifySnpEvidence({ report, now: kb.clock.now(), collateral: kb.services.collateral.lookup() })
    expect(claims.measurement.startsWith('a1f39304')).toBe(true)
  })

  it('a VLEK is accepted while valid (2025-06-01) and refused once expired (today)', async () => {
    const vlek = { certificate: b64(vector('trustee-milan-vlek-aws/test-vlek.der')) }
    const today = await post(vlek)
    expect({ status: today.status, type: today.body.type }).toEqual({ status: 403, type: 'https://keybroker.dev/problems/chain-untrusted' })
    kb.clock.advance((Date.parse('2025-06-01T00:00:00Z') - kb.clock.now().getTime()) / 1000)
    try {
      const then = await post(vlek)
      expect(then.status).toBe(201)
      expect(then.body.stored).toEqual([expect.objectContaining({ kind: 'snp-vlek', key: 'Milan/d918000000000004' })])
    } finally {
      kb.clock.reset()
    }
  })

  it('refuses certificates that do not chain to a pinned AMD root: 403 chain-untrusted', async () => {
    for (const f of ['trustee-synthetic-vcek-negative/test-vcek-invalid-legacy.der', 'trustee-synthetic-vcek-negative/test-vcek-invalid-new.der']) {
      const res = await post({ certificate: b64(vector(f)) })
      expect({ status: res.status, type: res.body.type }).toEqual({ status: 403, type: 'https://keybroker.dev/problems/chain-untrusted' })
    }
    // A self-made ARK-Milan (not pinned), and an ASK it signed.
    const rogueArk = await createCa(await rsaKeys(), { name: 'ARK-Milan' })
    const rogueAsk = await createCa(await rsaKeys(), { name: 'SEV-Milan' }, rogueArk)
    for (const der of [rogueArk.der, rogueAsk.der]) {
      expect((await post({ certificate: b64(der) })).status).toBe(403)
    }
    // Not an AMD certificate at all.
    const other = await createCa(await rsaKeys(), { name: 'Example CA' })
    expect((await post({ certificate: b64(other.der) })).body.type).toContain('chain-untrusted')
    const listed = await adminCall(kb, 'GET', '/admin/v1/collateral')
    expect(listed.body.collateral.map((c: { key: string }) => c.key)).not.toContain('Genoa')
  })

  it('stores a CRL under product/vcek or product/vlek after checking it against its ARK', async () => {
    // Test-pinned Genoa ARK first (the built-in AMD Genoa ARK did not sign this CRL).
    expect((await post({ certificate: b64(genoa.ark.der) })).status).toBe(201)
    const crl = await issueCrl(genoa, { revoked: ['0a'] })
    const res = await post({ crl: b64(crl) })
    expect(res.status).toBe(201)
    expect(res.body.stored).toEqual([expect.objectContaining({ kind: 'snp-crl', key: 'Genoa/vcek', notAfter: GEN_NOT_AFTER.toISOString() })])
    const pemCrl = `-----BEGIN X509 CRL-----\n${b64(crl)}\n-----END X509 CRL-----\n`
    expect((await post({ crl: pemCrl, crlFor: 'vlek' })).body.stored[0].key).toBe('Genoa/vlek')

    const impostor = await createCa(await rsaKeys(), { name: 'ARK-Genoa' })
    const forged = await issueCrl(genoa, { signer: impostor })
    expect((await post({ crl: b64(forged) })).body.type).toContain('chain-untrusted')

    // The stored CRL is what request-time verification uses: the VCEK with serial 0a is revoked.
    const vcek = await issueEndorsement(genoa)
    await post({ certificate: b64(genoa.ask.der) })
    const verifier = kb.services.verifiers.verifierFor('snp')
    const evidence = verifier.schema.parse({ type: 'snp', report: b64(makeReport(genoa)), certs: [b64(vcek)] })
    expect(await verifier.verify(evidence, { now: kb.clock.now(), collateral: kb.services.collateral.lookup() }).catch((e) => e.code)).toBe(
      'chain-untrusted',
    )
    const good = await issueEndorsement(genoa, { serial: '0c' })
    const ok = verifier.schema.parse({ type: 'snp', report: b64(makeReport(genoa)), certs: [b64(good)] })
    const claims = await verifier.verify(ok, { now: kb.clock.now(), collateral: kb.services.collateral.lookup() })
    expect(claims.raw['crl']).toBe('checked')
  })

  it('answers 400 for what is not a certificate or CRL, or a bad body', async () => {
    for (const body of [{ certificate: 'bm90IGEgY2VydGlmaWNhdGU=' }, { certificate: '%%%' }, { crl: 'AAAA' }, {}, { certificate: 'x', extra: 1 }, { crlFor: 'tdx', crl: 'AAAA' }]) {
      const res = await post(body)
      expect({ status: res.status, type: res.body.type }).toEqual({ status: 400, type: 'https://keybroker.dev/problems/bad-request' })
    }
  })

  it('lists metadata only, filtered by kind; roles: admin writes, auditor reads, registrar neither', async () => {
    const all = await adminCall(kb, 'GET', '/admin/v1/collateral', undefined, kb.tokens.auditor)
    expect(all.status).toBe(200)
    const kinds = all.body.collateral.map((c: { kind: string; key: string }) => `${c.kind} ${c.key}`)
    expect(kinds).toEqual(expect.arrayContaining(['snp-ark Genoa', 'snp-ark Milan', 'snp-ask Milan', `snp-vcek ${TRUSTEE_VCEK_KEY}`, 'snp-crl Genoa/vcek']))
    expect(kinds).toEqual([...kinds].sort())
    for (const c of all.body.collateral) {
      expect(Object.keys(c).sort()).toEqual(['key', 'kind', 'notAfter', 'sha256', 'size', 'uploadedAt', 'uploadedBy'])
    }
    const arks = await adminCall(kb, 'GET', '/admin/v1/collateral?kind=snp-ark')
    expect(arks.body.collateral.map((c: { key: string }) => c.key)).toEqual(['Genoa', 'Milan'])
    expect((await adminCall(kb, 'GET', '/admin/v1/collateral?kind=SNP')).status).toBe(400)

    expect((await adminCall(kb, 'GET', '/admin/v1/collateral', undefined, kb.tokens.registrar)).status).toBe(403)
    expect((await post({ certificate: amdPem('milan/ark-milan.pem') }, kb.tokens.auditor)).status).toBe(403)
    expect((await post({ certificate: amdPem('milan/ark-milan.pem') }, kb.tokens.registrar)).status).toBe(403)
    const anonymous = await kb.raw('GET', '/admin/v1/collateral')
    expect(anonymous.status).toBe(401)
  })

  it('deletes by kind and percent-encoded key, with audit entries for uploads and deletions', async () => {
    const path = `/admin/v1/collateral/snp-vcek/${encodeURIComponent(TRUSTEE_VCEK_KEY)}`
    expect((await adminCall(kb, 'DELETE', path, undefined, kb.tokens.auditor)).status).toBe(403)
    expect((await adminCall(kb, 'DELETE', path)).status).toBe(204)
    const again = await adminCall(kb, 'DELETE', path)
    expect({ status: again.status, type: again.body.type }).toEqual({ status: 404, type: 'https://keybroker.dev/problems/not-found' })
    expect((await adminCall(kb, 'DELETE', '/admin/v1/collateral/BAD/x')).status).toBe(400)

    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000')
    const entries: { action: string; subject: string; detail: Record<string, unknown> }[] = audit.body.entries
    const deleted = entries.filter((e) => e.action === 'collateral.delete')
    expect(deleted).toEqual([expect.objectContaining({ subject: `snp-vcek:${TRUSTEE_VCEK_KEY}` })])
    const uploads = entries.filter((e) => e.action === 'collateral.upload')
    expect(uploads.map((e) => e.subject)).toContain('snp-ark:Milan')
    expect(uploads.every((e) => typeof e.detail['sha256'] === 'string' && !('bytes' in e.detail))).toBe(true)
    expect((await adminCall(kb, 'GET', '/admin/v1/audit/verify')).body.ok).toBe(true)
  })
})
