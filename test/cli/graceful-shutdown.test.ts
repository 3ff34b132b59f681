/**
 * SIGTERM drains (README, "Reliability and security"): /readyz turns 503, then the listener
 * closes, an upload in flight finishes and is answered, an idle keep-alive connection is closed,
 * and only then the database closes. A real `keybroker serve` (compiled CLI: `npm run build`).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAttestationKey, reportDataFor } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { httpCall, startServe, waitForStatus, type ServeProcess } from '../support/serve-process.js'

const ADMIN = `kb_bootstrap_${randomBytes(24).toString('base64url')}`
const MEASUREMENT = 'd4'.repeat(48)

describe('graceful shutdown', () => {
  let dataDir: string
  let kb: ServeProcess | undefined

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kb-shutdown-'))
  })
  afterAll(async () => {
    await kb?.stop(5_000)
    await rm(dataDir, { recursive: true, force: true })
  })

  it('finishes a slow upload in flight, closes idle keep-alive connections, then the database', async () => {
    kb = await startServe({
      KEYBROKER_DATA_DIR: dataDir,
      KEYBROKER_ALLOW_SAMPLE_EVIDENCE: '1',
      KEYBROKER_SHUTDOWN_DELAY_SECONDS: '2',
      KEYBROKER_SHUTDOWN_GRACE_SECONDS: '30',
      KEYBROKER_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
    })
    const server = kb
    await waitForStatus(server, '/readyz', 200, 60_000)
    const rv = await httpCall(server, 'POST', '/admin/v1/reference-values', { name: 'drain', measurements: [MEASUREMENT] }, { Authorization: `Bearer ${ADMIN}` })
    expect(rv.status).toBe(201)

    // An idle keep-alive connection: one answered request, then nothing.
    const idle = connect({ host: '127.0.0.1', port: server.port, ca: server.caPem, servername: 'localhost' })
    const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()))
    await new Promise<void>((resolve, reject) => {
      idle.once('error', reject)
      idle.once('secureConnect', () => resolve())
    })
    idle.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    await new Promise<void>((resolve) => idle.once('data', () => resolve()))

    // A slow upload: half the body before SIGTERM, the rest a few seconds later.
    const key = await generateAttestationKey()
    const { nonce } = JSON.parse((await httpCall(server, 'POST', '/v1/challenge', {})).body) as { nonce: string }
    const evidence = { type: 'sample', measurement: MEASUREMENT, reportData: toBase64Url(await reportDataFor(nonce, key)) }
    const body = Buffer.from(JSON.stringify({ nonce, evidence, publicKey: key.publicJwk}))
    const upload = request(`${server.url}/v1/verify`, {
      method: 'POST',
      ca: server.caPem,
      agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.byteLength) },
    })
    const answered = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      upload.on('response', (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: Buffer.concat(chunks).toString() }))
      })
      upload.on('error', reject)
    })
    upload.write(body.subarray(0, body.byteLength / 2))
    await new Promise((r) => setTimeout(r, 300))

    server.child.kill('SIGTERM')
    // 1. /readyz turns 503 while the listener still accepts (the shutdown delay).
    await waitForStatus(server, '/readyz', 503, 2_000)
    // 2. The listener closes; 4. the idle keep-alive connection is closed.
    await idleClosed
    const refused = await (async () => {
      for (let i = 0; i < 100; i++) {
        try {
          await httpCall(server, 'GET', '/healthz', undefined, {}, { timeoutMs: 2_000 })
        } catch (err) {
          if (String(err).includes('ECONNREFUSED')) return true
        }
        await new Promise((r) => setTimeout(r, 100))
      }
      return false
    })()
    expect(refused).toBe(true)
    expect(server.alive()).toBe(true)

    // 3. The upload in flight finishes and is answered in full (its connection then closes).
    upload.end(body.subarray(body.byteLength / 2))
    const res = await answered
    expect(res.status, res.body).toBe(200)
    expect(JSON.parse(res.body)).toHaveProperty('token')
    expect(res.connection).toBe('close')

    // 5. Then the database closes, and the process exits 0.
    expect(await server.exited).toBe(0)
    const lines = server
      .log()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; route?: string; status?: number })
    const answeredAt = lines.findIndex((l) => l.msg === 'request' && l.route === '/v1/verify' && l.status === 200)
    const closingDb = lines.findIndex((l) => l.msg === 'connections closed; closing the database')
    expect(answeredAt).toBeGreaterThan(-1)
    expect(closingDb).toBeGreaterThan(answeredAt)
    expect(lines.at(-1)?.msg).toBe('stopped')
    kb = undefined
  }, 180_000)
})
