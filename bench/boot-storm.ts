/**
 * Benchmark (not a test): a boot storm. BENCH_ROUNDS (10,000) disk-unlock rounds — POST
 * /v1/challenge + POST /v1/attest with `recover` (sample evidence, a sealing key) — all arrive
 * within BENCH_ARRIVAL_MS (3 s) at one real `keybroker serve` over HTTPS on 127.0.0.1.
 *
 * Each round is one machine: its own TLS connection (kept alive from its challenge to its attest,
 * as the TypeScript client does; a refused or closed connection is opened again). It retries as
 * the clevis pin does: after a 503 with Retry-After it waits that long plus jitter and starts over
 * with a fresh challenge; after a refused or reset connection (what the service's connection
 * bound does) or a timeout it backs off exponentially (1 s doubling to 16 s, plus jitter) and
 * starts over on a new connection; until it succeeds or its own deadline
 * (BENCH_ROUND_TIMEOUT_S, 240 s) passes. The whole run is bounded by arrival + that deadline.
 *
 * The rounds run in BENCH_CLIENT_PROCS (2) child processes, so that the service (a process of its
 * own) is measured alone: the table gives the CPU time each side used, and the client's event-loop
 * delay (if it is high, the client was the bottleneck and the latencies include its own waiting).
 *
 * Reports, per limit: completed / failed rounds, admitted attest p50/p99 (request sent to 200
 * answer), the share shed per request kind (503 `overloaded`), connection refusals and other
 * transport errors, total time until the last round completed, CPU time of service and clients,
 * and the service's peak RSS (VmHWM from /proc/<pid>/status).
 *
 *   npm run build && flock /work/bench.lock node dist/bench/boot-storm.js
 *   BENCH_MAX_IN_FLIGHT=16,64,256 node dist/bench/boot-storm.js     # one service per limit
 *   BENCH_ROUNDS=2000 BENCH_MAX_CONNECTIONS=128,1024 BENCH_MAX_PENDING_CHALLENGES=64 …  # every combination
 *   DATABASE_URL=postgres://… node dist/bench/boot-storm.js
 */
import { fork } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { Agent, request } from 'node:https'
import { cpus, loadavg, totalmem } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { calculateJwkThumbprint } from 'jose'
import { generateAttestationKey, reportDataFor, type AttestationKey } from '../src/clients/index.js'
import { toBase64Url } from '../src/evidence/reader.js'
import { call, cpuSecondsOf, percentile, startService, type BenchService } from './support/service.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10_000)
const ARRIVAL_MS = Number(process.env.BENCH_ARRIVAL_MS ?? 3_000)
const ROUND_TIMEOUT_MS = Number(process.env.BENCH_ROUND_TIMEOUT_S ?? 240) * 1000
/** One request's bound, and the bound on connecting (TCP and TLS): the pin's curl --max-time 20 --connect-timeout 5. */
const REQUEST_TIMEOUT_MS = 20_000
const CONNECT_TIMEOUT_MS = 5_000
const CLIENT_PROCS = Math.max(1, Number(process.env.BENCH_CLIENT_PROCS ?? 2))
const listOf = (name: string) => (process.env[name] ?? '').split(',').filter((v) => v !== '').map(Number)
/** The sweep: one service per combination (unset: the service's default). */
const LIMITS = listOf('BENCH_MAX_IN_FLIGHT')
const CONNECTION_LIMITS = listOf('BENCH_MAX_CONNECTIONS')
const PENDING_LIMITS = listOf('BENCH_MAX_PENDING_CHALLENGES')
const MEASUREMENT = 'ab'.repeat(48)

interface Point {
  kty: string
  crv: string
  x: string
  y: string
}

interface Sealing {
  name: string
  kid: string
  points: Point[]
  disks: string[]
}

/** What one client process was asked to do. */
interface ClientJob {
  port: number
  first: number
  count: number
  stride: number
  sealing: Sealing
}

/** Counts per request kind. */
interface KindStats {
  requests: number
  /** 503 `overloaded` (or any 503/429 with Retry-After). */
  shed: number
  /** ECONNREFUSED / ECONNRESET / socket hang up before an answer: the connection bound. */
  refused: number
  /** Timeouts and other transport errors. */
  otherErrors: number
}

