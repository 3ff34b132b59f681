/**
 * Benchmark (not a test): disk unlock through a keybroker sealing key vs Tang's recovery, on
 * the same machine in the same run (docs/architecture.md, "Measured facts": unlock through a sealing
 * key faster than Tang's recovery).
 *
 * 1. Recoveries per second over loopback, BENCH_CONCURRENCY clients, in BENCH_ROUNDS interleaved rounds:
 *    - keybroker: one unlock round = POST /v1/challenge + POST /v1/attest with `recover` and
 *      `token: false`, as the pin sends it (nonce row + audit row in the database, sample
 *      evidence, s·X sealed as JWE, no EAR signed), against a
 *      real `keybroker serve` child over HTTPS with keep-alive;
 *    - Tang (Debian's tangd behind `socat … fork,nodelay`, one process per connection, as
 *      tangd.socket runs it): POST /rec/{kid}.
 *    Both on P-256 and on P-521 (Tang's default curve).
 * 2. One full `clevis decrypt` (process start-up included): keybroker pin vs tang pin, median of
 *    interleaved runs, and the processes each starts (strace -f, when installed).
 * 3. As root with cryptsetup: `clevis luks pass` on one LUKS2 image file with a keybroker slot and
 *    a tang slot, interleaved, median.
 * At the end, README-ready markdown lines (with the load average of the run).
 *
 *   npm run bench:unlock        (npm run build && node dist/bench/unlock.js)
 *   DATABASE_URL=postgres://… BENCH_REQUESTS=2000 BENCH_CONCURRENCY=8 node dist/bench/unlock.js
 *   BENCH_CURVES=P-256 BENCH_CLEVIS=0 BENCH_CPU_PROF=/tmp/prof node dist/bench/unlock.js   (rounds only, profiled)
 *
 * Tang and clevis are Debian packages (tang, socat, clevis, jose); a missing one skips its rows.
 */
import { call, percentile, startService, stopChild, type BenchService } from './support/service.js'
import { spawn, spawnSync } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { calculateJwkThumbprint } from 'jose'
import { generateAttestationKey, reportDataFor, type AttestationKey } from '../src/clients/index.js'
import { toBase64Url } from '../src/evidence/reader.js'

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1500)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8)
const DECRYPTS = Number(process.env.BENCH_DECRYPTS ?? 15)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const MEASUREMENT = 'ab'.repeat(48)
const RUN = randomBytes(4).toString('hex')
const REPO = fileURLToPath(new URL('../..', import.meta.url))
const PIN_DIR = join(REPO, 'src/clients/clevis')
const ATTESTER = join(REPO, 'test/clients/clevis/fixtures/sample-attester')
const TANGD = '/usr/libexec/tangd'

type Curve = 'P-256' | 'P-521'
const CURVES: readonly Curve[] = (process.env.BENCH_CURVES ?? 'P-256,P-521').split(',').filter((c): c is Curve => c === 'P-256' || c === 'P-521')

interface Throughput {
  /** Server CPU (user + system, reaped children included) per operation, ms; NaN without /proc. */
  readonly cpuMs: number
  readonly perSecond: number
  readonly p50: number
  readonly p99: number
  readonly errors: number
}

