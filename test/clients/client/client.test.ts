import { mkdtemp, rm } from 'node:fs/promises'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  KeybrokerClient,
  KeybrokerClientError,
  KeybrokerConnectionError,
  KeybrokerResponseError,
  encodeReportData,
  generateAttestationKey,
  openSecret,
  reportDataFor,
  sampleEvidence,
} from '../../../src/clients/index.js'
import { loadOrCreateDevCertificate } from '../../../src/server/dev-certificate.js'
import type { Database } from '../../../src/storage/index.js'
import { computeBinding } from '../../../src/tokens/binding.js'
import { testDatabases } from '../../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../../support/keybroker.js'

const GOOD = 'c3'.repeat(48)
const SECRET = 'the client package opened me'

/** A stand-in server answering from a script, counting what reaches it: the client is under test here. */
async function scriptedServer(
  answers: ((req: IncomingMessage, res: ServerResponse) => void)[],
  tls?: { cert: string; key: string },
): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const answer = answers[Math.min(hits, answers.length - 1)]
    hits++
    req.resume()
    req.on('end', () => answer?.(req, res))
  }
  const server: Server = tls === undefined ? createHttpServer(handler) : (createHttpsServer(tls, handler) as unknown as Server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    hits: () => hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers })
  res.end(JSON.stringify(body))
}
const challenge = json(200, { nonce: 'bm9uY2U', expiresAt: '2030-01-01T00:00:00Z' })

describe('client behaviour against a scripted server', () => {
  it('retries 503 and 429 after the Retry-After they carry, then answers', async () => {
    const busy = json(503, { type: 'https://keybroker.dev/problems/not-ready', status: 503 }, { 'Retry-After': '1' })
    const slow = json(429, { type: 'https://keybroker.dev/problems/too-many-requests', status: 429 }, { 'Retry-After': '0' })
    const server = await scriptedServer([busy, slow, challenge])
    try {
      const started = Date.now()
      const answer = await new KeybrokerClient({ baseUrl: server.url }).challenge()
      expect(answer.nonce).toBe('bm9uY2U')
      expect(server.hits()).toBe(3)
      // Retry-After: 1 was honoured (a lower bound only; never an upper one in a test).
      expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    } finally {
      await server.close()
    }
  })

  it('gives up after `retries`, and does not wait when Retry-After exceeds maxRetryDelayMs', async () => {
    const server = await scriptedServer([json(503, { type: 'https://keybroker.dev/problems/not-ready', status: 503 }, { 'Retry-After': '0' })])
    const later = await scriptedServer([json(503, { type: 'https://keybroker.dev/problems/not-ready', status: 503 }, { 'Retry-After': '3600' })])
    try {
      const err = await new KeybrokerClient({ baseUrl: server.url, retries: 2 }).challenge().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(KeybrokerClientError)
      expect({ status: (err as KeybrokerClientError).status, code: (err as KeybrokerClientError).code }).toEqual({ status: 503, code: 'not-ready' })
      expect(server.hits()).toBe(3)
      const tooLong = await new KeybrokerClient({ baseUrl: later.url, maxRetryDelayMs: 5000 }).challenge().catch((e: unknown) => e)
      expect((tooLong as KeybrokerClientError).retryAfterSeconds).toBe(3600)
      expect(later.hits()).toBe(1)
    } finally {
      await server.close()
      await later.close()
    }
  })

  it('a non-JSON answer (a proxy page) or a 2xx of the wrong shape is a KeybrokerResponseError', async () => {
    const html = (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(502, { 'Content-Type': 'text/html' })
      res.end('<html><body>Bad Gateway</body></html>')
    }
    const server = await scriptedServer([html, json(200, { nonce: 42 }), json(404, { type: 'x' }, { 'Content-Type': 'application/json' })])
    const client = new KeybrokerClient({ baseUrl: server.url })
    try {
      const proxy = await client.challenge().catch((e: unknown) => e)
      expect(proxy).toBeInstanceOf(KeybrokerResponseError)
      expect(proxy).toMatchObject({ code: 'invalid-response', status: 502, contentType: 'text/html', reason: 'not JSON' })
      expect((proxy as KeybrokerResponseError).bodyExcerpt).toContain('Bad Gateway')
      expect(await client.challenge().catch((e: unknown) => e)).toMatchObject({ code: 'invalid-response', reason: 'no nonce' })
      expect(await client.challenge().catch((e: unknown) => e)).toMatchObject({ code: 'invalid-response', status: 404 })
    } finally {
      await server.close()
    }
  })

  it('a certificate that matches no pin is refused before a byte of the request is sent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-pin-'))
    const tls = await loadOrCreateDevCertificate(dir, '127.0.0.1')
    const server = await scriptedServer([challenge], tls)
    try {
      const wrong = await new KeybrokerClient({ baseUrl: server.url, pinSha256: '00'.repeat(32) }).challenge().catch((e: unknown) => e)
      expect(wrong).toBeInstanceOf(KeybrokerConnectionError)
      expect((wrong as KeybrokerConnectionError).code).toBe('pin-mismatch')
      expect(server.hits()).toBe(0)
      // The fingerprint as keybroker logs it (colon-separated hex), and as base64.
      expect((await new KeybrokerClient({ baseUrl: server.url, pinSha256: tls.fingerprint }).challenge()).nonce).toBe('bm9uY2U')
      const b64 = Buffer.from(tls.fingerprint.replace(/:/g, ''), 'hex').toString('base64')
      expect((await new KeybrokerClient({ baseUrl: server.url, pinSha256: ['11'.repeat(32), b64] }).challenge()).nonce).toBe('bm9uY2U')
      // Without a pin or a CA, the self-signed certificate is not trusted.
      expect(await new KeybrokerClient({ baseUrl: server.url, retries: 0 }).challenge().catch((e: unknown) => e)).toBeInstanceOf(KeybrokerConnectionError)
      expect(server.hits()).toBe(2)
    } finally {
      await server.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('offers the report data in every encoding the evidence types take, equal to the service binding', async () => {
    const key = await generateAttestationKey()
    const nonce = 'AAECAwQFBgcICQoLDA0ODw'
    const bytes = await reportDataFor(nonce, key)
    expect(Buffer.from(bytes)).toEqual(Buffer.from(await computeBinding(nonce, key.publicJwk)))
    const enc = encodeReportData(bytes)
    expect(Buffer.from(enc.hex, 'hex')).toEqual(Buffer.from(bytes))
    expect(Buffer.from(enc.base64, 'base64')).toEqual(Buffer.from(bytes))
    expect(Buffer.from(enc.base64url, 'base64url')).toEqual(Buffer.from(bytes))
    expect(enc.tpmQualifyingDataHex).toBe(enc.hex.slice(0, 64))
    expect(enc.agentNonce).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(Buffer.from(enc.agentNonce, 'base64url')).toEqual(Buffer.from(bytes.subarray(0, 32)))
    expect(sampleEvidence(bytes, GOOD)).toEqual({ type: 'sample', measurement: GOOD, reportData: enc.base64url, debug: false })
  })
})