interface ClientResult {
  admittedMs: number[]
  challenge: KindStats
  attest: KindStats
  staleNonces: number
  completed: number
  failed: number
  /** Time from the run's start to the last completed round, ms. */
  lastCompletedMs: number
  cpuSeconds: number
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  failures: string[]
  /** Transport errors by code (what the clients saw). */
  errorCodes: Record<string, number>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Retry-After plus jitter of up to as long again (what the pin and keybroker-unlock do). */
const backoff = (seconds: number | undefined) => {
  const base = (seconds ?? 1) * 1000
  return base + Math.random() * Math.max(base, 250)
}

class TransportError extends Error {
  constructor(
    readonly refused: boolean,
    message: string,
    readonly code = message,
  ) {
    super(message)
  }
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
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: retryAfterOf(res.headers['retry-after']), body: Buffer.concat(chunks).toString() }),
        )
        res.on('error', (err) => reject(new TransportError(false, err.message)))
      },
    )
    req.on('timeout', () => req.destroy(new TransportError(false, 'timeout')))
    // Connecting (TCP, then TLS) has its own, shorter bound, as with curl --connect-timeout.
    req.on('socket', (socket) => {
      if (!socket.connecting && (socket as { encrypted?: boolean }).encrypted && !socket.pending) return
      const timer = setTimeout(() => req.destroy(new TransportError(false, 'connect timeout')), CONNECT_TIMEOUT_MS)
      socket.once('secureConnect', () => clearTimeout(timer))
      socket.once('close', () => clearTimeout(timer))
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof TransportError) return reject(err)
      // A connection closed by the server before any answer: refused at the door (the bound on
      // connections closes new sockets before the TLS handshake).
      const refused = err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'EPIPE' || /socket hang up|disconnected before/.test(err.message)
      reject(new TransportError(refused, `${err.code ?? ''} ${err.message}`, err.code ?? err.message.slice(0, 40)))
    })
    req.end(text)
  })
}

/** Delay-seconds of a Retry-After header (what keybroker sends), else undefined. */
function retryAfterOf(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  return text !== undefined && /^\d{1,4}$/.test(text.trim()) ? Number(text.trim()) : undefined
}

function newKind(): KindStats {
  return { requests: 0, shed: 0, refused: 0, otherErrors: 0 }
}

/** One machine's unlock, with retries, until success or its deadline. */
async function unlockRound(job: ClientJob, i: number, key: AttestationKey, result: ClientResult, startedAt: number): Promise<void> {
  const deadline = Date.now() + ROUND_TIMEOUT_MS
  // The machine's own connection, kept alive between its challenge and its attest.
  let agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false })
  let kind: KindStats = result.challenge
  let transportFailures = 0
  try {
    while (Date.now() < deadline) {
      try {
        kind = result.challenge
        kind.requests++
        const challenge = await post(agent, job.port, '/v1/challenge', {})
        if (challenge.status !== 200) {
          if (challenge.status === 503 || challenge.status === 429) {
            kind.shed++
            await sleep(backoff(challenge.retryAfter))
            continue
          }
          throw new Error(`challenge answered ${challenge.status}: ${challenge.body.slice(0, 200)}`)
        }
        const { nonce } = JSON.parse(challenge.body) as { nonce: string }
        const evidence = { type: 'sample', measurement: MEASUREMENT, reportData: toBase64Url(await reportDataFor(nonce, key)) }
        const p = i % job.sealing.points.length
        kind = result.attest
        kind.requests++
        const sent = performance.now()
        const res = await post(agent, job.port, '/v1/attest', {
          nonce,
          evidence,
          publicKey: key.publicJwk,
          recover: { sealingKey: job.sealing.name, kid: job.sealing.kid, x: job.sealing.points[p], disk: job.sealing.disks[p] },
        })
        if (res.status === 200) {
          result.admittedMs.push(performance.now() - sent)
          result.completed++
          result.lastCompletedMs = Math.max(result.lastCompletedMs, performance.now() - startedAt)
          return
        }
        if (res.status === 503 || res.status === 429) {
          kind.shed++
          await sleep(backoff(res.retryAfter))
          continue
        }
        // A nonce that expired (or was used by a try that failed) while the answer queued: the
        // pin starts over with a fresh challenge, and so does this round.
        if (/nonce-(expired|reused|invalid)"/.test(res.body)) {
          result.staleNonces++
          continue
        }
        throw new Error(`attest answered ${res.status}: ${res.body.slice(0, 200)}`)
      } catch (err) {
        if (!(err instanceof TransportError)) throw err
        if (err.refused) kind.refused++
        else kind.otherErrors++
        const code = `${kind === result.challenge ? 'challenge' : 'attest'} ${err.code}`
        result.errorCodes[code] = (result.errorCodes[code] ?? 0) + 1
        // Like curl's 000 in the pin: retried on a new connection after an exponential back-off
        // (1 s doubling to 16 s, plus jitter), but until the round's deadline, not 6 attempts.
        agent.destroy()
        agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false })
        await sleep(backoff(Math.min(16, 2 ** transportFailures)))
        transportFailures++
      }
    }
    result.failed++
    if (result.failures.length < 5) result.failures.push(`round ${i}: out of time`)
  } catch (err) {
    result.failed++
    if (result.failures.length < 5) result.failures.push(`round ${i}: ${err instanceof Error ? err.message : String(err)}`)
  } finally {
    agent.destroy()
  }
}

