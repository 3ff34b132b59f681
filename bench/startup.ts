/**
 * Benchmark (not a test): start-up time and memory of `keybroker serve`, each in fresh child
 * processes on 127.0.0.1 stopped by their PID.
 *
 * - cold start: an empty data directory (and, on PostgreSQL, an empty database) → `/readyz` 200;
 * - warm start: the same data directory (and database) again;
 * - `npm start` a second time: `npm run build` with nothing to do, then `serve` → `/readyz` 200
 *   (PGlite; the first `npm start` before it is timed too);
 * - resident memory (VmRSS, and the peak VmHWM, from /proc) after start and after N
 *   attest+release rounds (challenge + attest with one secret released), 8 concurrent;
 * - the service's own `started` log line: where its start-up time went, phase by phase.
 *
 * On PostgreSQL one process serves (KEYBROKER_WORKERS=1): the figures are per serving process.
 * Wall time is the target's measure; on a shared machine it stretches with other people's work,
 * so the service's CPU time until ready (from /proc) is printed beside it.
 *
 *   npm run bench:startup                      # PGlite; with DATABASE_URL also PostgreSQL
 *   BENCH_STARTUP_RUNS=5 BENCH_STARTUP_REQUESTS=10000 npm run bench:startup
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { Agent } from 'node:https'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { generateAttestationKey, type AttestationKey } from '../src/clients/index.js'
import { createReleasableSecret, runRounds, sampleEvidence } from './support/rounds.js'
import { call, cpuSecondsOf } from './support/service.js'

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 3)
const REQUESTS = Number(process.env.BENCH_STARTUP_REQUESTS ?? 10_000)
const CONCURRENCY = 8
const START_TIMEOUT_MS = 120_000
const STOP_TIMEOUT_MS = 20_000
const MEASUREMENT = 'cd'.repeat(48)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = join(ROOT, 'bin', 'keybroker.js')

interface Started {
  readonly child: ChildProcess
  /** The process to read /proc of: the service itself (for `npm start`, found below npm). */
  readonly pid: number
  readonly port: number
  /** Spawn → first `/readyz` 200, in ms. */
  readonly readyMs: number
  /** The service's CPU time until then, in ms (NaN when unknown). */
  readonly cpuMs: number
  readonly adminToken: string
  /** Fields of the `started` log line (phase durations), once logged. */
  phases(): Promise<Record<string, number>>
}

interface Memory {
  readonly rssMb: number
  readonly hwmMb: number
  /** Resident part of PGlite's WebAssembly memory: anonymous read-write mappings of ≥ 128 MiB (its initial size; glibc's arenas are at most 64 MiB). */
  readonly wasmMb: number
}

type Engine = 'pglite' | 'postgres'

