/**
 * Benchmark (not a test): what a release policy costs. In one run:
 *
 * 1. in process: one secret's decision (appraisal + rules) with the default rule set and with a
 *    10-rule CEL policy, compiled once (as the service caches them per policy version), and the
 *    compile time of that policy;
 * 2. over HTTPS against a real `keybroker serve` child: attest+release of a secret guarded by
 *    the default rules, and of one guarded by the 10-rule policy, in alternating rounds so that
 *    machine noise hits both alike.
 *
 * The figures to read are the ratios (10-rule / default).
 *
 *   npm run build && node dist/bench/policy.js
 *   DATABASE_URL=postgres://… BENCH_REQUESTS=1000 node dist/bench/policy.js
 */
import { runRounds, sampleEvidence } from './support/rounds.js'
import { call, percentile, startService, type BenchService } from './support/service.js'
import { randomBytes } from 'node:crypto'
import { appraise } from '../src/appraisal/index.js'
import { generateAttestationKey, type AttestationKey } from '../src/clients/index.js'
import { compilePolicy, decideRelease } from '../src/policy/index.js'

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const MICRO_ITERATIONS = Number(process.env.BENCH_MICRO_ITERATIONS ?? 20_000)
const MEASUREMENT = 'cd'.repeat(48)
const RUN = randomBytes(4).toString('hex')

/**
 * Ten rules that all hold for the benchmark's evidence: what a real policy looks like. No
 * `matches()`: @bufbuild/cel 0.6 compiles the RE2 pattern on every call (measured separately).
 */
const TEN_RULES = [
  { name: 'affirming', expr: 'ear.status == "affirming"' },
  { name: 'matched', expr: 'size(ear.matched) > 0 && size(ear.revoked) == 0' },
  { name: 'debug-off', expr: '!claims.debug && ear.debugAcceptable' },
  { name: 'evidence-type', expr: 'claims.evidenceType in ["sample", "snp", "tdx"]' },
  { name: 'measurement-size', expr: 'size(claims.measurement) == 96' },
  { name: 'executables', expr: 'ear.trustVector["executables"] <= 3' },
  { name: 'configuration', expr: 'ear.trustVector.configuration == 2' },
  { name: 'via', expr: 'request.via == "attest" || request.via == "token"' },
  { name: 'recent', expr: 'request.time > timestamp("2020-01-01T00:00:00Z")' },
  { name: 'set-named', expr: 'ear.referenceValues.exists(r, r.startsWith("bench"))' },
]

