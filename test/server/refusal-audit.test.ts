import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAttestationKey, reportDataFor } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { verifyAudit } from '../../src/services/audit.js'
import type { AuditEntry, Database } from '../../src/storage/index.js'
import { allAuditEntries } from '../support/audit.js'
import { testDatabases } from '../support/databases.js'
import { startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const GOOD = 'd4'.repeat(48)

describe.each(testDatabases())('refused attestations in the audit log on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    // One window for the whole file, so the counts below do not depend on the wall clock.
    kb = await startKeybroker(database, { KEYBROKER_AUDIT_REFUSAL_WINDOW_SECONDS: '3600' })
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  const post = (path: string, body: string) => kb.raw('POST', path, body, { 'Content-Type': 'application/json' })
  const refused = async (reason: string): Promise<AuditEntry[]> =>
    (await allAuditEntries(kb)).filter((e) => e.action === 'attest.refused' && e.detail['reason'] === reason)

  it('audits binding-mismatch, nonce-reused, evidence-malformed, key-unsupported, nonce-invalid and bad-request with reason, client IP and an evidence summary', async () => {
    const key = await generateAttestationKey()
    const { nonce } = await kb.client.challenge()
    const wrongReportData = toBase64Url(new Uint8Array(64).fill(7))
    const cases: [string, string, string][] = [
      ['binding-mismatch', '/v1/attest', JSON.stringify({ nonce, evidence: { type: 'sample', measurement: GOOD, reportData: wrongReportData, debug: false }, publicKey: key.publicJwk, release: [] })],
      ['nonce-reused', '/v1/attest', JSON.stringify({ nonce, evidence: { type: 'sample', measurement: GOOD, reportData: toBase64Url(await reportDataFor(nonce, key)), debug: false }, publicKey: key.publicJwk, release: [] })],
      ['evidence-malformed', '/v1/attest', JSON.stringify({ nonce: (await kb.client.challenge()).nonce, evidence: { type: 'sample', measurement: 42 }, publicKey: key.publicJwk, release: [] })],
      ['key-unsupported', '/v1/attest', JSON.stringify({ nonce: (await kb.client.challenge()).nonce, evidence: { type: 'sample' }, publicKey: { kty: 'oct', k: 'AAAA' }, release: [] })],
      ['nonce-invalid', '/v1/verify', JSON.stringify({ nonce: 'garbage', evidence: { type: 'sample', measurement: GOOD, reportData: wrongReportData, debug: false } })],
      ['bad-request', '/v1/attest', '{"nonce": '],
    ]
    for (const [reason, path, body] of cases) {
      const res = await post(path, body)
      expect({ reason, type: (JSON.parse(res.body) as { type: string }).type }).toEqual({ reason, type: expect.stringMatching(new RegExp(`${reason}$`)) })
      const entries = await refused(reason)
      expect(entries).toHaveLength(1)
      const entry = entries[0]
      expect(entry).toMatchObject({ actor: 'attester', subject: path, outcome: 'refused', detail: { reason, clientIp: '127.0.0.1', count: 1, bodyBytes: Buffer.byteLength(body) } })
      expect(entry?.detail['bodySha256']).toMatch(/^[0-9a-f]{64}$/)
      if (reason !== 'bad-request') expect(entry?.detail['evidenceType']).toBe('sample')
      // A summary, never the evidence.
      expect(JSON.stringify(entry?.detail)).not.toContain(wrongReportData)
      expect(JSON.stringify(entry?.detail)).not.toContain(GOOD)
    }
  })

  it('bounds a flood of 1000 garbage attests to two entries per kind with exact counts; the chain still verifies', async () => {
    const before = (await allAuditEntries(kb)).length
    const garbage = JSON.stringify({ nonce: 'not-a-nonce', evidence: { type: 'sample', measurement: GOOD, reportData: 'x', debug: false }, publicKey: { kty: 'EC' }, release: [] })
    const statuses = new Map<number, number>()
    let next = 0
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < 1000) {
          next += 1
          const res = await post('/v1/attest', next % 2 === 0 ? garbage : '%%% not json')
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        }
      }),
    )
    expect(statuses.get(400)).toBe(1000)
    await kb.services.refusals.flush()
    const added = (await allAuditEntries(kb)).slice(before)
    // bad-request for the non-JSON half; the key is checked before the nonce for the other half: key-unsupported.
    const byReason = new Map<string, AuditEntry[]>()
    for (const e of added) byReason.set(String(e.detail['reason']), [...(byReason.get(String(e.detail['reason'])) ?? []), e])
    expect(added.length).toBeLessThanOrEqual(4)
    const total = (reason: string) => (byReason.get(reason) ?? []).reduce((n, e) => n + Number(e.detail['count']), 0)
    // Both kinds already had their first entry in this window (the test before); alone, this test sees the first entry plus the aggregate.
    expect([...byReason.keys()].sort()).toEqual(['bad-request', 'key-unsupported'])
    expect(total('bad-request')).toBe(500)
    expect(total('key-unsupported')).toBe(500)
    const aggregated = added.filter((e) => e.detail['aggregated'] === true)
    expect(aggregated.every((e) => e.detail['clientIp'] === '127.0.0.1' && typeof e.detail['firstAt'] === 'string')).toBe(true)
    expect(await verifyAudit(kb.services)).toMatchObject({ ok: true, keyed: true })
  })
})
