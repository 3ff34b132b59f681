/**
 * Benchmark (not a test): a boot storm. BENCH_ROUNDS (10,000) disk-unlock rounds — POST
 * /v1/challenge + POST /v1/attest with `recover` (sample evidence, a sealing key) — all arrive
 * within BENCH_ARRIVAL_MS (3 s) at one real `keybroker serve` over HTTPS on 127.0.0.1. The
 * service sheds what exceeds KEYBROKER_MAX_IN_FLIGHT_ATTESTATIONS with 503 `overloaded` +
 * Retry-After; each round retries as the clevis pin does (Retry-After plus jitter, a fresh
 * challenge), until it succeeds or its own deadline (BENCH_ROUND_TIMEOUT_S, 300 s) passes.
 *
 * Reports: admitted attestations' p50/p99 (the 200 answers), the share of attest requests shed,
 * the total time until the last round completed, failures, and the service's peak RSS (VmHWM).
 *
 *   npm run build && node dist/bench/boot-storm.js
 *   BENCH_MAX_IN_FLIGHT=16,64,256 node dist/bench/boot-storm.js     # one run per limit
 *   DATABASE_URL=postgres://… node dist/bench/boot-storm.js
 */
import { generateKeyPairSync } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { Agent, request } from 'node:https'
import { cpus, totalmem } from 'node:os'
import { calculateJwkThumbprint } from 'jose'
import { generateAttestationKey, reportDataFor, type AttestationKey } from '../src/clients/index.js'
import { toBase64Url } from '../src/evidence/reader.js'
import { call, percentile, startService, type BenchService } from './support/service.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10_000)
const ARRIVAL_MS = Number(process.env.BENCH_ARRIVAL_MS ?? 3_000)
const ROUND_TIMEOUT_MS = Number(process.env.BENCH_ROUND_TIMEOUT_S ?? 300) * 1000
/** Client connections at most (the load generator is one process; each round is a machine). */
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 1024)
const LIMITS = (process.env.BENCH_MAX_IN_FLIGHT ?? '').split(',').filter((v) => v !== '').map(Number)
const MEASUREMENT = 'ab'.repeat(48)

interface Point {
  kty: string
  crv: string
  x: string
  y: string
}

interface Stats {
  admittedMs: number[]
  attestRequests: number
  shed: number
  challengeShed: number
  transportErrors: number
  failed: number
  completed: number
  staleNonces: number
}

function post(agent: Agent, port: number, path: string, body: unknown): Promise<{ status: number; retryAfter: number | undefined; body: string }> {
  const text = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: retryAfterOf(res.headers['retry-after']), body: Buffer.concat(chunks).toString() }),
        )
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(text)
  })
}

/** Delay-seconds of a Retry-After header (what keybroker sends), else undefined. */
function retryAfterOf(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  return text !== undefined && /^\d{1,4}$/.test(text.trim()) ? Number(text.trim()) : undefined
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Retry-After plus jitter of up to as long again (what the clients do). */
const backoff = (seconds: number | undefined) => {
  const base = (seconds ?? 1) * 1000
  return base + Math.random() * Math.max(base, 250)
}

async function unlockRound(
  kb: BenchService,
  agent: Agent,
  i: number,
  key: AttestationKey,
  sealing: { name: string; kid: string; points: Point[]; disks: string[] },
  stats: Stats,
): Promise<void> {
  const deadline = Date.now() + ROUND_TIMEOUT_MS
  while (Date.now() < deadline) {
    try {
      const challenge = await post(agent, kb.port, '/v1/challenge', {})
      if (challenge.status !== 200) {
        if (challenge.status === 503) stats.challengeShed++
        await sleep(backoff(challenge.retryAfter))
        continue
      }
      const { nonce } = JSON.parse(challenge.body) as { nonce: string }
      const evidence = { type: 'sample', measurement: MEASUREMENT, reportData: toBase64Url(await reportDataFor(nonce, key)) }
      const p = i % sealing.points.length
      const started = performance.now()
      stats.attestRequests++
      const res = await post(agent, kb.port, '/v1/attest', {
        nonce,
        evidence,
        publicKey: key.publicJwk,
        recover: { sealingKey: sealing.name, kid: sealing.kid, x: sealing.points[p], disk: sealing.disks[p] },
      })
      if (res.status === 200) {
        stats.admittedMs.push(performance.now() - started)
        stats.completed++
        return
      }
      if (res.status === 503) {
        stats.shed++
        await sleep(backoff(res.retryAfter))
        continue
      }
      // A nonce that expired (or was used by a try that failed) while the answer queued: the
      // pin starts over with a fresh challenge, and so does this round.
      if (/nonce-(expired|reused|invalid)"/.test(res.body)) {
        stats.staleNonces++
        continue
      }
      throw new Error(`attest answered ${res.status}: ${res.body.slice(0, 200)}`)
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('attest answered')) {
        stats.failed++
        return
      }
      // Connection refused or reset under load: like curl's 000, retried after a pause.
      stats.transportErrors++
      await sleep(backoff(1))
    }
  }
  stats.failed++
}

