/**
 * Benchmark (not a test): attest+release over HTTPS on loopback against a real `keybroker serve`
 * child process, beside a floor measured in the same run — the same crypto work in a tight loop
 * in one process. The figure that matters is the ratio, not the absolute numbers (these machines
 * are shared and noisy).
 *
 *   npm run bench                         # embedded PGlite
 *   DATABASE_URL=postgres://… npm run bench
 *   BENCH_REQUESTS=2000 BENCH_CONCURRENCY=8 npm run bench
 *   BENCH_REQUESTS=10000 DATABASE_URL=postgres://… npm run bench   # the RSS-after-10,000 figure
 *
 * After the closed-loop run (CONCURRENCY workers back to back) comes a paced run at half the
 * throughput just measured (BENCH_PACED_REQUESTS rounds, default 1,000, started at a fixed rate
 * whatever the answers do): its attest p99 is the "p99 at half load" figure. Then the service's
 * VmRSS and VmHWM from /proc after all those rounds, and where that memory is: the service's
 * own Prometheus process metrics (V8 heap used / committed per space, external memory), scraped
 * from its metrics listener on 127.0.0.1.
 * A breakdown of the resident memory by kind (from /proc/PID/smaps) follows; `BENCH_SMAPS=file`
 * keeps the smaps themselves.
 */
import { cpuSecondsOf, memoryOf, percentile, residentByKind, startService, type BenchService, type ResidentKinds } from './support/service.js'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { generateAttestationKey, type AttestationKey } from '../src/clients/index.js'
import { measureFloor } from './support/floor.js'
import { attestRound, createReleasableSecret, runRounds, sampleEvidence } from './support/rounds.js'

const WARM_UP = 50
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1500)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8)
const FLOOR_ITERATIONS = Number(process.env.BENCH_FLOOR_ITERATIONS ?? 1500)
const PACED_REQUESTS = Number(process.env.BENCH_PACED_REQUESTS ?? 1000)
const MEASUREMENT = 'ab'.repeat(48)
/** Unique per run, so repeated runs against one PostgreSQL database do not collide. */
const RUN = randomBytes(4).toString('hex')