/** A client process: runs its rounds (arriving evenly over ARRIVAL_MS) and sends the result. */
async function runClient(job: ClientJob): Promise<ClientResult> {
  const keys = await Promise.all(Array.from({ length: 16 }, () => generateAttestationKey()))
  const result: ClientResult = {
    admittedMs: [],
    challenge: newKind(),
    attest: newKind(),
    staleNonces: 0,
    completed: 0,
    failed: 0,
    lastCompletedMs: 0,
    cpuSeconds: 0,
    loopDelayP99Ms: 0,
    loopDelayMaxMs: 0,
    failures: [],
    errorCodes: {},
  }
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const cpuBefore = process.cpuUsage()
  const startedAt = performance.now()
  const rounds: Promise<void>[] = []
  for (let n = 0; n < job.count; n++) {
    const i = job.first + n * job.stride
    const at = (i * ARRIVAL_MS) / ROUNDS
    const wait = at - (performance.now() - startedAt)
    if (wait > 1) await sleep(wait)
    rounds.push(unlockRound(job, i, keys[n % keys.length] as AttestationKey, result, startedAt))
  }
  await Promise.all(rounds)
  delay.disable()
  const cpu = process.cpuUsage(cpuBefore)
  result.cpuSeconds = (cpu.user + cpu.system) / 1e6
  result.loopDelayP99Ms = delay.percentile(99) / 1e6
  result.loopDelayMaxMs = delay.max / 1e6
  return result
}

async function peakRssMiB(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1]
    return kb === undefined ? NaN : Number(kb) / 1024
  } catch {
    return NaN
  }
}

interface Limits {
  inFlight?: number
  connections?: number
  pending?: number
}

interface StormFigures {
  limit: string
  rounds: number
  completed: number
  failed: number
  admittedP50Ms: number
  admittedP99Ms: number
  challenge: KindStats
  attest: KindStats
  staleNonces: number
  totalS: number
  serviceCpuS: number
  clientCpuS: number
  clientLoopDelayP99Ms: number
  peakRssMiB: number
  startRssMiB: number
  failures: string[]
  errorCodes: Record<string, number>
}

function describeLimits(limits: Limits): string {
  const parts = [
    limits.inFlight === undefined ? undefined : `in flight ${limits.inFlight}`,
    limits.connections === undefined ? undefined : `connections ${limits.connections}`,
    limits.pending === undefined ? undefined : `pending ${limits.pending}`,
  ].filter((p) => p !== undefined)
  return parts.length === 0 ? 'defaults' : parts.join(', ')
}

