import { request } from 'node:https'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAttestationKey, reportDataFor } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { startKeybroker, type TestKeybroker } from '../support/keybroker.js'

/** Every route with a body, as [method, path, needs admin]. */
const BODY_ROUTES = [
  ['POST', '/v1/challenge', false],
  ['POST', '/v1/attest', false],
  ['POST', '/v1/sev/sessions', false],
  ['POST', '/v1/sev/launches', false],
  ['POST', '/v1/verify', false],
  ['POST', '/admin/v1/secrets', true],
  ['PUT', '/admin/v1/secrets/x', true],
  ['POST', '/admin/v1/reference-values', true],
  ['PUT', '/admin/v1/reference-values/x', true],
  ['POST', '/admin/v1/reference-values/x/revoke', true],
  ['POST', '/v1/certificates', false],
  ['POST', '/v1/certificates/ab/revoke', false],
  ['POST', '/certs/csrs/agent-1', false],
  ['POST', '/admin/v1/cas', true],
  ['POST', '/admin/v1/certificate-profiles', true],
  ['PUT', '/admin/v1/certificate-profiles/x', true],
  ['POST', '/admin/v1/certificates/ab/revoke', true],
] as const

const ADMIN_ROUTES = [
  ['GET', '/admin/v1/secrets'],
  ['POST', '/admin/v1/secrets'],
  ['GET', '/admin/v1/secrets/x'],
  ['PUT', '/admin/v1/secrets/x'],
  ['DELETE', '/admin/v1/secrets/x'],
  ['POST', '/admin/v1/secrets/x/rotate'],
  ['POST', '/admin/v1/secrets/x/disable'],
  ['POST', '/admin/v1/secrets/x/enable'],
  ['GET', '/admin/v1/reference-values'],
  ['POST', '/admin/v1/reference-values'],
  ['GET', '/admin/v1/reference-values/x'],
  ['PUT', '/admin/v1/reference-values/x'],
  ['DELETE', '/admin/v1/reference-values/x'],
  ['POST', '/admin/v1/reference-values/x/revoke'],
  ['GET', '/admin/v1/audit'],
  ['GET', '/admin/v1/audit/verify'],
  ['GET', '/admin/v1/audit/checkpoints'],
  ['POST', '/admin/v1/audit/checkpoints'],
] as const

/** Bodies that are not acceptable JSON for any route. */
const BAD_BODIES: readonly [string, string][] = [
  ['malformed JSON', '{"nonce": '],
  ['a JSON string', '"hello"'],
  ['a JSON array', '[1,2,3]'],
  ['null', 'null'],
  ['wrong types', '{"name": 42, "nonce": [], "evidence": "x", "publicKey": 7, "measurements": {}, "value": false}'],
  ['deep nesting', `${'['.repeat(5000)}${']'.repeat(5000)}`],
  ['a huge string value', JSON.stringify({ name: 'x'.repeat(200_000), nonce: 'n'.repeat(200_000) })],
  ['non-UTF-8 bytes', '\u00ff\u00fe{'],
]