describe.each(testDatabases())('client against keybroker on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'client-rv', measurements: [GOOD] })).status).toBe(201)
    const value = Buffer.from(SECRET).toString('base64url')
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'client-secret', value, referenceValues: ['client-rv'] })).status).toBe(201)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('pins the development certificate by its logged SHA-256, attests and opens a secret', async () => {
    const client = new KeybrokerClient({ baseUrl: kb.url, pinSha256: kb.server.fingerprint ?? '' })
    const { token, key, secrets, jwe } = await client.attestAndOpen((rd) => sampleEvidence(rd, GOOD), ['client-secret'])
    expect(Buffer.from(secrets['client-secret'] ?? []).toString()).toBe(SECRET)
    expect(jwe['client-secret']?.split('.')).toHaveLength(5)
    const again = await client.secret('client-secret', { token, key })
    expect({ name: again.name, version: again.version, text: Buffer.from(again.plaintext).toString() }).toEqual({ name: 'client-secret', version: 1, text: SECRET })
    expect(again.jwe.split('.')).toHaveLength(5)
  })

  it('attests without the EAR when asked (token: false): the secret opens, the answer has no token', async () => {
    const key = await generateAttestationKey('P-256')
    const { nonce } = await kb.client.challenge()
    const evidence = sampleEvidence(await reportDataFor(nonce, key), GOOD)
    const answer = await kb.client.attest({ nonce, evidence, publicKey: key.publicJwk, release: ['client-secret'], token: false })
    expect(answer).not.toHaveProperty('token')
    expect(Buffer.from(await openSecret(answer.secrets['client-secret'] ?? '', key)).toString()).toBe(SECRET)
    // Without token: false, an answer that lacks the token is the wrong shape.
    const scripted = await scriptedServer([json(200, { secrets: {} })])
    try {
      const client = new KeybrokerClient({ baseUrl: scripted.url })
      expect(await client.attest({ nonce, evidence, publicKey: key.publicJwk, token: false })).toEqual({ secrets: {} })
      await expect(client.attest({ nonce, evidence, publicKey: key.publicJwk })).rejects.toBeInstanceOf(KeybrokerResponseError)
    } finally {
      await scripted.close()
    }
  })

  it('starts over with a fresh challenge when the nonce expired while the evidence was made', async () => {
    let calls = 0
    const result = await kb.client.attestAndOpen((rd) => {
      // The first evidence takes "too long": the nonce expires before it is posted.
      if (calls++ === 0) kb.clock.advance(kb.config.nonceTtlSeconds + 1)
      return sampleEvidence(rd, GOOD)
    }, ['client-secret'])
    kb.clock.reset()
    expect(calls).toBe(2)
    expect(Buffer.from(result.secrets['client-secret'] ?? []).toString()).toBe(SECRET)
  })

  it('with retries: 0, nonce-expired reaches the caller as a typed problem', async () => {
    const client = new KeybrokerClient({ baseUrl: kb.url, ca: kb.server.caPem ?? '', retries: 0 })
    const err = await client
      .attestAndOpen((rd) => {
        kb.clock.advance(kb.config.nonceTtlSeconds + 1)
        return sampleEvidence(rd, GOOD)
      }, ['client-secret'])
      .catch((e: unknown) => e)
      .finally(() => kb.clock.reset())
    expect(err).toBeInstanceOf(KeybrokerClientError)
    expect({ status: (err as KeybrokerClientError).status, code: (err as KeybrokerClientError).code }).toEqual({ status: 400, code: 'nonce-expired' })
  })

  it('a denial carries its failed rules', async () => {
    const err = await kb.client.attestAndOpen((rd) => sampleEvidence(rd, 'dd'.repeat(48)), ['client-secret']).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KeybrokerClientError)
    expect((err as KeybrokerClientError).failedRules.map((r) => r.rule)).toContain('measurement-in-reference-values')
  })
})