const rows: [string, string][] = []
const row = (k: string, v: string) => rows.push([k, v])
/** README-ready markdown table rows, printed last. */
const summary: string[] = []

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'keybroker-bench-unlock-'))
  const stops: (() => Promise<void>)[] = []
  try {
    const kb = await startService({ concurrency: CONCURRENCY, dataDir: join(work, 'keybroker') })
    stops.push(kb.stop)
    const tang = hasCommand(TANGD) && hasCommand('socat') && hasCommand('jose') ? await startTang(work) : undefined
    if (tang !== undefined) stops.push(tang.stop)
    else row('tang', 'not installed (apt-get install tang socat jose): Tang rows skipped')

    const keys = await Promise.all(Array.from({ length: 16 }, () => generateAttestationKey('P-256')))
    for (const curve of CURVES) {
      const sealing = await createSealingKey(kb, curve)
      // Interleaved rounds (shared, noisy machines): keybroker and Tang alternate, and the ratio
      // is taken per round; the medians are reported.
      const kbRounds: Throughput[] = []
      const tangRounds: Throughput[] = []
      for (let r = 0; r < ROUNDS; r++) {
        kbRounds.push(await measure(() => keybrokerRecovery(kb, sealing, keys), kb.pid))
        if (tang !== undefined) tangRounds.push(await measure(() => tangRecovery(tang, curve), tang.pid))
      }
      const kbResult = medianOf(kbRounds)
      row(`keybroker ${curve}: unlock rounds/s (challenge + attest/recover, ${CONCURRENCY} concurrent)`, spread(kbRounds))
      row(`keybroker ${curve}: round p50 / p99 (ms)`, `${kbResult.p50.toFixed(2)} / ${kbResult.p99.toFixed(2)}`)
      const kbErrors = kbRounds.reduce((n, t) => n + t.errors, 0)
      if (kbErrors > 0) row(`keybroker ${curve}: errors`, String(kbErrors))
      if (tang !== undefined) {
        const tangResult = medianOf(tangRounds)
        row(`tang ${curve}: recoveries/s (POST /rec, ${CONCURRENCY} concurrent)`, spread(tangRounds))
        row(`tang ${curve}: recovery p50 / p99 (ms)`, `${tangResult.p50.toFixed(2)} / ${tangResult.p99.toFixed(2)}`)
        const tangErrors = tangRounds.reduce((n, t) => n + t.errors, 0)
        if (tangErrors > 0) row(`tang ${curve}: errors`, String(tangErrors))
        const ratios = kbRounds.map((k, i) => k.perSecond / (tangRounds[i]?.perSecond ?? NaN))
        const ratio = percentile(ratios, 0.5) * 100
        row(`ratio keybroker / tang ${curve} (median of rounds)`, `${ratio.toFixed(0)} %`)
        const kbCpu = percentile(kbRounds.map((k) => k.cpuMs), 0.5)
        const tangCpu = percentile(tangRounds.map((t) => t.cpuMs), 0.5)
        row(`server CPU per unlock round / per Tang recovery ${curve} (ms, median of rounds)`, `${kbCpu.toFixed(2)} / ${tangCpu.toFixed(2)}`)
        summary.push(
          `| unlock rounds vs Tang recoveries, ${curve}, ${database()}, ${CONCURRENCY} concurrent | ${kbResult.perSecond.toFixed(0)}/s | ${tangResult.perSecond.toFixed(0)}/s | ${ratio.toFixed(0)} % |`,
          `| server CPU per unlock round vs per Tang recovery (tangd and socat), ${curve}, ${database()} | ${kbCpu.toFixed(2)} ms | ${tangCpu.toFixed(2)} ms | ${((tangCpu / kbCpu) * 100).toFixed(0)} % |`,
        )
      }
    }

    if (process.env.BENCH_CLEVIS === '0') {
      row('clevis decrypt', 'skipped (BENCH_CLEVIS=0)')
    } else if (hasCommand('clevis') && hasCommand('jose')) {
      const kbDecrypt = await clevisDecryptLatency(kb, tang, work)
      row('clevis decrypt, keybroker pin: median (ms)', kbDecrypt.keybroker.toFixed(0))
      if (kbDecrypt.tang !== undefined) {
        row('clevis decrypt, tang pin: median (ms)', kbDecrypt.tang.toFixed(0))
        summary.push(
          `| \`clevis decrypt\`, keybroker pin vs tang pin | ${kbDecrypt.keybroker.toFixed(0)} ms | ${kbDecrypt.tang.toFixed(0)} ms | ${(kbDecrypt.keybroker / kbDecrypt.tang).toFixed(2)}× |`,
        )
      }
      if (kbDecrypt.processes !== undefined) {
        const { keybroker, tang: tangCount } = kbDecrypt.processes
        row('clevis decrypt, processes / programs run (keybroker pin)', `${keybroker.processes} / ${keybroker.execs}`)
        if (tangCount !== undefined) row('clevis decrypt, processes / programs run (tang pin)', `${tangCount.processes} / ${tangCount.execs}`)
        summary.push(
          `| processes / programs run per \`clevis decrypt\` (strace -f; clevis's own included) | ${keybroker.processes} / ${keybroker.execs} | ${tangCount === undefined ? '—' : `${tangCount.processes} / ${tangCount.execs}`} | — |`,
        )
      }
      if (kbDecrypt.luksPass !== undefined) {
        const { keybroker, tang: tangMs } = kbDecrypt.luksPass
        row('clevis luks pass, keybroker slot: median (ms)', keybroker.toFixed(0))
        row('clevis luks pass, tang slot: median (ms)', tangMs.toFixed(0))
        summary.push(`| \`clevis luks pass\` on one LUKS2 image, keybroker slot vs tang slot | ${keybroker.toFixed(0)} ms | ${tangMs.toFixed(0)} ms | ${(keybroker / tangMs).toFixed(2)}× |`)
      } else {
        row('clevis luks pass', 'skipped (needs root, cryptsetup and the tang rows)')
      }
    } else {
      row('clevis decrypt', 'clevis not installed: skipped')
    }
    row('database', database())
    if (tangRetries > 0) row('tang: connections retried (socat refused or reset under load)', String(tangRetries))
    const width = Math.max(...rows.map(([k]) => k.length))
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`)
    const load = loadavg().map((l) => l.toFixed(1)).join(', ')
    process.stdout.write(`\nREADME (${cpus().length} cores, load average ${load} at the end of the run):\n\n`)
    process.stdout.write('| measure | keybroker | Tang | ratio |\n|---|---|---|---|\n')
    for (const line of summary) process.stdout.write(`${line}\n`)
  } finally {
    for (const stop of stops.reverse()) await stop()
    await rm(work, { recursive: true, force: true })
  }
}

function database(): string {
  return process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

/**
 * CPU seconds of `pid` and of its children it has reaped (/proc stat utime, stime, cutime,
 * cstime): for socat that includes every tangd it forked, for keybroker its own. NaN elsewhere.
 */
function cpuWithChildren(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100
  } catch {
    return NaN
  }
}

/** Warm-up, then REQUESTS / ROUNDS calls of `one` from CONCURRENCY workers; `serverPid`'s CPU per call. */
async function measure(one: () => Promise<boolean>, serverPid: number): Promise<Throughput> {
  const requests = Math.max(CONCURRENCY, Math.floor(REQUESTS / ROUNDS))
  for (let i = 0; i < 30; i++) await one()
  const cpuBefore = cpuWithChildren(serverPid)
  const latencies: number[] = []
  let errors = 0
  let next = 0
  const worker = async () => {
    while (next++ < requests) {
      const started = performance.now()
      if (!(await one().catch(() => false))) errors++
      latencies.push(performance.now() - started)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const seconds = (performance.now() - started) / 1000
  // socat reaps its tangd children as they exit: a short wait lets the last ones be counted.
  await new Promise((r) => setTimeout(r, 200))
  const cpuMs = ((cpuWithChildren(serverPid) - cpuBefore) * 1000) / requests
  return { cpuMs, perSecond: requests / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), errors }
}

/** The round with the median throughput. */
function medianOf(rounds: readonly Throughput[]): Throughput {
  const sorted = [...rounds].sort((a, b) => a.perSecond - b.perSecond)
  const m = sorted[Math.floor(sorted.length / 2)]
  if (m === undefined) throw new Error('no rounds')
  return m
}

/** "median (min–max)" of the rounds' throughput. */
function spread(rounds: readonly Throughput[]): string {
  const rates = rounds.map((r) => r.perSecond)
  return `${percentile(rates, 0.5).toFixed(0)} (${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)})`
}


/** Random points of `curve`: what blinded exchange keys X = C + E look like to a server. */
function randomPoints(curve: Curve, n: number): { kty: string; crv: string; x: string; y: string }[] {
  return Array.from({ length: n }, () => {
    const { x, y } = generateKeyPairSync('ec', { namedCurve: curve }).publicKey.export({ format: 'jwk' })
    return { kty: 'EC', crv: curve, x: x ?? '', y: y ?? '' }
  })
}

// ---------------------------------------------------------------- keybroker

interface SealingKey {
  readonly name: string
  readonly kid: string
  readonly points: { kty: string; crv: string; x: string; y: string }[]
  readonly disks: string[]
}

let referenceValuesCreated = false
let sealingKeys = 0

async function createSealingKey(kb: BenchService, curve: Curve): Promise<SealingKey> {
  const name = `bench-${curve.toLowerCase()}-${RUN}-${sealingKeys++}`
  if (!referenceValuesCreated) {
    const rv = await call(kb, 'POST', '/admin/v1/reference-values', { name: `bench-${RUN}`, measurements: [MEASUREMENT] }, kb.adminToken)
    if (rv.status !== 201) throw new Error(`setup failed: ${rv.status} ${rv.body}`)
    referenceValuesCreated = true
  }
  const res = await call(kb, 'POST', '/admin/v1/sealing-keys', { name, curve, referenceValues: [`bench-${RUN}`] }, kb.adminToken)
  if (res.status !== 201) throw new Error(`setup failed: ${res.status} ${res.body}`)
  const kid = (JSON.parse(res.body) as { versions: { kid: string }[] }).versions[0]?.kid ?? ''
  const points = randomPoints(curve, 32)
  const disks = await Promise.all(points.map((p) => calculateJwkThumbprint(p)))
  return { name, kid, points, disks }
}

let round = 0
async function keybrokerRecovery(kb: BenchService, key: SealingKey, keys: readonly AttestationKey[]): Promise<boolean> {
  const i = round++
  const attestationKey = keys[i % keys.length] as AttestationKey
  const challenge = await call(kb, 'POST', '/v1/challenge', {})
  if (challenge.status !== 200) return false
  const { nonce } = JSON.parse(challenge.body) as { nonce: string }
  const evidence = { type: 'sample', measurement: MEASUREMENT, reportData: toBase64Url(await reportDataFor(nonce, attestationKey)) }
  // As the clevis pin asks: no EAR token in the answer (the pin only opens `recovered`).
  const res = await call(kb, 'POST', '/v1/attest', {
    nonce,
    evidence,
    publicKey: attestationKey.publicJwk,
    token: false,
    recover: { sealingKey: key.name, kid: key.kid, x: key.points[i % key.points.length], disk: key.disks[i % key.disks.length] },
  })
  return res.status === 200
}

// ---------------------------------------------------------------- Tang

interface Tang {
  /** socat's PID (its CPU time includes the tangd children it reaped). */
  readonly pid: number
  readonly port: number
  readonly kids: Record<Curve, string>
  readonly points: Record<Curve, { kty: string; crv: string; x: string; y: string }[]>
  stop(): Promise<void>
}

async function startTang(work: string): Promise<Tang> {
  const db = join(work, 'tang')
  await mkdir(db, { recursive: true })
  const kids = {} as Record<Curve, string>
  for (const [curve, sig] of [['P-256', 'ES256'], ['P-521', 'ES512']] as const) {
    // Keys as tangd-keygen makes them, on both curves (Tang's default is P-521).
    const s = spawnSync('jose', ['jwk', 'gen', '-i', JSON.stringify({ alg: sig })], { encoding: 'utf8' })
    const e = spawnSync('jose', ['jwk', 'gen', '-i', JSON.stringify({ alg: 'ECMR', crv: curve })], { encoding: 'utf8' })
    if (s.status !== 0 || e.status !== 0) throw new Error(`jose jwk gen failed: ${s.stderr}${e.stderr}`)
    await writeFile(join(db, `sig-${curve}.jwk`), s.stdout)
    await writeFile(join(db, `exc-${curve}.jwk`), e.stdout)
    const { kty, crv, x, y } = JSON.parse(e.stdout) as { kty: string; crv: string; x: string; y: string }
    kids[curve] = await calculateJwkThumbprint({ kty, crv, x, y })
  }
  const port = await freePort()
  const child = spawn('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,nodelay,backlog=256`, `EXEC:${TANGD} ${db}`], {
    stdio: 'ignore',
  })
  // Bounded wait until tangd answers.
  for (let i = 0; i < 50; i++) {
    const ok = await tangCall(port, 'GET', '/adv', undefined).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) break
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    pid: child.pid ?? 0,
    port,
    kids,
    points: { 'P-256': randomPoints('P-256', 32), 'P-521': randomPoints('P-521', 32) },
    stop: () => stopChild(child),
  }
}