describe.each(testDatabases())('bad input on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  const send = (method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}) =>
    kb.raw(method, path, body, headers)

  function expectProblem(res: { status: number; headers: Record<string, unknown>; body: string }, status: number, code?: string) {
    expect(res.status).toBe(status)
    expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/)
    const problem = JSON.parse(res.body) as { type: string; status: number; title: string; detail: string; instance: string }
    expect(problem.status).toBe(status)
    expect(problem.title).toBeTypeOf('string')
    expect(problem.instance).toBe(res.headers['x-request-id'])
    if (code !== undefined) expect(problem.type).toBe(`https://keybroker.dev/problems/${code}`)
    return problem
  }

  for (const [method, path, admin] of BODY_ROUTES) {
    for (const [what, body] of BAD_BODIES) {
      it(`${method} ${path} with ${what} → 400, problem+json`, async () => {
        const headers: Record<string, string> = { 'Content-Type': 'application/json' }
        if (admin) headers.Authorization = `Bearer ${kb.tokens.admin}`
        const res = await send(method, path, body, headers)
        expectProblem(res, 400, 'bad-request')
      })
    }

    it(`${method} ${path} with a body over the limit → 413`, async () => {
      const headers: Record<string, string> = { 'Content-Type': 'application/json' }
      if (admin) headers.Authorization = `Bearer ${kb.tokens.admin}`
      const res = await send(method, path, JSON.stringify({ pad: 'x'.repeat(kb.config.bodyLimitBytes + 10) }), headers)
      expectProblem(res, 413, 'payload-too-large')
    })

    it(`${method} ${path} with a non-JSON content type → 415`, async () => {
      const headers: Record<string, string> = { 'Content-Type': 'text/plain' }
      if (admin) headers.Authorization = `Bearer ${kb.tokens.admin}`
      expectProblem(await send(method, path, '{}', headers), 415, 'unsupported-media-type')
    })
  }

  for (const [method, path] of ADMIN_ROUTES) {
    it(`${method} ${path} without a token → 401; unknown token → 401; wrong role → 403`, async () => {
      const body = method === 'GET' || method === 'DELETE' ? undefined : '{}'
      const json: Record<string, string> = body === undefined ? {} : { 'Content-Type': 'application/json' }
      const none = await send(method, path, body, json)
      expectProblem(none, 401, 'unauthorized')
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/)
      expectProblem(await send(method, path, body, { ...json, Authorization: `Bearer kb_admin_${'A'.repeat(43)}` }), 401, 'unauthorized')
      expectProblem(await send(method, path, body, { ...json, Authorization: 'Basic dXNlcjpwYXNz' }), 401, 'unauthorized')
      const limited = path.includes('reference-values') ? kb.tokens.auditor : kb.tokens.registrar
      if (method !== 'GET' || path.includes('audit') || path.includes('secrets')) {
        const res = await send(method, path, body, { ...json, Authorization: `Bearer ${method === 'GET' ? kb.tokens.registrar : limited}` })
        expectProblem(res, 403, 'forbidden')
      }
    })
  }

  /**
   * Sends `parts` as a chunked body (no Content-Length), one write each; ends the request only
   * if `end`. Resolves with the answer, which may come before the request has ended.
   */
  function sendChunked(path: string, parts: readonly string[], end: boolean) {
    return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = request(new URL(path, kb.url), { method: 'POST', ca: kb.server.caPem, agent: false, headers: { 'Content-Type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          req.destroy()
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
        })
      })
      req.on('error', reject)
      for (const part of parts) req.write(part)
      if (end) req.end()
    })
  }

  it('a chunked JSON body (no Content-Length) is read and validated', async () => {
    const ok = await sendChunked('/v1/challenge', ['{', '}'], true)
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body)).toHaveProperty('nonce')
    expectProblem(await sendChunked('/v1/challenge', ['{"publicKey": ', '7}'], true), 400, 'bad-request')
    expectProblem(await sendChunked('/v1/challenge', ['{"nonce": '], true), 400, 'bad-request')
  })

  it('a chunked JSON body over the limit → 413 before the request ends, connection closed', async () => {
    const pad = 'x'.repeat(256 * 1024)
    const parts = ['{"pad": "', ...Array.from({ length: Math.ceil(kb.config.bodyLimitBytes / pad.length) + 1 }, () => pad)]
    // The request never ends: only a limit enforced while reading can answer it.
    const res = await sendChunked('/v1/attest', parts, false)
    expectProblem(res, 413, 'payload-too-large')
    expect(res.headers.connection).toBe('close')
  })

  it('unknown route → 404 problem', async () => {
    expectProblem(await send('GET', '/v2/nothing'), 404, 'not-found')
    expectProblem(await send('GET', `/${'a'.repeat(4000)}`), 404, 'not-found')
  })

  it('wrong method → 405 with Allow', async () => {
    const res = await send('DELETE', '/v1/challenge')
    expectProblem(res, 405, 'method-not-allowed')
    expect(res.headers.allow).toBe('POST')
    expect((await send('GET', '/v1/attest')).status).toBe(405)
  })

  it('rejects bad path parameters with 400', async () => {
    const auth = { Authorization: `Bearer ${kb.tokens.admin}` }
    expectProblem(await send('GET', '/admin/v1/secrets/..%2F..%2Fetc', undefined, auth), 400, 'bad-request')
    expectProblem(await send('GET', `/admin/v1/secrets/${'n'.repeat(300)}`, undefined, auth), 400, 'bad-request')
    expectProblem(await send('GET', '/admin/v1/audit?limit=0', undefined, auth), 400, 'bad-request')
    expectProblem(await send('GET', '/admin/v1/audit?after=-1', undefined, auth), 400, 'bad-request')
  })

  describe('attest with bad fields', () => {
    async function attestWith(patch: (valid: Record<string, unknown>) => Record<string, unknown>) {
      const key = await generateAttestationKey()
      const { nonce } = await kb.client.challenge()
      const valid = {
        nonce,
        evidence: { type: 'sample', measurement: 'aa'.repeat(48), reportData: toBase64Url(await reportDataFor(nonce, key)) },
        publicKey: key.publicJwk,
      }
      return send('POST', '/v1/attest', JSON.stringify(patch(valid)), { 'Content-Type': 'application/json' })
    }

    const cases: [string, (v: Record<string, unknown>) => Record<string, unknown>, number, string][] = [
      ['a garbage nonce', (v) => ({ ...v, nonce: 'not-a-nonce' }), 400, 'nonce-invalid'],
      ['an empty nonce', (v) => ({ ...v, nonce: '' }), 400, 'bad-request'],
      ['a private JWK', (v) => ({ ...v, publicKey: { ...(v.publicKey as object), d: 'AAAA' } }), 400, 'key-unsupported'],
      ['a symmetric JWK', (v) => ({ ...v, publicKey: { kty: 'oct', k: 'AAAA' } }), 400, 'key-unsupported'],
      ['an EC point off the curve', (v) => ({ ...v, publicKey: { ...(v.publicKey as object), y: toBase64Url(new Uint8Array(32).fill(1)) } }), 400, 'key-unsupported'],
      ['a small RSA key', (v) => ({ ...v, publicKey: { kty: 'RSA', e: 'AQAB', n: toBase64Url(new Uint8Array(128).fill(0xc3)) } }), 400, 'key-unsupported'],
      ['a P-521 key', (v) => ({ ...v, publicKey: { kty: 'EC', crv: 'P-521', x: 'AA', y: 'AA' } }), 400, 'key-unsupported'],
      ['an unknown evidence type', (v) => ({ ...v, evidence: { type: 'quantum' } }), 400, 'evidence-unsupported'],
      ['evidence without type', (v) => ({ ...v, evidence: {} }), 400, 'bad-request'],
      ['bad base64 report data', (v) => ({ ...v, evidence: { ...(v.evidence as object), reportData: '!!!!' } }), 400, 'evidence-malformed'],
      ['short report data', (v) => ({ ...v, evidence: { ...(v.evidence as object), reportData: 'AAAA' } }), 400, 'evidence-malformed'],
      ['a non-hex measurement', (v) => ({ ...v, evidence: { ...(v.evidence as object), measurement: 'zz' } }), 400, 'evidence-malformed'],
      ['an unknown top-level field', (v) => ({ ...v, extra: 1 }), 400, 'bad-request'],
      ['a bad secret name', (v) => ({ ...v, release: ['../etc/passwd'] }), 400, 'bad-request'],
      ['too many secrets', (v) => ({ ...v, release: Array.from({ length: 33 }, (_, i) => `s${i}`) }), 400, 'bad-request'],
    ]
    for (const [what, patch, status, code] of cases) {
      it(`${what} → ${status} ${code}`, async () => {
        expectProblem(await attestWith(patch), status, code)
      })
    }
  })

  it('rejects bad admin values', async () => {
    const auth = { Authorization: `Bearer ${kb.tokens.admin}`, 'Content-Type': 'application/json' }
    const post = (path: string, body: unknown) => send('POST', path, JSON.stringify(body), auth)
    expectProblem(await post('/admin/v1/secrets', { name: 'a', value: '!!', referenceValues: [] }), 400, 'bad-request')
    expectProblem(await post('/admin/v1/secrets', { name: 'a', value: 'AAAA', generate: { bytes: 32 }, referenceValues: [] }), 400, 'bad-request')
    expectProblem(await post('/admin/v1/secrets', { name: 'a', generate: { bytes: 1e9 }, referenceValues: [] }), 400, 'bad-request')
    expectProblem(await post('/admin/v1/secrets', { name: 'a', generate: { bytes: 32 }, referenceValues: ['missing-set'] }), 400, 'bad-request')
    expectProblem(await post('/admin/v1/reference-values', { name: 'r', measurements: ['xyz'] }), 400, 'bad-request')
    expectProblem(await post('/admin/v1/reference-values', { name: 'r', measurements: [] }), 400, 'bad-request')
    expectProblem(await post('/admin/v1/reference-values/none/revoke', { measurement: 'aa', reason: 'x' }), 404, 'not-found')
  })
})
