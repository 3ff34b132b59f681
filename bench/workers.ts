/**
 * Benchmark (not a test): attest+release over HTTPS with `KEYBROKER_WORKERS=1` (one process)
 * against `KEYBROKER_WORKERS=2` (a cluster primary and two workers) in the same run, on the same
 * PostgreSQL server (each service on a scratch database of its own, see support/service.ts), in
 * interleaved rounds (1, 2, 2, 1, 1, 2, …) so that drift in the machine's load falls on both
 * alike. Both services run for the whole benchmark (the idle one costs nothing). Prints throughput, p50/p99 and the service's CPU per round (all of
 * its processes, from /proc) for each, and the 2-vs-1 ratio, as README table lines.
 *
 *   DATABASE_URL=postgres://… npm run bench:workers
 *   BENCH_REQUESTS=600 BENCH_ROUNDS=2 BENCH_CONCURRENCY=8 DATABASE_URL=… npm run bench:workers
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { generateAttestationKey, type AttestationKey } from '../src/clients/index.js'
import { createReleasableSecret, runRounds, sampleEvidence } from './support/rounds.js'
import { cpuSecondsOf, percentile, startService, type BenchService } from './support/service.js'

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 600)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8)
const MEASUREMENT = 'be'.repeat(48)
/** Names unique per run (each service has a scratch database, but a fixed name would hide that). */
const RUN = randomBytes(4).toString('hex')

interface Tally {
  seconds: number
  requests: number
  cpuSeconds: number
  errors: number
  readonly latencies: number[]
}

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL) {
    process.stderr.write('bench/workers needs DATABASE_URL (PostgreSQL): workers are refused on the embedded database\n')
    process.exitCode = 2
    return
  }
  const loadBefore = loadavg()
  const keys = await Promise.all(Array.from({ length: 16 }, () => generateAttestationKey('P-256')))
  const one = await startService({ concurrency: CONCURRENCY, env: { KEYBROKER_WORKERS: '1' } })
  let two: BenchService | undefined
  try {
    two = await startService({ concurrency: CONCURRENCY, env: { KEYBROKER_WORKERS: '2' } })
    await setUp(one)
    await setUp(two)
    const tallies = new Map<1 | 2, Tally>([
      [1, { seconds: 0, requests: 0, cpuSeconds: 0, errors: 0, latencies: [] }],
      [2, { seconds: 0, requests: 0, cpuSeconds: 0, errors: 0, latencies: [] }],
    ])
    const services = new Map<1 | 2, BenchService>([
      [1, one],
      [2, two],
    ])
    // Warm-up of both (connections, JIT, release-data copies of every worker).
    for (const s of services.values()) await measure(s, keys, 100)
    for (let round = 0; round < ROUNDS; round++) {
      const order: (1 | 2)[] = round % 2 === 0 ? [1, 2] : [2, 1]
      for (const workers of order) {
        const r = await measure(services.get(workers) as BenchService, keys, REQUESTS)
        const t = tallies.get(workers) as Tally
        t.seconds += r.seconds
        t.requests += REQUESTS
        t.cpuSeconds += r.cpuSeconds
        t.errors += r.errors
        t.latencies.push(...r.latencies)
      }
    }
    const loadAfter = loadavg()
    const rows = [...tallies].map(([workers, t]) => ({
      workers,
      throughput: t.requests / t.seconds,
      p50: percentile(t.latencies, 0.5),
      p99: percentile(t.latencies, 0.99),
      cpuMsPerRound: (t.cpuSeconds * 1000) / t.requests,
      errors: t.errors,
    }))
    const [r1, r2] = rows as [(typeof rows)[number], (typeof rows)[number]]
    const out = (line: string) => process.stdout.write(`${line}\n`)
    out(`machine: ${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), shared with the client and PostgreSQL; load average ${fmtLoad(loadBefore)} before, ${fmtLoad(loadAfter)} after`)
    out(`${ROUNDS} interleaved rounds × ${REQUESTS} attest+release rounds (challenge + attest with one secret) per setting, ${CONCURRENCY} concurrent keep-alive connections, PostgreSQL`)
    out('')
    out('| KEYBROKER_WORKERS | attest+release/s | attest p50 | attest p99 | service CPU per round (all processes) | errors |')
    out('|---|---|---|---|---|---|')
    for (const r of rows) out(`| ${r.workers} | ${r.throughput.toFixed(0)} | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${r.cpuMsPerRound.toFixed(2)} ms | ${r.errors} |`)
    out('')
    out(`2 workers vs 1: ${(r2.throughput / r1.throughput).toFixed(2)}× the throughput, p99 ${(r2.p99 / r1.p99).toFixed(2)}×, CPU per round ${(r2.cpuMsPerRound / r1.cpuMsPerRound).toFixed(2)}×`)
    if (r1.errors + r2.errors > 0) process.exitCode = 1
  } finally {
    await two?.stop()
    await one.stop()
  }
}

function fmtLoad(l: readonly number[]): string {
  return l.map((x) => x.toFixed(1)).join(' / ')
}

async function setUp(s: BenchService): Promise<void> {
  await createReleasableSecret(s, { set: `bench-w-${RUN}`, secret: `bench-w-secret-${RUN}` }, MEASUREMENT)
}

/** CPU seconds of `pid` and its children (the cluster's workers), from /proc. */
async function groupCpuSeconds(pid: number): Promise<number> {
  let children: number[] = []
  try {
    children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    // no children file (not Linux, or the kernel lacks it): the primary's own time only
  }
  const all = await Promise.all([pid, ...children].map((p) => cpuSecondsOf(p)))
  return all.reduce((a, b) => a + b, 0)
}

async function measure(s: BenchService, keys: readonly AttestationKey[], requests: number) {
  const cpuStart = await groupCpuSeconds(s.pid)
  const r = await runRounds(s, keys, { requests, concurrency: CONCURRENCY, release: [`bench-w-secret-${RUN}`], evidence: sampleEvidence(MEASUREMENT) })
  return { seconds: r.seconds, cpuSeconds: (await groupCpuSeconds(s.pid)) - cpuStart, latencies: r.attestLatencies, errors: r.errors }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exitCode = 1
})