async function storm(limits: Limits): Promise<StormFigures> {
  const env: Record<string, string> = {}
  if (limits.inFlight !== undefined) env.KEYBROKER_MAX_IN_FLIGHT_ATTESTATIONS = String(limits.inFlight)
  if (limits.connections !== undefined) env.KEYBROKER_MAX_CONNECTIONS = String(limits.connections)
  if (limits.pending !== undefined) env.KEYBROKER_MAX_PENDING_CHALLENGES = String(limits.pending)
  const kb: BenchService = await startService({ concurrency: 4, env })
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
    const sealing: Sealing = { name: 'storm', kid, points, disks: await Promise.all(points.map((p) => calculateJwkThumbprint(p))) }
    kb.agent.destroy()
    const startRssMiB = await peakRssMiB(kb.pid)
    const serviceCpuBefore = await cpuSecondsOf(kb.pid)
    const script = fileURLToPath(import.meta.url)
    const started = performance.now()
    const results = await Promise.all(
      Array.from({ length: CLIENT_PROCS }, (_, c) => {
        const job: ClientJob = { port: kb.port, first: c, count: Math.ceil((ROUNDS - c) / CLIENT_PROCS), stride: CLIENT_PROCS, sealing }
        return new Promise<ClientResult>((resolve, reject) => {
          const child = fork(script, [], { env: { ...process.env, BENCH_CLIENT_ROLE: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
          let answered = false
          child.once('message', (m) => {
            answered = true
            resolve(m as ClientResult)
          })
          child.once('exit', (code) => {
            if (!answered) reject(new Error(`client process ${c} exited with ${code}`))
          })
          child.send(job)
        })
      }),
    )
    const wallS = (performance.now() - started) / 1000
    const serviceCpuS = (await cpuSecondsOf(kb.pid)) - serviceCpuBefore
    const sum = (f: (r: ClientResult) => number) => results.reduce((a, r) => a + f(r), 0)
    const kindSum = (k: 'challenge' | 'attest'): KindStats => ({
      requests: sum((r) => r[k].requests),
      shed: sum((r) => r[k].shed),
      refused: sum((r) => r[k].refused),
      otherErrors: sum((r) => r[k].otherErrors),
    })
    const admitted = results.flatMap((r) => r.admittedMs)
    const completed = sum((r) => r.completed)
    return {
      limit: describeLimits(limits),
      rounds: ROUNDS,
      completed,
      failed: sum((r) => r.failed),
      admittedP50Ms: percentile(admitted, 0.5),
      admittedP99Ms: percentile(admitted, 0.99),
      challenge: kindSum('challenge'),
      attest: kindSum('attest'),
      staleNonces: sum((r) => r.staleNonces),
      totalS: completed === ROUNDS ? Math.max(...results.map((r) => r.lastCompletedMs)) / 1000 : wallS,
      serviceCpuS,
      clientCpuS: sum((r) => r.cpuSeconds),
      clientLoopDelayP99Ms: Math.max(...results.map((r) => r.loopDelayP99Ms)),
      peakRssMiB: await peakRssMiB(kb.pid),
      startRssMiB,
      failures: results.flatMap((r) => r.failures).slice(0, 5),
      errorCodes: results.reduce<Record<string, number>>((all, r) => {
        for (const [code, n] of Object.entries(r.errorCodes)) all[code] = (all[code] ?? 0) + n
        return all
      }, {}),
    }
  } finally {
    await kb.stop()
  }
}

const pct = (part: number, whole: number) => `${((100 * part) / Math.max(1, whole)).toFixed(1)} %`
const ms = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`)

/** The README-ready table: one column per limit. */
function printTable(all: StormFigures[]): void {
  const rows: [string, (f: StormFigures) => string][] = [
    ['completed / failed rounds', (f) => `${f.completed.toLocaleString('en')} / ${f.failed}`],
    ['admitted attest p50 / p99', (f) => `${ms(f.admittedP50Ms)} / ${ms(f.admittedP99Ms)}`],
    ['challenges shed (503 `overloaded`)', (f) => `${f.challenge.shed.toLocaleString('en')} of ${f.challenge.requests.toLocaleString('en')} (${pct(f.challenge.shed, f.challenge.requests)})`],
    ['attests shed (503 `overloaded`)', (f) => `${f.attest.shed.toLocaleString('en')} of ${f.attest.requests.toLocaleString('en')} (${pct(f.attest.shed, f.attest.requests)})`],
    ['connections refused (challenge / attest)', (f) => `${f.challenge.refused.toLocaleString('en')} / ${f.attest.refused.toLocaleString('en')}`],
    ['other transport errors / stale nonces', (f) => `${f.challenge.otherErrors + f.attest.otherErrors} / ${f.staleNonces}`],
    ['total time', (f) => `${f.totalS.toFixed(1)} s`],
    ['CPU: service / clients', (f) => `${f.serviceCpuS.toFixed(0)} s / ${f.clientCpuS.toFixed(0)} s`],
    ['client event-loop delay p99', (f) => ms(f.clientLoopDelayP99Ms)],
    ['service peak RSS (VmHWM; before the storm)', (f) => `${f.peakRssMiB.toFixed(0)} MiB (${f.startRssMiB.toFixed(0)} MiB)`],
  ]
  console.log(`\n| boot storm, ${ROUNDS.toLocaleString('en')} rounds within ${ARRIVAL_MS / 1000} s | ${all.map((f) => f.limit).join(' | ')} |`)
  console.log(`|---|${all.map(() => '---').join('|')}|`)
  for (const [name, value] of rows) console.log(`| ${name} | ${all.map(value).join(' | ')} |`)
  for (const f of all) {
    for (const failure of f.failures) console.log(`${f.limit}: ${failure}`)
    const codes = Object.entries(f.errorCodes).sort((a, b) => b[1] - a[1])
    if (codes.length > 0) console.log(`${f.limit}: transport errors by request and code: ${codes.map(([c, n]) => `${c} ${n}`).join(', ')}`)
  }
}

async function main(): Promise<void> {
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ` +
      `${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, ${CLIENT_PROCS} client processes, load average ${loadavg()[0]?.toFixed(1)}`,
  )
  const all: StormFigures[] = []
  const orDefault = (list: number[]) => (list.length > 0 ? list : [undefined])
  for (const inFlight of orDefault(LIMITS)) {
    for (const connections of orDefault(CONNECTION_LIMITS)) {
      for (const pending of orDefault(PENDING_LIMITS)) {
        all.push(await storm({ inFlight, connections, pending }))
        console.log(`${all.at(-1)?.limit}: done, load average ${loadavg()[0]?.toFixed(1)}`)
      }
    }
  }
  printTable(all)
}

if (process.env.BENCH_CLIENT_ROLE === '1') {
  process.once('message', (job) => {
    runClient(job as ClientJob)
      .then((result) => process.send?.(result, () => process.exit(0)))
      .catch((err: unknown) => {
        console.error(err)
        process.exit(1)
      })
  })
} else {
  main().catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