async function peakRss(pid: number | undefined): Promise<string> {
  if (pid === undefined) return 'n/a'
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1]
    return kb === undefined ? 'n/a' : `${Math.round(Number(kb) / 1024)} MiB`
  } catch {
    return 'n/a'
  }
}

async function storm(limit: number | undefined): Promise<void> {
  const kb = await startService({
    concurrency: 4,
    env: limit === undefined ? {} : { KEYBROKER_MAX_IN_FLIGHT_ATTESTATIONS: String(limit) },
  })
  try {
    const rv = await call(kb, 'POST', '/admin/v1/reference-values', { name: 'storm', measurements: [MEASUREMENT] }, kb.adminToken)
    if (rv.status !== 201) throw new Error(`setup failed: ${rv.status} ${rv.body}`)
    const sk = await call(kb, 'POST', '/admin/v1/sealing-keys', { name: 'storm', referenceValues: ['storm'] }, kb.adminToken)
    if (sk.status !== 201) throw new Error(`setup failed: ${sk.status} ${sk.body}`)
    const kid = (JSON.parse(sk.body) as { versions: { kid: string }[] }).versions[0]?.kid ?? ''
    const points = Array.from({ length: 64 }, () => {
      const { x, y } = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
      return { kty: 'EC', crv: 'P-256', x: x ?? '', y: y ?? '' }
    })
    const sealing = { name: 'storm', kid, points, disks: await Promise.all(points.map((p) => calculateJwkThumbprint(p))) }
    const keys = await Promise.all(Array.from({ length: 64 }, () => generateAttestationKey()))
    const agent = new Agent({ keepAlive: true, maxSockets: SOCKETS, rejectUnauthorized: false })
    const stats: Stats = { admittedMs: [], attestRequests: 0, shed: 0, challengeShed: 0, transportErrors: 0, failed: 0, completed: 0, staleNonces: 0 }
    const started = performance.now()
    const rounds: Promise<void>[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const at = (i * ARRIVAL_MS) / ROUNDS
      const wait = at - (performance.now() - started)
      if (wait > 1) await sleep(wait)
      rounds.push(unlockRound(kb, agent, i, keys[i % keys.length] as AttestationKey, sealing, stats))
    }
    await Promise.all(rounds)
    const totalS = (performance.now() - started) / 1000
    agent.destroy()
    const rss = await peakRss(kb.pid)
    const line = (k: string, v: string) => console.log(`${k.padEnd(44)} ${v}`)
    console.log(`\nboot storm: ${ROUNDS} unlock rounds arriving within ${ARRIVAL_MS} ms, limit ${limit ?? 'default'} in flight`)
    line('completed / failed', `${stats.completed} / ${stats.failed}`)
    line('admitted attest p50 / p99 (ms)', `${percentile(stats.admittedMs, 0.5).toFixed(1)} / ${percentile(stats.admittedMs, 0.99).toFixed(1)}`)
    line('attest requests shed (503 overloaded)', `${stats.shed} of ${stats.attestRequests} (${((100 * stats.shed) / Math.max(1, stats.attestRequests)).toFixed(1)} %)`)
    line('challenge 503s / transport errors / stale nonces', `${stats.challengeShed} / ${stats.transportErrors} / ${stats.staleNonces}`)
    line('total time (s)', totalS.toFixed(1))
    line('throughput (rounds/s)', (stats.completed / totalS).toFixed(0))
    line('service peak RSS (VmHWM)', rss)
  } finally {
    await kb.stop()
  }
}

async function main(): Promise<void> {
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}`)
  for (const limit of LIMITS.length > 0 ? LIMITS : [undefined]) await storm(limit)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
