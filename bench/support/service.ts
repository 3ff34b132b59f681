/**
 * Shared by the benchmarks: a real `keybroker serve` child process on 127.0.0.1 (ephemeral
 * port, own data directory, sample evidence on, a bootstrap admin token), stopped by its PID,
 * and a keep-alive HTTPS JSON call. Not a test helper: tests use test/support/keybroker.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { servingExecArgv } from '../../src/cli/young-generation.js'
import { randomBytes } from 'node:crypto'
import { openSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { Agent, request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

const START_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 15_000

export interface BenchService {
  /** The service process (for its CPU time, see `cpuSecondsOf`, or its peak RSS from /proc). */
  readonly pid: number
  readonly port: number
  readonly url: string
  readonly adminToken: string
  readonly agent: Agent
  /** The service's self-signed certificate (PEM). */
  readonly caPem: string
  /** The scratch PostgreSQL database the service runs on (see `startService`); absent on PGlite. */
  readonly databaseUrl?: string
  stop(): Promise<void>
}

export interface StartOptions {
  /** Keep-alive sockets for `call`. */
  readonly concurrency: number
  /** Data directory; a temporary one (removed on stop) when absent. */
  readonly dataDir?: string
  /** More environment for the service (settings). */
  readonly env?: Readonly<Record<string, string>>
  /** Script to run instead of the CLI's `serve` (a compiled bench entry, path from dist/bench/support). */
  readonly entry?: string
}

/**
 * Starts the compiled CLI's `serve`; `BENCH_CPU_PROF=dir` writes its CPU profile there. With
 * `DATABASE_URL` set the service runs on a scratch database created on that server for this run
 * and dropped on stop: every run starts empty and under its own KEK, so runs can be repeated
 * against one server (the KEK of an earlier run's data directory is gone with it).
 */
