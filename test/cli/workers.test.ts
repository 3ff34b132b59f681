/**
 * `KEYBROKER_WORKERS` (README, "Several cores: KEYBROKER_WORKERS"): a real `keybroker serve`
 * (compiled CLI: `npm run build`) with a cluster primary and two workers on one 127.0.0.1 socket,
 * on a scratch PostgreSQL database. Every request below goes over a connection of its own, so the
 * primary's round-robin spreads them over the workers; which worker answered is read from the
 * access log (`worker`, `pid`), matched by the request id we send. Skipped without DATABASE_URL,
 * except the refusal on PGlite.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:https'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAttestationKey, reportDataFor, type AttestationKey } from '../../src/clients/index.js'
import { nextRestartDelayMs } from '../../src/cli/serve-primary.js'
import { loadConfig } from '../../src/config/config.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { postgresTestUrl } from '../support/databases.js'
import { httpCall, runCli, startServe, waitForStatus, type HttpAnswer, type ServeProcess } from '../support/serve-process.js'

const ADMIN = `kb_bootstrap_${randomBytes(24).toString('base64url')}`
const MEASUREMENT = 'c7'.repeat(48)
/** Never revoked: the drain case needs a request that succeeds after the revocation case. */
const KEPT = 'c8'.repeat(48)
const POSTGRES = postgresTestUrl()
const HAS_PROMTOOL = spawnSync('promtool', ['--version']).status === 0

describe('KEYBROKER_WORKERS on the embedded database', () => {
  it('defaults to 1 on PGlite and to the number of cores with DATABASE_URL', () => {
    expect(loadConfig({}).workers).toBe(1)
    expect(loadConfig({ DATABASE_URL: 'postgres://kb@127.0.0.1/kb' }).workers).toBe(availableParallelism())
    expect(loadConfig({ DATABASE_URL: 'postgres://kb@127.0.0.1/kb', KEYBROKER_WORKERS: '3' }).workers).toBe(3)
    expect(loadConfig({ KEYBROKER_WORKERS: '1' }).workers).toBe(1)
  })

  it('restarts a dying worker with a doubling pause, reset after a healthy run', () => {
    const pauses: number[] = []
    let last = 0
    for (let i = 0; i < 9; i++) pauses.push((last = nextRestartDelayMs(last, 1_000)))
    expect(pauses).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000])
    expect(nextRestartDelayMs(30_000, 60_000)).toBe(500)
  })

  it('refuses more than one worker on PGlite at start, naming the setting', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'kb-workers-pglite-'))
    try {
      const res = runCli(['serve'], { KEYBROKER_DATA_DIR: dataDir, KEYBROKER_LISTEN: '127.0.0.1:0', KEYBROKER_WORKERS: '2' }, 30_000)
      expect(res.status).toBe(1)
      expect(res.stderr).toContain('invalid setting KEYBROKER_WORKERS')
      expect(res.stderr).toContain('DATABASE_URL')
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 60_000)
})

interface LogLine {
  readonly msg: string
  readonly requestId?: string
  readonly pid?: number
  readonly worker?: number
  readonly workerPid?: number
  readonly url?: string
  readonly status?: number
  readonly restartInMs?: number
  readonly start?: string
  readonly signal?: string
}