async function main(): Promise<void> {
  const micro = measureMicro()
  const keys = await Promise.all(Array.from({ length: 16 }, () => generateAttestationKey('P-256')))
  const server = await startService({ concurrency: CONCURRENCY })
  try {
    const service = await measureService(server, keys)
    const rows: [string, string][] = [
      ['in process: decision, default rules (µs/op)', micro.defaultUs.toFixed(1)],
      ['in process: decision, 10-rule CEL policy (µs/op)', micro.tenUs.toFixed(1)],
      ['in process: ratio 10-rule / default', micro.ratio.toFixed(2)],
      ['in process: compile the 10-rule policy once (ms)', micro.compileMs.toFixed(2)],
      ['in process: one rule with matches() (µs/op)', micro.matchesUs.toFixed(1)],
      [`service: attest+release, default rules, ${CONCURRENCY} concurrent (req/s)`, service.default.throughput.toFixed(0)],
      [`service: attest+release, 10-rule policy, ${CONCURRENCY} concurrent (req/s)`, service.ten.throughput.toFixed(0)],
      ['service: attest p50 default / 10-rule (ms)', `${service.default.p50.toFixed(2)} / ${service.ten.p50.toFixed(2)}`],
      ['service: attest p99 default / 10-rule (ms)', `${service.default.p99.toFixed(2)} / ${service.ten.p99.toFixed(2)}`],
      ['service: errors', String(service.default.errors + service.ten.errors)],
      ['service: database', process.env.DATABASE_URL ? 'postgres' : 'pglite'],
      ['ratio throughput 10-rule / default', `${((service.ten.throughput / service.default.throughput) * 100).toFixed(1)} %`],
    ]
    const width = Math.max(...rows.map(([k]) => k.length))
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`)
    if (service.default.errors + service.ten.errors > 0) process.exitCode = 1
  } finally {
    await server.stop()
  }
}

function measureMicro(): { defaultUs: number; tenUs: number; ratio: number; compileMs: number; matchesUs: number } {
  const claims = { evidenceType: 'sample', platform: 'sample', measurement: MEASUREMENT, debug: false, hardwareBacked: false, raw: { measurement: MEASUREMENT, debug: false } }
  const sets = [{ name: 'bench-set', allowDebug: false, version: 1, measurements: [{ value: MEASUREMENT, revokedAt: null, provenance: { source: 'admin' } }] }]
  const compileStart = performance.now()
  const ten = compilePolicy(TEN_RULES)
  const compileMs = performance.now() - compileStart
  const decide = (policy: ReturnType<typeof compilePolicy> | undefined) => {
    const appraisal = appraise(claims, sets, { now: new Date() })
    const d = decideRelease({
      secretState: 'enabled',
      policy,
      claims,
      appraisal,
      referenceValues: ['bench-set'],
      request: { evidenceType: 'sample', clientIp: '127.0.0.1', time: new Date(), secret: 'bench', via: 'attest' },
    })
    if (!d.allowed) throw new Error(`benchmark policy denied: ${JSON.stringify(d.rules.filter((r) => !r.passed))}`)
  }
  const time = (policy: ReturnType<typeof compilePolicy> | undefined) => {
    for (let i = 0; i < 1000; i++) decide(policy)
    const started = performance.now()
    for (let i = 0; i < MICRO_ITERATIONS; i++) decide(policy)
    return ((performance.now() - started) * 1000) / MICRO_ITERATIONS
  }
  const defaultUs = time(undefined)
  const tenUs = time(ten)
  const regex = compilePolicy([{ name: 'hex', expr: 'claims.measurement.matches("^[0-9a-f]{96}$")' }])
  const matchesUs = time(regex) - time(compilePolicy([{ name: 'true', expr: 'true' }]))
  return { defaultUs, tenUs, ratio: tenUs / defaultUs, compileMs, matchesUs }
}

interface Figures {
  throughput: number
  p50: number
  p99: number
  errors: number
}

async function measureService(server: BenchService, keys: readonly AttestationKey[]): Promise<{ default: Figures; ten: Figures }> {
  const set = `bench-${RUN}`
  const policy = `bench-ten-${RUN}`
  const plain = `bench-default-${RUN}`
  const guarded = `bench-policy-${RUN}`
  const setup = [
    await call(server, 'POST', '/admin/v1/reference-values', { name: set, measurements: [MEASUREMENT] }, server.adminToken),
    await call(server, 'POST', '/admin/v1/policies', { name: policy, rules: TEN_RULES }, server.adminToken),
    await call(server, 'POST', '/admin/v1/secrets', { name: plain, generate: { bytes: 64 }, referenceValues: [set] }, server.adminToken),
    await call(server, 'POST', '/admin/v1/secrets', { name: guarded, generate: { bytes: 64 }, referenceValues: [set], policy }, server.adminToken),
  ]
  for (const r of setup) if (r.status !== 201) throw new Error(`setup failed: ${r.status} ${r.body}`)

  const evidence = sampleEvidence(MEASUREMENT)
  const run = async (secret: string, requests: number) => {
    const r = await runRounds(server, keys, { requests, concurrency: CONCURRENCY, release: [secret], evidence })
    return { seconds: r.seconds, latencies: r.attestLatencies, errors: r.errors }
  }
  // Warm-up of both paths, then alternating rounds.
  await run(plain, 50)
  await run(guarded, 50)
  const acc = { default: { seconds: 0, latencies: [] as number[], errors: 0 }, ten: { seconds: 0, latencies: [] as number[], errors: 0 } }
  const perRound = Math.max(1, Math.floor(REQUESTS / ROUNDS))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [which, secret] of round % 2 === 0 ? ([['default', plain], ['ten', guarded]] as const) : ([['ten', guarded], ['default', plain]] as const)) {
      const r = await run(secret, perRound)
      acc[which].seconds += r.seconds
      acc[which].latencies.push(...r.latencies)
      acc[which].errors += r.errors
    }
  }
  const figures = (a: { seconds: number; latencies: number[]; errors: number }): Figures => ({
    throughput: (perRound * ROUNDS) / a.seconds,
    p50: percentile(a.latencies, 0.5),
    p99: percentile(a.latencies, 0.99),
    errors: a.errors,
  })
  return { default: figures(acc.default), ten: figures(acc.ten) }
}


main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exitCode = 1
})
