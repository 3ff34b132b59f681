/**
 * W3C trace context carried from a request to the outgoing calls keybroker makes while serving
 * it, end to end over HTTPS on both databases: `/v1/verify` with SEV-SNP evidence whose VCEK is
 * missing (and an admin policy explain with such evidence) makes keybroker fetch it from a fake AMD KDS on 127.0.0.1 (test/support/fake-kds.ts),
 * which records the `traceparent` it receives (and the fetches are counted). Intel PCS and Cosmian agent calls are covered by
 * test/services/tdx-pcs.test.ts and test/server/cosmian-pull.test.ts.
 */
import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/log/logger.js'
import type { Database } from '../../src/storage/index.js'
import { computeKeylessBinding } from '../../src/tokens/index.js'
import { createSnpPki, issueEndorsement, makeReport, type SnpPki } from '../generators/snp.js'
import { testDatabases } from '../support/databases.js'
import { FakeKds } from '../support/fake-kds.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const MEASUREMENT = 'a1'.repeat(48) // the generator's default MEASUREMENT
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

let pki: SnpPki
let vcek: Uint8Array
let kds: FakeKds

beforeAll(async () => {
  pki = await createSnpPki('Milan')
  vcek = await issueEndorsement(pki)
  kds = new FakeKds((path) => (path.startsWith('/vcek/v1/Milan/') ? vcek : undefined))
  await kds.start()
})
afterAll(async () => {
  await kds?.stop()
})

describe.each(testDatabases())('trace context into outgoing calls on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  const lines: string[] = []

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(
      database,
      { KEYBROKER_SNP_KDS_FETCH: '1', KEYBROKER_SNP_KDS_URL: kds.url, KEYBROKER_LOG_LEVEL: 'info' },
      createLogger('info', (l) => lines.push(l)),
      { snpArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }] },
    )
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'trace-rv', measurements: [MEASUREMENT] })).status).toBe(201)
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  /** POST /v1/verify with a report whose VCEK is not in the evidence (only ASK and ARK), so keybroker asks the KDS. */
  const verifyWithoutVcek = async (headers: Record<string, string>) => {
    // Fetched VCEKs are cached on disk: empty the cache so that this request asks the KDS again.
    await rm(kb.services.collateral.directory, { recursive: true, force: true })
    const { nonce } = await kb.client.challenge()
    const report = makeReport(pki, { reportData: await computeKeylessBinding(nonce) })
    const body = JSON.stringify({ nonce, evidence: { type: 'snp', report: b64(report), certs: [b64(pki.ask.der), b64(pki.ark.der)] } })
    const asked = kds.traceparents.length
    const res = await kb.raw('POST', '/v1/verify', body, { 'Content-Type': 'application/json', ...headers })
    expect(res.status).toBe(200)
    expect(kds.traceparents.length).toBe(asked + 1)
    return { answered: TRACEPARENT.exec(String(res.headers['traceparent']))?.slice(1), sent: TRACEPARENT.exec(kds.traceparents.at(-1) ?? '')?.slice(1) }
  }

  it("the KDS request continues the caller's trace: same trace id and flags, a parent id of its own; logged", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const callerSpan = '00f067aa0ba902b7'
    const { answered, sent } = await verifyWithoutVcek({ traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' })
    expect(answered?.[0]).toBe(traceId)
    // Other vendors' tracestate goes along unchanged.
    expect(kds.tracestates.at(-1)).toBe('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7')
    expect(sent?.[0]).toBe(traceId)
    expect(sent?.[2]).toBe('01')
    // Neither the caller's span nor keybroker's request span: the outgoing call is a span of its own.
    expect(sent?.[1]).not.toBe(callerSpan)
    expect(sent?.[1]).not.toBe(answered?.[1])
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(records.find((r) => r['msg'] === 'kds: VCEK fetched' && r['traceId'] === traceId)).toMatchObject({ spanId: sent?.[1] })
    expect(records.find((r) => r['msg'] === 'request' && r['route'] === '/v1/verify' && r['traceId'] === traceId)).toMatchObject({ spanId: answered?.[1], status: 200 })
  })

  it('a request without traceparent: the trace keybroker starts (unsampled) goes to the KDS', async () => {
    // A tracestate without a valid traceparent is dropped with it.
    const { answered, sent } = await verifyWithoutVcek({ tracestate: 'congo=t61rcWkgMzE' })
    expect(kds.tracestates.at(-1)).toBeUndefined()
    expect(answered?.[2]).toBe('00')
    expect(sent?.[0]).toBe(answered?.[0])
    expect(sent?.[2]).toBe('00')
    expect(sent?.[1]).not.toBe(answered?.[1])
  })

  it('an admin policy explain with evidence carries its trace to the KDS too', async () => {
    await rm(kb.services.collateral.directory, { recursive: true, force: true })
    const traceId = '0af7651916cd43dd8448eb211c80319c'
    const report = makeReport(pki, { reportData: new Uint8Array(64) })
    const body = JSON.stringify({ evidence: { type: 'snp', report: b64(report), certs: [b64(pki.ask.der), b64(pki.ark.der)] }, referenceValues: ['trace-rv'] })
    const res = await kb.raw('POST', '/admin/v1/policies/default/explain', body, {
      Authorization: `Bearer ${kb.tokens.admin}`,
      'Content-Type': 'application/json',
      traceparent: `00-${traceId}-b7ad6b7169203331-01`,
    })
    expect(res.status).toBe(200)
    const sent = TRACEPARENT.exec(kds.traceparents.at(-1) ?? '')?.slice(1)
    expect(sent?.[0]).toBe(traceId)
    expect(sent?.[1]).not.toBe('b7ad6b7169203331')
  })

  it('counts the fetches in keybroker_collateral_fetches_total', async () => {
    const series = await kb.services.metrics.registry.getSingleMetricAsString('keybroker_collateral_fetches_total')
    expect(series).toContain('keybroker_collateral_fetches_total{source="amd-kds",outcome="ok"} 3')
  })
})