async function main(): Promise<void> {
  const keys = await Promise.all(Array.from({ length: 16 }, () => generateAttestationKey('P-256')))
  const floor = await measureFloor(keys, { iterations: FLOOR_ITERATIONS, measurement: MEASUREMENT })
  const metricsPort = await freePort()
  const server = await startService({ concurrency: CONCURRENCY, env: { KEYBROKER_METRICS_LISTEN: `127.0.0.1:${metricsPort}` } })
  try {
    const result = await measureService(server, keys)
    const paced = await measurePaced(server, keys, result.throughput / 2)
    const rounds = WARM_UP + REQUESTS + PACED_REQUESTS
    const memory = await memoryOf(server.pid)
    const heap = await heapOf(metricsPort)
    const resident = await residentByKind(server.pid)
    // BENCH_SMAPS=file: the service's /proc/PID/smaps at this point, for a closer look.
    if (process.env.BENCH_SMAPS) await writeFile(process.env.BENCH_SMAPS, await readFile(`/proc/${server.pid}/smaps`))
    const ratio = result.throughput / floor.throughput
    const database = process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'
    const rows: [string, string][] = [
      ['floor: crypto of one attest+release, one core (ops/s)', floor.throughput.toFixed(0)],
      ['floor: per operation (ms)', (1000 / floor.throughput).toFixed(3)],
      [`service: attest+release over HTTPS, ${CONCURRENCY} concurrent (req/s)`, result.throughput.toFixed(0)],
      ['service: attest p50 (ms)', result.p50.toFixed(2)],
      ['service: attest p99 (ms)', result.p99.toFixed(2)],
      ['service: challenge+attest round p50 (ms)', result.roundP50.toFixed(2)],
      ['service: CPU per challenge+attest round (ms)', result.cpuMsPerRound.toFixed(3)],
      ['floor: CPU per operation (ms)', floor.cpuMsPerOp.toFixed(3)],
      ['CPU ratio floor / service (load-independent view)', `${((floor.cpuMsPerOp / result.cpuMsPerRound) * 100).toFixed(1)} %`],
      [`paced at half load: ${paced.rate.toFixed(0)} rounds/s offered, achieved (req/s)`, paced.throughput.toFixed(0)],
      ['paced at half load: attest p50 / p99 (ms)', `${paced.p50.toFixed(2)} / ${paced.p99.toFixed(2)}`],
      [`service: VmRSS / VmHWM after ${rounds} rounds (MiB)`, `${mib(memory.rssKiB)} / ${mib(memory.hwmKiB)}`],
      ['service: V8 heap used / committed, external (MiB)', heap.summary],
      ['service: V8 heap committed by space (MiB)', heap.spaces],
      ['service: resident by kind (MiB, /proc smaps)', residentSummary(resident)],
      ['service: errors', String(result.errors + paced.errors)],
      ['service: database', database.toLowerCase()],
      ['ratio service / floor', `${(ratio * 100).toFixed(1)} %`],
    ]
    const width = Math.max(...rows.map(([k]) => k.length))
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`)
    // README-ready lines.
    const load = loadavg().map((l) => l.toFixed(1)).join(' ')
    process.stdout.write(
      `\n| measure (${database}, ${cpus().length} cores, load average ${load}) | keybroker | reference | ratio |\n|---|---|---|---|\n` +
        `| attest+release, ${CONCURRENCY} concurrent | ${result.throughput.toFixed(0)} req/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms | floor ${floor.throughput.toFixed(0)} ops/s | ${(ratio * 100).toFixed(1)} % |\n` +
        `| CPU per attest+release round | ${result.cpuMsPerRound.toFixed(2)} ms | floor ${floor.cpuMsPerOp.toFixed(2)} ms | ${((floor.cpuMsPerOp / result.cpuMsPerRound) * 100).toFixed(1)} % |\n` +
        `| attest p99 at half load (${paced.rate.toFixed(0)} rounds/s offered) | ${paced.p99.toFixed(1)} ms | target < 15 ms | — |\n` +
        `| service VmRSS / VmHWM after ${rounds} rounds | ${mib(memory.rssKiB)} / ${mib(memory.hwmKiB)} MiB | — | — |\n` +
        `| of which V8 heap used / committed, external | ${heap.summary} MiB | — | — |\n` +
        `| resident by kind | ${residentSummary(resident)} MiB | — | — |\n`,
    )
    if (result.errors + paced.errors > 0) process.exitCode = 1
  } finally {
    await server.stop()
  }
}

async function measureService(server: BenchService, keys: readonly AttestationKey[]) {
  await createReleasableSecret(server, { set: `bench-${RUN}`, secret: `bench-secret-${RUN}` }, MEASUREMENT)
  const options = { concurrency: CONCURRENCY, release: [`bench-secret-${RUN}`], evidence: sampleEvidence(MEASUREMENT) }
  // Warm-up, then the measured run.
  const warm = await runRounds(server, keys, { ...options, requests: WARM_UP, concurrency: 1 })
  const cpuStart = await cpuSecondsOf(server.pid)
  const run = await runRounds(server, keys, { ...options, requests: REQUESTS })
  const cpuSeconds = (await cpuSecondsOf(server.pid)) - cpuStart
  return {
    throughput: REQUESTS / run.seconds,
    p50: percentile(run.attestLatencies, 0.5),
    p99: percentile(run.attestLatencies, 0.99),
    roundP50: percentile(run.roundLatencies, 0.5),
    cpuMsPerRound: (cpuSeconds * 1000) / REQUESTS,
    errors: warm.errors + run.errors,
  }
}

/**
 * Open loop: starts one challenge+attest round every 1/`rate` seconds, whatever the answers do
 * (a slow answer does not delay the next start, as with independent clients), and reports the
 * attest latencies. The rounds release the same secret as the closed-loop run.
 */
async function measurePaced(server: BenchService, keys: readonly AttestationKey[], rate: number) {
  const latencies: number[] = []
  let errors = 0
  const evidence = sampleEvidence(MEASUREMENT)
  const round = async (i: number) => {
    const r = await attestRound(server, keys[i % keys.length] as AttestationKey, [`bench-secret-${RUN}`], evidence)
    latencies.push(r.attestMs)
    if (r.status !== 200) errors++
  }
  const inFlight: Promise<void>[] = []
  const started = performance.now()
  for (let i = 0; i < PACED_REQUESTS; i++) {
    const due = started + (i * 1000) / rate
    const wait = due - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    inFlight.push(round(i).catch(() => void errors++))
  }
  await Promise.all(inFlight)
  const seconds = (performance.now() - started) / 1000
  return { rate, throughput: PACED_REQUESTS / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), errors }
}

function mib(kib: number): string {
  return Number.isFinite(kib) ? (kib / 1024).toFixed(0) : 'n/a'
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exitCode = 1
})

/** A free TCP port on 127.0.0.1 for the service's metrics listener. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      probe.close(() => resolve(port))
    })
  })
}

/** `residentByKind` in MiB, one line. */
function residentSummary(r: ResidentKinds | undefined): string {
  if (r === undefined) return 'n/a'
  const m = (kib: number): string => (kib / 1024).toFixed(0)
  return `V8 ${m(r.v8)}, WebAssembly memory ${m(r.wasmMemory)}, malloc ${m(r.mallocMain)} main + ${m(r.mallocThreads)} thread arenas, other anonymous ${m(r.other)}, files ${m(r.files)}`
}

/** The V8 heap figures from the service's /metrics (prom-client's default process metrics). */
async function heapOf(port: number): Promise<{ summary: string; spaces: string }> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '')
  const value = (name: string, labels = ''): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
    return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  const m = (bytes: number): string => (bytes / 2 ** 20).toFixed(0)
  const summary = `${m(value('nodejs_heap_size_used_bytes'))} / ${m(value('nodejs_heap_size_total_bytes'))}, ${m(value('nodejs_external_memory_bytes'))}`
  const spaces = [...text.matchAll(/^nodejs_heap_space_size_total_bytes\{space="([a-z_]+)"\} (\S+)$/gm)]
    .filter((x) => Number(x[2]) >= 2 ** 20)
    .map((x) => `${x[1]} ${m(Number(x[2]))}`)
    .join(', ')
  return { summary, spaces }
}
