import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClientError, sampleEvidence } from '../../src/clients/index.js'
import { createLogger } from '../../src/log/logger.js'
import { listenMetrics, type MetricsListener } from '../../src/server/metrics-listener.js'
import type { Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { rawRequest } from '../support/http.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'
import { requireWhen } from '../support/required.js'

const HAS_PROMTOOL = requireWhen('KEYBROKER_TEST_REQUIRE_PROMTOOL', 'promtool (Debian package prometheus)', spawnSync('promtool', ['--version']).status === 0)
const GOOD = 'f1'.repeat(48)
/** A secret value that must never appear in a log line, in any encoding. */
const SECRET_TEXT = 'never-log-this-secret-value-7f3a'

describe.each(testDatabases())('metrics and logs on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let metrics: MetricsListener
  const lines: string[] = []

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, { KEYBROKER_LOG_LEVEL: 'debug' }, createLogger('debug', (l) => lines.push(l)))
    metrics = await listenMetrics(kb.services.metrics, { host: '127.0.0.1', port: 0 }, createLogger('silent'))
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'obs-rv', measurements: [GOOD] })).status).toBe(201)
    const value = Buffer.from(SECRET_TEXT).toString('base64url')
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'obs-secret', value, referenceValues: ['obs-rv'] })).status).toBe(201)
    // A release, a denial, a verification failure, a token fetch and a 404.
    const ok = await kb.client.attestAndOpen((rd) => sampleEvidence(rd, GOOD), ['obs-secret'])
    expect(Buffer.from(ok.secrets['obs-secret'] ?? []).toString()).toBe(SECRET_TEXT)
    await kb.client.secret('obs-secret', ok)
    await expect(kb.client.attestAndOpen((rd) => sampleEvidence(rd, 'ee'.repeat(48)), ['obs-secret'])).rejects.toBeInstanceOf(KeybrokerClientError)
    await expect(kb.client.attestAndOpen(() => sampleEvidence(new Uint8Array(64), GOOD), ['obs-secret'])).rejects.toMatchObject({ code: 'binding-mismatch' })
    expect((await kb.raw('GET', '/no/such/route')).status).toBe(404)
  })

  afterAll(async () => {
    await metrics?.close()
    await kb?.close()
    await database?.close()
  })

  const scrape = async (): Promise<string> => {
    const res = await rawRequest({ baseUrl: metrics.url }, 'GET', metrics.url)
    expect(res.status).toBe(200)
    expect(String(res.headers['content-type'])).toContain('text/plain')
    return res.body
  }

  it('serves the series the operators need', async () => {
    const text = await scrape()
    for (const series of [
      'keybroker_http_requests_total{method="POST",route="/v1/attest",status="200",problem=""} 1',
      'keybroker_http_requests_total{method="POST",route="/v1/attest",status="403",problem="policy-denied"} 1',
      'keybroker_http_requests_total{method="POST",route="/v1/attest",status="403",problem="binding-mismatch"} 1',
      'keybroker_http_requests_total{method="GET",route="/v1/secrets/:name",status="200",problem=""} 1',
      'keybroker_attest_duration_seconds_count{outcome="ok"} 1',
      'keybroker_attest_duration_seconds_count{outcome="policy-denied"} 1',
      'keybroker_releases_total{secret="obs-secret"} 2',
      'keybroker_denials_total{secret="obs-secret",rule="measurement-in-reference-values"} 1',
      'keybroker_verification_failures_total{evidence_type="sample",reason="binding-mismatch"} 1',
    ]) {
      expect(text).toContain(series)
    }
    expect(text).toMatch(/^keybroker_http_requests_total\{method="GET",route="[^"]*",status="404",problem="not-found"\} 1$/m)
    expect(text).toMatch(/^keybroker_attest_duration_seconds_bucket\{le="\+Inf",outcome="ok"\} 1$/m)
    expect(text).toMatch(/^keybroker_db_pool_connections \d+$/m)
    expect(text).toMatch(/^keybroker_db_pool_max_connections \d+$/m)
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds [\d.e-]+$/m)
    expect(text).toMatch(/^process_cpu_seconds_total [\d.e-]+$/m)
    expect(text).toContain('# TYPE keybroker_collateral_fetches_total counter')
    expect(text).toContain('# TYPE keybroker_recoveries_total counter')
    // Only GET /metrics is served there.
    expect((await rawRequest({ baseUrl: metrics.url }, 'GET', '/')).status).toBe(404)
  })

  it.skipIf(!HAS_PROMTOOL)('passes promtool check metrics', async () => {
    const result = spawnSync('promtool', ['check', 'metrics'], { input: await scrape(), encoding: 'utf8', timeout: 30_000 })
    expect({ status: result.status, output: `${result.stdout}${result.stderr}`.trim() }).toEqual({ status: 0, output: '' })
  })

  it('logs the request context, never the secret, the tokens or the nonce', async () => {
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    const attested = records.find((r) => r['msg'] === 'attested')
    expect(attested).toMatchObject({ evidenceType: 'sample', measurement: GOOD, released: ['obs-secret@1'], requestId: expect.any(String) })
    expect(records.find((r) => r['msg'] === 'released')).toMatchObject({ released: ['obs-secret@1'] })
    expect(records.find((r) => r['msg'] === 'release denied')).toMatchObject({ evidenceType: 'sample', failedRules: expect.arrayContaining(['obs-secret:measurement-in-reference-values']) })
    const adminLine = records.find((r) => r['msg'] === 'request' && r['route'] === '/admin/v1/secrets' && r['method'] === 'POST')
    expect(adminLine).toMatchObject({ adminTokenId: expect.any(String), adminRole: 'admin', clientIp: '127.0.0.1', status: 201, requestId: expect.any(String) })
    expect(records.find((r) => r['msg'] === 'request' && r['route'] === '/v1/attest' && r['status'] === 403)).toMatchObject({ problem: 'policy-denied' })

    const log = lines.join('')
    for (const forbidden of [SECRET_TEXT, Buffer.from(SECRET_TEXT).toString('base64url'), Buffer.from(SECRET_TEXT).toString('base64'), Buffer.from(SECRET_TEXT).toString('hex'), kb.tokens.admin]) {
      expect(log).not.toContain(forbidden)
    }
    // No JWS/JWE (tokens, sealed secrets) in any line.
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*\./)
  })

  it('continues a W3C trace: the caller trace id, a fresh span id, echoed and logged', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const res = await kb.raw('POST', '/v1/challenge', '{}', { 'Content-Type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` })
    expect(res.status).toBe(200)
    const echoed = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(res.headers['traceparent']))
    expect(echoed?.[1]).toBe(traceId)
    expect(echoed?.[2]).not.toBe('00f067aa0ba902b7')
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r['msg'] === 'request' && r['traceId'] === traceId)).toMatchObject({ spanId: echoed?.[2] })
    // Invalid or all-zero headers start a new trace; a problem answer carries the header too.
    for (const bad of ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'garbage', `ff-${traceId}-00f067aa0ba902b7-01`, `00-${traceId}-00f067aa0ba902b7-01-extra`, `00-${traceId}-0000000000000000-01`]) {
      const fresh = await kb.raw('GET', '/no/such/route', undefined, { traceparent: bad })
      expect(fresh.status).toBe(404)
      expect(String(fresh.headers['traceparent'])).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)
      expect(String(fresh.headers['traceparent'])).not.toContain(traceId)
    }
    // A later version is read as version 00 (its first four fields), extra fields ignored.
    for (const later of [`01-${traceId}-00f067aa0ba902b7-01`, `cc-${traceId}-00f067aa0ba902b7-01-what-the-future-adds`]) {
      const res = await kb.raw('POST', '/v1/challenge', '{}', { 'Content-Type': 'application/json', traceparent: later })
      expect(String(res.headers['traceparent'])).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))
    }
  })
})