describe.skipIf(POSTGRES === undefined)('KEYBROKER_WORKERS=2 on PostgreSQL (needs DATABASE_URL, else skipped)', () => {
  const name = `kb_test_workers_${process.pid}_${randomBytes(4).toString('hex')}`
  let dataDir: string
  let kb: ServeProcess | undefined
  let metricsUrl: string
  let key: AttestationKey
  let seq = 0

  const lines = (): LogLine[] =>
    (kb?.log() ?? '')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine)
  /** The pid of the worker that answered request `id` (its access-log line). */
  const answeredBy = (id: string): number | undefined => lines().find((l) => l.msg === 'request' && l.requestId === id)?.pid
  /** One request on a connection of its own; returns the answer and the pid of the worker that served it. */
  const call = async (method: string, path: string, body?: unknown, admin = false): Promise<HttpAnswer & { pid: number | undefined }> => {
    const id = `wt-${seq++}-${randomBytes(4).toString('hex')}`
    const res = await httpCall(kb as ServeProcess, method, path, body, { 'X-Request-Id': id, ...(admin ? { Authorization: `Bearer ${ADMIN}` } : {}) })
    // The access-log line is written as the answer is sent; give the pipe a moment.
    for (let i = 0; i < 50 && answeredBy(id) === undefined; i++) await new Promise((r) => setTimeout(r, 20))
    return { ...res, pid: answeredBy(id) }
  }
  const attestBody = async (measurement = MEASUREMENT) => {
    const challenge = await call('POST', '/v1/challenge', {})
    const { nonce } = JSON.parse(challenge.body) as { nonce: string }
    const evidence = { type: 'sample', measurement, reportData: toBase64Url(await reportDataFor(nonce, key)) }
    return { nonce, evidence, publicKey: key.publicJwk, release: ['wk-secret'] }
  }
  const workerPids = (): number[] => [...new Set(lines().flatMap((l) => (l.msg === 'worker started' && l.workerPid !== undefined ? [l.workerPid] : [])))]
  /** Whether worker `pid` answers a ready /readyz within ~10 s (asked over new connections). */
  const servedBy = async (pid: number | undefined): Promise<boolean> => {
    for (let i = 0; i < 100; i++) {
      const res = await call('GET', '/readyz')
      if (res.status === 200 && res.pid === pid) return true
      await new Promise((r) => setTimeout(r, 100))
    }
    return false
  }
  const scrape = async (): Promise<string> => {
    const res = await fetch(metricsUrl)
    expect(res.status).toBe(200)
    return res.text()
  }

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: POSTGRES })
    await admin.connect()
    await admin.query(`CREATE DATABASE "${name}"`)
    await admin.end()
    const url = new URL(POSTGRES as string)
    url.pathname = `/${name}`
    dataDir = await mkdtemp(join(tmpdir(), 'kb-workers-'))
    key = await generateAttestationKey()
    kb = await startServe({
      DATABASE_URL: url.toString(),
      KEYBROKER_WORKERS: '2',
      KEYBROKER_DATA_DIR: dataDir,
      KEYBROKER_ALLOW_SAMPLE_EVIDENCE: '1',
      KEYBROKER_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
      KEYBROKER_METRICS_LISTEN: '127.0.0.1:0',
      KEYBROKER_SHUTDOWN_GRACE_SECONDS: '30',
    })
    await waitForStatus(kb, '/readyz', 200, 60_000)
    // Both workers become ready after the primary's start-up.
    for (let i = 0; i < 200 && lines().filter((l) => l.msg === 'ready').length < 2; i++) await new Promise((r) => setTimeout(r, 50))
    metricsUrl = lines().find((l) => l.msg === 'metrics')?.url ?? ''
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    expect((await call('POST', '/admin/v1/reference-values', { name: 'wk-rv', measurements: [MEASUREMENT] }, true)).status).toBe(201)
    expect((await call('POST', '/admin/v1/reference-values', { name: 'wk-kept', measurements: [KEPT] }, true)).status).toBe(201)
    expect((await call('POST', '/admin/v1/secrets', { name: 'wk-secret', generate: { bytes: 32 }, referenceValues: ['wk-rv'] }, true)).status).toBe(201)
  }, 120_000)

  afterAll(async () => {
    await kb?.stop(20_000)
    // Nothing of the process group may outlive it.
    for (const pid of workerPids()) expect(() => process.kill(pid, 0)).toThrow()
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
    const admin = new pg.Client({ connectionString: POSTGRES })
    await admin.connect()
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await admin.end()
  }, 60_000)

  it('starts up once in the primary, and both workers serve', async () => {
    const all = lines()
    expect(all.filter((l) => l.msg === 'worker started')).toHaveLength(2)
    // They turned ready together, once both had checked the database.
    expect(all.filter((l) => l.msg === 'all workers ready')).toHaveLength(1)
    // The bootstrap token is registered once, by the primary (no pid of a worker on that line).
    const bootstrap = all.filter((l) => l.msg === 'bootstrap admin token registered')
    expect(bootstrap).toHaveLength(1)
    expect(bootstrap[0]?.worker).toBeUndefined()
    const pids = new Set<number | undefined>()
    for (let i = 0; i < 12; i++) {
      const res = await call('GET', '/readyz')
      expect(res.status).toBe(200)
      pids.add(res.pid)
    }
    expect(pids.has(undefined)).toBe(false)
    expect(new Set(workerPids())).toEqual(pids)
    // The pid is in the log, never in an answer.
    const res = await call('GET', '/readyz')
    expect(JSON.stringify(res.headers) + res.body).not.toContain(String(res.pid))
  }, 60_000)

  it('refuses a nonce reused on another worker (409)', async () => {
    const body = await attestBody()
    const first = await call('POST', '/v1/attest', body)
    expect(first.status, first.body).toBe(200)
    const others: number[] = []
    for (let i = 0; i < 8; i++) {
      const again = await call('POST', '/v1/attest', body)
      expect(again.status).toBe(409)
      expect(JSON.parse(again.body)).toMatchObject({ type: expect.stringMatching(/\/nonce-reused$/) })
      if (again.pid !== first.pid && again.pid !== undefined) others.push(again.pid)
    }
    expect(others.length).toBeGreaterThan(0)
  }, 60_000)

  let refusedAfterRevocation = 0
  it('holds a revocation made through one worker on the other from the next request on', async () => {
    // Round-robin alternates connections, and a round is two (challenge, attest): an extra
    // request every other round moves the attest to the other worker.
    const attestOn = async (i: number, expected: number) => {
      if (i % 2 === 1) await call('GET', '/healthz')
      const res = await call('POST', '/v1/attest', await attestBody())
      expect(res.status, res.body).toBe(expected)
      return res.pid
    }
    // Both workers hold copies of the release data for the current generation.
    const warmed = new Set<number | undefined>()
    for (let i = 0; i < 16 && warmed.size < 2; i++) warmed.add(await attestOn(i, 200))
    expect(warmed.size).toBe(2)
    const revoke = await call('POST', '/admin/v1/reference-values/wk-rv/revoke', { measurement: MEASUREMENT, reason: 'CVE-2026-0013' }, true)
    expect(revoke.status, revoke.body).toBe(200)
    const answeredBy = new Set<number | undefined>()
    for (let i = 0; i < 16 && answeredBy.size < 2; i++) {
      answeredBy.add(await attestOn(i, 403))
      refusedAfterRevocation++
    }
    expect(answeredBy.size).toBe(2)
    expect(answeredBy.has(revoke.pid)).toBe(true)
  }, 60_000)

  it('shows the whole process group in one scrape', async () => {
    const text = await scrape()
    expect(text).toMatch(/^keybroker_workers 2$/m)
    // Summed over the workers: the refused attestations of the revocation case, wherever they ran.
    const denied = /^keybroker_http_requests_total\{method="POST",route="\/v1\/attest",status="403",problem="[a-z-]+"\} (\d+)$/m.exec(text)
    expect(Number(denied?.[1])).toBe(refusedAfterRevocation)
    expect(text).toMatch(/^keybroker_http_requests_total\{method="POST",route="\/v1\/attest",status="409",problem="nonce-reused"\} 8$/m)
    if (HAS_PROMTOOL) {
      const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 })
      expect(result.status, result.stdout + result.stderr).toBe(0)
    }
  }, 60_000)

  it('replaces a worker that dies while the service keeps answering', async () => {
    const [victim] = workerPids()
    expect(victim).toBeDefined()
    process.kill(victim as number, 'SIGKILL')
    // Once the primary has seen the death, the other worker answers every new connection. (A
    // connection the primary hands to a worker at the instant it dies is lost: node:cluster's
    // round-robin hand-off never hears back. The README says so; the client's timeout covers it.)
    for (let i = 0; i < 200 && !lines().some((l) => l.msg === 'worker died; restarting it'); i++) await new Promise((r) => setTimeout(r, 10))
    for (let i = 0; i < 6; i++) expect((await call('GET', '/readyz')).status).toBe(200)
    let replacement: number | undefined
    for (let i = 0; i < 300 && replacement === undefined; i++) {
      replacement = lines().filter((l) => l.msg === 'worker started')[2]?.workerPid
      if (replacement === undefined) await new Promise((r) => setTimeout(r, 50))
    }
    expect(replacement).toBeDefined()
    // Started while the other served: it got ready before listening.
    expect(lines().find((l) => l.workerPid === replacement && l.msg === 'worker started')).toMatchObject({ start: 'restart' })
    expect(lines().some((l) => l.msg === 'worker died; restarting it' && l.workerPid === victim)).toBe(true)
    // The replacement becomes ready and serves.
    expect(await servedBy(replacement)).toBe(true)
    expect(await scrape()).toMatch(/^keybroker_worker_restarts_total 1$/m)
    // Dying again soon after its start doubles the pause: a crash loop does not spin.
    process.kill(replacement as number, 'SIGKILL')
    let again: LogLine | undefined
    for (let i = 0; i < 300 && again === undefined; i++) {
      again = lines().find((l) => l.msg === 'worker died; restarting it' && l.workerPid === replacement)
      if (again === undefined) await new Promise((r) => setTimeout(r, 20))
    }
    expect(again).toMatchObject({ restartInMs: 1_000, signal: 'SIGKILL' })
    let third: number | undefined
    for (let i = 0; i < 300 && third === undefined; i++) {
      third = lines().filter((l) => l.msg === 'worker started')[3]?.workerPid
      if (third === undefined) await new Promise((r) => setTimeout(r, 50))
    }
    expect(await servedBy(third)).toBe(true)
    // Neither replacement ever answered 503 `not-ready`: they listened only once ready.
    expect(lines().filter((l) => l.msg === 'request' && (l.pid === replacement || l.pid === third) && l.status === 503)).toEqual([])
  }, 90_000)

  it('drains on SIGTERM: a slow request in flight is answered, then every process exits 0', async () => {
    const server = kb as ServeProcess
    const { release: _, ...verify } = await attestBody(KEPT)
    const body = Buffer.from(JSON.stringify(verify))
    const upload = request(`${server.url}/v1/verify`, {
      method: 'POST',
      ca: server.caPem,
      agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.byteLength) },
    })
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      upload.on('response', (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
      })
      upload.on('error', reject)
    })
    upload.write(body.subarray(0, body.byteLength / 2))
    await new Promise((r) => setTimeout(r, 300))
    server.child.kill('SIGTERM')
    // Every worker begins draining (the primary told them), while the upload is still open.
    for (let i = 0; i < 200 && lines().filter((l) => l.msg === 'shutting down').length < 2; i++) await new Promise((r) => setTimeout(r, 50))
    expect(lines().filter((l) => l.msg === 'shutting down' && l.worker !== undefined)).toHaveLength(2)
    expect(server.alive()).toBe(true)
    upload.end(body.subarray(body.byteLength / 2))
    const res = await answered
    expect(res.status, res.body).toBe(200)
    expect(await server.exited).toBe(0)
    expect(lines().at(-1)).toMatchObject({ msg: 'stopped', clean: true })
    for (const pid of workerPids()) expect(() => process.kill(pid, 0)).toThrow()
    kb = undefined
  }, 120_000)
})