export async function startService(options: StartOptions): Promise<BenchService> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'keybroker-bench-')))
  const scratch = process.env.DATABASE_URL ? await createScratchDatabase(process.env.DATABASE_URL) : undefined
  const adminToken = randomBytes(32).toString('base64url')
  const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
  // BENCH_NODE_FLAGS: more Node flags for the service (e.g. `--trace-gc`, `--heapsnapshot-signal=SIGUSR2`).
  // The service starts as `npm start` and the container image start it (SERVE_SEMI_SPACE_FLAG)
  // unless BENCH_NODE_FLAGS sizes the young generation itself.
  const flags = servingExecArgv((process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== ''), undefined)
  // BENCH_SERVICE_STDOUT: a file for the service's stdout (where `--trace-gc` writes); ignored otherwise.
  const stdout = process.env.BENCH_SERVICE_STDOUT ? openSync(process.env.BENCH_SERVICE_STDOUT, 'a') : 'ignore'
  const args = options.entry === undefined ? [cli, 'serve'] : [fileURLToPath(new URL(options.entry, import.meta.url))]
  const child: ChildProcess = spawn(process.execPath, [...profile, ...flags, ...args], {
    env: {
      PATH: process.env.PATH,
      KEYBROKER_LISTEN: '127.0.0.1:0',
      KEYBROKER_DATA_DIR: dataDir,
      KEYBROKER_ALLOW_SAMPLE_EVIDENCE: '1',
      KEYBROKER_BOOTSTRAP_ADMIN_TOKEN: adminToken,
      KEYBROKER_LOG_LEVEL: 'info',
      // One process unless a benchmark asks for workers (bench/workers.ts): its CPU time is read
      // from this pid, and the figures stay comparable with those measured before workers.
      KEYBROKER_WORKERS: '1',
      ...(scratch ? { DATABASE_URL: scratch.url } : {}),
      // BENCH_SERVICE_ENV: more environment for the service, `NAME=value` separated by spaces
      // (e.g. `MALLOC_ARENA_MAX=2`, which glibc reads only at a process's start).
      ...Object.fromEntries((process.env.BENCH_SERVICE_ENV ?? '').split(/\s+/).filter((e) => e.includes('=')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      ...options.env,
    },
    stdio: ['ignore', stdout, 'pipe'],
  })
  const stop = async () => {
    await stopChild(child)
    if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true })
    await scratch?.drop()
  }
  // The port comes from the service's own 'listening' log line (it listens on port 0).
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(() => reject(new Error('keybroker did not start in time')), START_TIMEOUT_MS)
    child.stderr?.on('data', (chunk: Buffer) => {
      if (buffered.length > 1_000_000) return
      buffered += chunk.toString()
      const m = /"url":"https:\/\/127\.0\.0\.1:(\d+)"/.exec(buffered)
      if (m?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.once('exit', (code) => reject(new Error(`keybroker exited with ${code}: ${buffered.slice(-2000)}`)))
  }).catch(async (err: unknown) => {
    await stop()
    throw err
  })
  // With PostgreSQL the service listens before its database is ready: wait for /readyz.
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, rejectUnauthorized: false })
  const readyBy = Date.now() + START_TIMEOUT_MS
  for (;;) {
    const res = await call({ port, agent }, 'GET', '/readyz', undefined).catch(() => ({ status: 0, body: '' }))
    if (res.status === 200) break
    if (Date.now() > readyBy) {
      await stop()
      throw new Error(`keybroker did not become ready: ${res.status} ${res.body}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    pid: child.pid ?? 0,
    port,
    url: `https://127.0.0.1:${port}`,
    adminToken,
    agent,
    caPem: await readFile(join(dataDir, 'tls', 'dev-cert.pem'), 'utf8'),
    ...(scratch ? { databaseUrl: scratch.url } : {}),
    stop,
  }
}

/** `CREATE DATABASE keybroker_bench_<random>` on the server of `serverUrl`; `drop` removes it. */
async function createScratchDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `keybroker_bench_${randomBytes(6).toString('hex')}`
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl })
    await client.connect()
    try {
      await client.query(statement)
    } finally {
      await client.end()
    }
  }
  await admin(`CREATE DATABASE ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

/**
 * CPU seconds (user + system) process `pid` has used so far, from /proc (Linux); NaN elsewhere.
 * On a shared machine this is the robust figure: wall time stretches when other work takes the
 * cores, CPU time per request much less.
 */
export async function cpuSecondsOf(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND
  } catch {
    return NaN
  }
}

/** VmRSS and VmHWM (peak RSS) of process `pid` in KiB, from /proc (Linux); NaN elsewhere. */
export async function memoryOf(pid: number): Promise<{ rssKiB: number; hwmKiB: number }> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
    return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') }
  } catch {
    return { rssKiB: NaN, hwmKiB: NaN }
  }
}

/** Resident memory of one kind, in KiB (see `residentByKind`). */
export interface ResidentKinds {
  /** Node's executable and the shared libraries (file-backed, shared with other Node processes). */
  readonly files: number
  /** WebAssembly linear memories (PGlite's): the touched part of each. */
  readonly wasmMemory: number
  /** V8's own mappings other than WebAssembly memory: the JavaScript heap, code, compiled WebAssembly. */
  readonly v8: number
  /** glibc malloc: the main arena (`[heap]`) and the 64 MiB arenas of other threads. */
  readonly mallocMain: number
  readonly mallocThreads: number
  /** Other anonymous memory: malloc's large blocks (mmap'd directly: ArrayBuffers, OpenSSL, buffers), stacks. */
  readonly other: number
  readonly total: number
}

/**
 * Where the resident memory of process `pid` is, from /proc/PID/smaps (Linux; undefined
 * elsewhere). Classified by how each mapping was made, not by who uses it: V8 maps its pages
 * with MADV_DONTFORK ("dc" in VmFlags); a WebAssembly memory is V8's read-write mapping followed
 * (or preceded) by its guard reservation, gigabytes with no access; glibc maps each thread
 * arena as a 64 MiB-aligned MAP_NORESERVE ("nr") region; its large blocks are plain mappings.
 */
export async function residentByKind(pid: number): Promise<ResidentKinds | undefined> {
  let text: string
  try {
    text = await readFile(`/proc/${pid}/smaps`, 'utf8')
  } catch {
    return undefined
  }
  interface Mapping { start: bigint; end: bigint; perms: string; name: string; rss: number; flags: string }
  const maps: Mapping[] = []
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (head !== null) {
      maps.push({ start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perms: head[3] ?? '', name: head[4] ?? '', rss: 0, flags: '' })
      continue
    }
    const last = maps[maps.length - 1]
    if (last === undefined) continue
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss !== null) last.rss = Number(rss[1])
    else if (line.startsWith('VmFlags:')) last.flags = line.slice('VmFlags:'.length)
  }
  const GUARD = 4n << 30n
  const ARENA = 64n << 20n
  const kinds = { files: 0, wasmMemory: 0, v8: 0, mallocMain: 0, mallocThreads: 0, other: 0, total: 0 }
  maps.forEach((m, i) => {
    kinds.total += m.rss
    const flags = m.flags.split(/\s+/)
    const guard = (n: Mapping | undefined) => n !== undefined && n.perms === '---p' && n.end - n.start >= GUARD
    if (m.name.startsWith('/')) kinds.files += m.rss
    else if (m.name === '[heap]') kinds.mallocMain += m.rss
    else if (m.name.startsWith('[')) kinds.other += m.rss
    else if (m.perms === 'rw-p' && flags.includes('dc') && ((guard(maps[i + 1]) && maps[i + 1]?.start === m.end) || (guard(maps[i - 1]) && maps[i - 1]?.end === m.start))) {
      kinds.wasmMemory += m.rss
    } else if (flags.includes('dc')) kinds.v8 += m.rss
    else if (flags.includes('nr') && m.start % ARENA === 0n) kinds.mallocThreads += m.rss
    else kinds.other += m.rss
  })
  return kinds
}

/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS_PER_SECOND = 100

/** SIGTERM by PID, SIGKILL after a bounded wait. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return
  process.kill(child.pid, 'SIGTERM')
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
      resolve()
    }, STOP_TIMEOUT_MS)
    child.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
  })
}

/** One JSON request over the service's keep-alive agent. */
export function call(
  service: Pick<BenchService, 'port' | 'agent'>,
  method: string,
  path: string,
  body: unknown,
  token?: string,
): Promise<{ status: number; body: string }> {
  const text = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: service.port,
        method,
        path,
        agent: service.agent,
        headers: {
          ...(text === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }),
          ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
        },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(text)
  })
}

/** The p-quantile (0..1) of `values`, NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN
}