const tangAgent = new HttpAgent({ keepAlive: false, maxSockets: CONCURRENCY })

function tangCall(port: number, method: string, path: string, body: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: tangAgent,
        headers: body === undefined ? {} : { 'Content-Type': 'application/jwk+json', 'Content-Length': Buffer.byteLength(body) },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
      },
    )
    req.setNoDelay(true)
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

let tangRound = 0
let tangRetries = 0
/**
 * One recovery. socat accepts and forks one tangd per connection; on a loaded machine its
 * listener has refused or reset connections (ECONNREFUSED, ECONNRESET) in bursts, which once
 * stopped the whole run. Such a connection is retried (up to 5 times, 20-100 ms apart) and
 * counted; the time spent stays in the measured round, so Tang is not favoured by it.
 */
async function tangRecovery(tang: Tang, curve: Curve): Promise<boolean> {
  const points = tang.points[curve]
  const x = points[tangRound++ % points.length]
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await tangCall(tang.port, 'POST', `/rec/${tang.kids[curve]}`, JSON.stringify(x))
      return res.status === 200
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (attempt >= 5 || (code !== 'ECONNREFUSED' && code !== 'ECONNRESET' && code !== 'EPIPE')) return false
      tangRetries++
      await new Promise((r) => setTimeout(r, 20 * (attempt + 1)))
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))))
    })
  })
}

