/**
 * The TLS surface, checked with the real openssl client: TLS 1.2 only with ECDHE and AEAD
 * suites (a CBC suite fails the handshake, a GCM suite completes it), no TLS 1.1, and HSTS on
 * every HTTPS answer (errors included) but not over plain HTTP (behind a TLS-terminating proxy).
 * The TLS layer does not touch the database: one engine (PGlite) is enough.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HSTS_VALUE } from '../../src/server/middleware/security-headers.js'
import type { Database } from '../../src/storage/index.js'
import { openTestDatabase } from '../support/databases.js'
import { startKeybroker, type TestKeybroker } from '../support/keybroker.js'

// Both instances share the database, hence its envelopes (the audit key): one KEK.
const KEK = randomBytes(32).toString('base64')

function sClient(port: number, ...args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args], { timeout: 20_000 })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (out += d.toString()))
    p.stdin.end('')
    p.on('close', (status) => resolve({ status, out }))
  })
}

describe('TLS of the HTTPS listener', () => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await openTestDatabase('pglite')
    kb = await startKeybroker(database, { KEYBROKER_KEK: KEK })
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  // The development certificate is ECDSA P-256, so the server's TLS 1.2 suites are ECDHE-ECDSA-*.
  // `@SECLEVEL=0` makes sure it is the server, not the client's own policy, that refuses.
  it.each(['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES256-SHA384'])(
    'refuses the TLS 1.2 CBC suite %s',
    async (suite) => {
      const r = await sClient(kb.server.port, '-tls1_2', '-cipher', `${suite}:@SECLEVEL=0`)
      expect(r.status).not.toBe(0)
      expect(r.out).toMatch(/handshake failure|no shared cipher|alert/i)
    },
  )

  it.each(['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305'])(
    'completes a TLS 1.2 handshake with %s',
    async (suite) => {
      const r = await sClient(kb.server.port, '-tls1_2', '-cipher', suite)
      expect(r.status).toBe(0)
      expect(r.out).toContain(`Cipher is ${suite}`)
    },
  )

  it('speaks TLS 1.3 and refuses TLS 1.1', async () => {
    const v13 = await sClient(kb.server.port, '-tls1_3')
    expect(v13.status).toBe(0)
    expect(v13.out).toMatch(/TLSv1\.3/)
    const v11 = await sClient(kb.server.port, '-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0')
    expect(v11.status).not.toBe(0)
  })

  it('sends HSTS on HTTPS answers, errors included', async () => {
    for (const path of ['/healthz', '/.well-known/jwks.json', '/no/such/route', '/admin/v1/tokens']) {
      const r = await kb.raw('GET', path)
      expect(r.headers['strict-transport-security'], path).toBe(HSTS_VALUE)
    }
  })

  it('sends the security headers and a Content-Length on every answer, JSON, problems and text alike', async () => {
    const json = { 'Content-Type': 'application/json' }
    const answers = [
      await kb.raw('POST', '/v1/challenge', '{}', json),
      await kb.raw('POST', '/v1/attest', '{}', json),
      await kb.raw('GET', '/healthz'),
      await kb.raw('GET', '/no/such/route'),
    ]
    expect(answers.map((r) => r.status)).toEqual([200, 400, 200, 404])
    for (const r of answers) {
      expect(r.headers).toMatchObject({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'strict-transport-security': HSTS_VALUE })
      expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.body)))
      expect(r.headers['transfer-encoding']).toBeUndefined()
    }
  })

  it('sends no HSTS over plain HTTP (the TLS-terminating proxy does)', async () => {
    const plain = await startKeybroker(database, { KEYBROKER_KEK: KEK, KEYBROKER_INSECURE_HTTP: '1' })
    try {
      const r = await fetch(`${plain.url}/healthz`)
      expect(r.status).toBe(200)
      expect(r.headers.get('strict-transport-security')).toBeNull()
    } finally {
      await plain.close()
    }
  })
})