async function main(): Promise<void> {
  const engines: Engine[] = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite']
  const load = loadavg().map((l) => l.toFixed(2)).join(' ')
  const rows: string[][] = []
  const phaseRows: string[][] = []
  for (const engine of engines) {
    const cold: Started[] = []
    const warm: Started[] = []
    const coldMemory: Memory[] = []
    const warmMemory: Memory[] = []
    let afterRequests: { memory: Memory; rounds: number; seconds: number; errors: number } | undefined
    for (let run = 0; run < RUNS; run++) {
      const scratch = await scratchDatabase(engine)
      const dataDir = await mkdtemp(join(tmpdir(), 'keybroker-startup-'))
      try {
        const env: Record<string, string> = scratch.url === undefined ? {} : { DATABASE_URL: scratch.url }
        // One bootstrap admin token per data directory: the first start registers it.
        const adminToken = randomBytes(32).toString('base64url')
        const first = await startServe(dataDir, adminToken, env)
        try {
          cold.push(first)
          coldMemory.push(await memoryOf(first.pid))
          if (run === 0) phaseRows.push([`${engine}, cold`, formatPhases(await first.phases())])
        } finally {
          await stop(first.child)
        }
        const second = await startServe(dataDir, adminToken, env)
        try {
          warm.push(second)
          warmMemory.push(await memoryOf(second.pid))
          if (run === 0) phaseRows.push([`${engine}, warm`, formatPhases(await second.phases())])
          if (run === RUNS - 1 && REQUESTS > 0) afterRequests = await runRequests(second)
        } finally {
          await stop(second.child)
        }
      } finally {
        await rm(dataDir, { recursive: true, force: true })
        await scratch.drop()
      }
    }
    const label = engine === 'pglite' ? 'PGlite' : 'PostgreSQL'
    rows.push([`${label}: cold start, empty data dir → /readyz 200 (median of ${RUNS})`, ms(median(cold.map((s) => s.readyMs))), `CPU ${ms(median(cold.map((s) => s.cpuMs)))}`])
    rows.push([`${label}: warm start, existing data dir (median of ${RUNS})`, ms(median(warm.map((s) => s.readyMs))), `CPU ${ms(median(warm.map((s) => s.cpuMs)))}`])
    rows.push([`${label}: RSS after a cold start (VmRSS / VmHWM)`, mb(coldMemory), ''])
    rows.push([`${label}: RSS after a warm start (VmRSS / VmHWM)`, mb(warmMemory), ''])
    if (afterRequests !== undefined) {
      rows.push([
        `${label}: RSS after ${afterRequests.rounds.toLocaleString('en')} attest+release (VmRSS / VmHWM)`,
        mb([afterRequests.memory]),
        `${(afterRequests.rounds / afterRequests.seconds).toFixed(0)} rounds/s, ${afterRequests.errors} errors`,
      ])
    }
  }
  const npm = await measureNpmStart()
  rows.push(['`npm run build` with nothing to do (median of 3)', ms(npm.buildMs), ''])
  rows.push(['`npm start`, first (fresh data dir) → /readyz 200', ms(npm.firstMs), ''])
  rows.push(['`npm start`, second (build no-op + warm serve) → /readyz 200', ms(npm.secondMs), ''])

  process.stdout.write(`\nStart-up and memory (load average ${load} at the start, ${loadavg()[0]?.toFixed(2)} at the end; ${process.version})\n\n`)
  process.stdout.write('| measure | value | note |\n|---|---|---|\n')
  for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`)
  process.stdout.write('\nWhere start-up time went (the service\'s `started` log line, first run; ms)\n\n| start | phases |\n|---|---|\n')
  for (const r of phaseRows) process.stdout.write(`| ${r.join(' | ')} |\n`)
}

/** Starts `keybroker serve` on an ephemeral port; resolves at the first `/readyz` 200. */
async function startServe(dataDir: string, adminToken: string, env: Record<string, string>): Promise<Started> {
  const started = performance.now()
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: serviceEnv(dataDir, adminToken, env),
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  return awaitReady(child, child.pid ?? 0, started, adminToken)
}

function serviceEnv(dataDir: string, adminToken: string, env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KEYBROKER_LISTEN: '127.0.0.1:0',
    KEYBROKER_DATA_DIR: dataDir,
    KEYBROKER_ALLOW_SAMPLE_EVIDENCE: '1',
    KEYBROKER_BOOTSTRAP_ADMIN_TOKEN: adminToken,
    // `info`, for the `started` line (and so the access log too, which this run reads and drops).
    KEYBROKER_LOG_LEVEL: 'info',
    // One serving process (on PostgreSQL the default is one worker per core): its own start and memory.
    KEYBROKER_WORKERS: '1',
    ...env,
  }
}

/** Waits for the first `/readyz` 200; a start that fails or times out is stopped. */
async function awaitReady(child: ChildProcess, pid: number, started: number, adminToken: string): Promise<Started> {
  try {
    return await pollReady(child, pid, started, adminToken)
  } catch (err) {
    await stop(child, child.spawnargs[0] !== process.execPath)
    throw err
  }
}

async function pollReady(child: ChildProcess, pid: number, started: number, adminToken: string): Promise<Started> {
  let log = ''
  let port: number | undefined
  let phases: Record<string, number> | undefined
  let onPort: (() => void) | undefined
  let onPhases: (() => void) | undefined
  child.stderr?.on('data', (chunk: Buffer) => {
    // Only the start-up lines are kept: the access log would grow without bound.
    if (phases !== undefined) return
    log += chunk.toString()
    const url = /"url":"https:\/\/127\.0\.0\.1:(\d+)"/.exec(log)
    if (port === undefined && url?.[1] !== undefined) {
      port = Number(url[1])
      onPort?.()
    }
    const line = /\{[^\n]*"msg":"started"[^\n]*\}/.exec(log)?.[0]
    if (line !== undefined) {
      const fields = JSON.parse(line) as Record<string, unknown>
      phases = Object.fromEntries(Object.entries(fields).filter((e): e is [string, number] => typeof e[1] === 'number'))
      onPhases?.()
    }
  })
  await new Promise<void>((resolve, reject) => {
    if (port !== undefined) return resolve()
    const timer = setTimeout(() => reject(new Error('keybroker did not listen in time')), START_TIMEOUT_MS)
    onPort = () => {
      clearTimeout(timer)
      resolve()
    }
    child.once('exit', (code) => reject(new Error(`keybroker exited with ${code}: ${log.slice(-2000)}`)))
  })
  if (port === undefined) throw new Error('no port')
  const servicePort: number = port
  // Poll /readyz every 5 ms (PostgreSQL: the service listens before its database is ready).
  const agent = new Agent({ keepAlive: true, rejectUnauthorized: false })
  const servicePid = await findService(pid)
  for (;;) {
    const res = await call({ port: servicePort, agent }, 'GET', '/readyz', undefined).catch(() => ({ status: 0, body: '' }))
    if (res.status === 200) break
    if (performance.now() - started > START_TIMEOUT_MS) throw new Error(`keybroker did not become ready: ${res.status} ${res.body}`)
    await new Promise((r) => setTimeout(r, 5))
  }
  const readyMs = performance.now() - started
  const cpuMs = (await cpuSecondsOf(servicePid)) * 1000
  agent.destroy()
  return {
    child,
    pid: servicePid,
    port: servicePort,
    readyMs,
    cpuMs,
    adminToken,
    phases: () =>
      phases !== undefined
        ? Promise.resolve(phases)
        : new Promise((resolve) => {
            onPhases = () => resolve(phases ?? {})
          }),
  }
}

/** The `node … serve` process at or below `pid` (npm start runs it under sh under npm). */
async function findService(pid: number): Promise<number> {
  for (let depth = 0; depth < 4; depth++) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.includes('keybroker.js\0serve')) return pid
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
    const next = Number(children.trim().split(' ')[0])
    if (!Number.isSafeInteger(next) || next <= 0) return pid
    pid = next
  }
  return pid
}

/** SIGTERM to the process (group, for npm), SIGKILL after a bounded wait. */
async function stop(child: ChildProcess, group = false): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return
  const pid = child.pid
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  process.kill(group ? -pid : pid, 'SIGTERM')
  const timer = setTimeout(() => process.kill(group ? -pid : pid, 'SIGKILL'), STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}

async function memoryOf(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, wasmMb: (await wasmResidentKb(pid)) / 1024 }
}

/** Sum of `Rss` over the anonymous read-write mappings of at least 128 MiB in /proc/<pid>/smaps (see `Memory.wasmMb`). */
async function wasmResidentKb(pid: number): Promise<number> {
  const smaps = await readFile(`/proc/${pid}/smaps`, 'utf8').catch(() => '')
  let total = 0
  let large = false
  for (const line of smaps.split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(\S*)/.exec(line)
    if (range?.[1] !== undefined && range[2] !== undefined) {
      const anonymous = range[3] === 'rw-p' && range[4] === ''
      large = anonymous && BigInt(`0x${range[2]}`) - BigInt(`0x${range[1]}`) >= 128n * 1024n ** 2n
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (large && rss?.[1] !== undefined) total += Number(rss[1])
  }
  return total
}

/** `REQUESTS` attest+release rounds against a started service; then its memory. */
async function runRequests(service: Started) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, rejectUnauthorized: false })
  const target = { port: service.port, agent }
  const run = randomBytes(4).toString('hex')
  await createReleasableSecret({ ...target, adminToken: service.adminToken }, { set: `startup-${run}`, secret: `startup-secret-${run}` }, MEASUREMENT, { bytes: 32 })
  const keys: AttestationKey[] = await Promise.all(Array.from({ length: 16 }, () => generateAttestationKey('P-256')))
  const { seconds, errors } = await runRounds(target, keys, { requests: REQUESTS, concurrency: CONCURRENCY, release: [`startup-secret-${run}`], evidence: sampleEvidence(MEASUREMENT) })
  agent.destroy()
  return { memory: await memoryOf(service.pid), rounds: REQUESTS, seconds, errors }
}

/**
 * `npm run build` with nothing to do, then `npm start` twice on one fresh data directory (PGlite):
 * the first builds if needed and starts on an empty directory, the second is what issue 20 times.
 */
async function measureNpmStart(): Promise<{ buildMs: number; firstMs: number; secondMs: number }> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  await runToEnd(npm, ['run', 'build'])
  const builds: number[] = []
  for (let i = 0; i < 3; i++) builds.push(await runToEnd(npm, ['run', 'build']))
  const dataDir = await mkdtemp(join(tmpdir(), 'keybroker-npm-start-'))
  try {
    const times: number[] = []
    const adminToken = randomBytes(32).toString('base64url')
    for (let i = 0; i < 2; i++) {
      const started = performance.now()
      // Its own process group, so that npm, its shell and the service stop together.
      const child = spawn(npm, ['start'], { cwd: ROOT, env: serviceEnv(dataDir, adminToken, {}), stdio: ['ignore', 'ignore', 'pipe'], detached: true })
      try {
        times.push((await awaitReady(child, child.pid ?? 0, started, adminToken)).readyMs)
      } finally {
        await stop(child, true)
      }
    }
    return { buildMs: median(builds), firstMs: times[0] ?? NaN, secondMs: times[1] ?? NaN }
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
}

async function runToEnd(command: string, args: string[]): Promise<number> {
  const started = performance.now()
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}`)
  return performance.now() - started
}

/** PostgreSQL: a new empty database per run (dropped after it), so that a cold start migrates. */
async function scratchDatabase(engine: Engine): Promise<{ url: string | undefined; drop(): Promise<void> }> {
  const adminUrl = process.env.DATABASE_URL
  if (engine === 'pglite' || adminUrl === undefined) return { url: undefined, drop: async () => {} }
  const name = `kb_startup_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await admin(`CREATE DATABASE "${name}"`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}

function ms(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(0)} ms` : 'n/a'
}

function mb(memory: readonly Memory[]): string {
  const rss = median(memory.map((m) => m.rssMb))
  const hwm = median(memory.map((m) => m.hwmMb))
  const wasm = median(memory.map((m) => m.wasmMb))
  return `${rss.toFixed(0)} MB / ${hwm.toFixed(0)} MB${wasm > 0 ? ` (WebAssembly memory ${wasm.toFixed(0)} MB)` : ''}`
}

function formatPhases(phases: Record<string, number>): string {
  return Object.entries(phases)
    .map(([k, v]) => `${k.replace(/Ms$/, '')} ${v}`)
    .join(', ')
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exitCode = 1
})