// ---------------------------------------------------------------- clevis decrypt

interface ProcessCount {
  /** Processes started (fork/clone, subshells included). */
  readonly processes: number
  /** Programs run (successful execve). */
  readonly execs: number
}

interface DecryptFigures {
  readonly keybroker: number
  readonly tang?: number
  readonly processes?: { readonly keybroker: ProcessCount; readonly tang?: ProcessCount }
  readonly luksPass?: { readonly keybroker: number; readonly tang: number }
}

async function clevisDecryptLatency(kb: BenchService, tang: Tang | undefined, work: string): Promise<DecryptFigures> {
  const env = { ...process.env, PATH: `${PIN_DIR}:${process.env.PATH ?? ''}`, KB_TEST_MEASUREMENT: MEASUREMENT }
  const ca = join(work, 'ca.pem')
  await writeFile(ca, kb.caPem)
  const key = await createSealingKey(kb, 'P-256')
  const kbCfg = JSON.stringify({ url: kb.url, key: key.name, cacert: ca, evidence: 'command', attester: ATTESTER })
  const kbJwe = spawnSync('clevis', ['encrypt', 'keybroker', kbCfg, '-y'], { input: 'bench passphrase', env, encoding: 'utf8', timeout: 60_000 })
  if (kbJwe.status !== 0) throw new Error(`clevis encrypt keybroker failed: ${kbJwe.stderr}`)
  const tangCfg = tang === undefined ? undefined : JSON.stringify({ url: `http://127.0.0.1:${tang.port}` })
  let tangJwe: string | undefined
  if (tangCfg !== undefined) {
    const r = spawnSync('clevis', ['encrypt', 'tang', tangCfg, '-y'], { input: 'bench passphrase', encoding: 'utf8', timeout: 60_000 })
    if (r.status !== 0) throw new Error(`clevis encrypt tang failed: ${r.stderr}`)
    tangJwe = r.stdout
  }
  // Interleaved, so that both pins see the same machine load.
  const kbTimes: number[] = []
  const tangTimes: number[] = []
  for (let i = 0; i < DECRYPTS + 2; i++) {
    const k = await timeRun('clevis', ['decrypt'], kbJwe.stdout, env)
    const t = tangJwe === undefined ? undefined : await timeRun('clevis', ['decrypt'], tangJwe, env)
    if (i < 2) continue
    kbTimes.push(k)
    if (t !== undefined) tangTimes.push(t)
  }
  const processes = hasCommand('strace')
    ? {
        keybroker: countProcesses(['clevis', 'decrypt'], kbJwe.stdout, env, work),
        ...(tangJwe === undefined ? {} : { tang: countProcesses(['clevis', 'decrypt'], tangJwe, env, work) }),
      }
    : undefined
  const luksPass =
    tangCfg !== undefined && process.getuid?.() === 0 && hasCommand('cryptsetup') ? await luksPassLatency(kbCfg, tangCfg, env, work) : undefined
  return {
    keybroker: percentile(kbTimes, 0.5),
    ...(tangJwe === undefined ? {} : { tang: percentile(tangTimes, 0.5) }),
    ...(processes === undefined ? {} : { processes }),
    ...(luksPass === undefined ? {} : { luksPass }),
  }
}

/**
 * `clevis luks pass` on one LUKS2 image file (20 MiB, no loop device needed) with the keybroker
 * pin in slot 1 and the tang pin in slot 2, interleaved; median wall times. clevis binds its
 * generated key with PBKDF2 at 1,000 iterations, and `pass` only prints the key, so the figures
 * are the pins' (and clevis's token lookup), not a key derivation.
 */
async function luksPassLatency(kbCfg: string, tangCfg: string, env: NodeJS.ProcessEnv, work: string): Promise<{ keybroker: number; tang: number }> {
  const image = join(work, 'disk.img')
  const keyFile = join(work, 'initial.key')
  await writeFile(keyFile, 'initial passphrase')
  const must = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 120_000 })
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`)
  }
  must('truncate', ['-s', '20M', image])
  must('cryptsetup', ['luksFormat', '-q', '--type', 'luks2', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file', keyFile, image])
  must('clevis', ['luks', 'bind', '-y', '-d', image, '-s', '1', '-k', keyFile, 'keybroker', kbCfg])
  must('clevis', ['luks', 'bind', '-y', '-d', image, '-s', '2', '-k', keyFile, 'tang', tangCfg])
  const kbTimes: number[] = []
  const tangTimes: number[] = []
  for (let i = 0; i < DECRYPTS + 2; i++) {
    const k = await timeRun('clevis', ['luks', 'pass', '-d', image, '-s', '1'], '', env)
    const t = await timeRun('clevis', ['luks', 'pass', '-d', image, '-s', '2'], '', env)
    if (i < 2) continue
    kbTimes.push(k)
    tangTimes.push(t)
  }
  return { keybroker: percentile(kbTimes, 0.5), tang: percentile(tangTimes, 0.5) }
}

/** Wall time of one run of `cmd` (asynchronous: keybroker answers from a child); throws unless it exits 0. */
async function timeRun(cmd: string, args: string[], input: string, env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now()
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'ignore', 'ignore'] })
    const t = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 60_000)
    child.on('close', (c) => {
      clearTimeout(t)
      resolve(c)
    })
    child.stdin.end(input)
  })
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`)
  return performance.now() - started
}

/** Processes and programs of one run under `strace -f` (synchronous: the service must answer, so it runs in a child of its own). */
function countProcesses(command: string[], input: string, env: NodeJS.ProcessEnv, work: string): ProcessCount {
  const trace = join(work, `strace-${RUN}-${traces++}.txt`)
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve,fork,vfork,clone,clone3', '-o', trace, ...command], {
    input,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (r.status !== 0) throw new Error(`strace ${command.join(' ')} failed: ${r.stderr}`)
  const lines = readFileSync(trace, 'utf8').split('\n').filter((l) => l.length > 0)
  const pids = new Set(lines.map((l) => l.split(' ', 1)[0]))
  // A PATH search tries several directories; only the execve that did not fail started a program.
  // With -f a call may be split: "execve(… <unfinished ...>", later "<... execve resumed>) = 0".
  const execs = lines.filter((l) => (l.includes('execve(') && !l.includes('<unfinished')) || l.includes('<... execve resumed>')).filter((l) => /= 0$/.test(l)).length
  return { processes: pids.size, execs }
}
let traces = 0

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exitCode = 1
})
