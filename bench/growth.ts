/**
 * Benchmark (not a test): does attest+release slow down as the database fills? Two `keybroker
 * serve` processes, each on its own scratch PostgreSQL database on the server of DATABASE_URL:
 * one empty, one seeded with bulk SQL (10^5 audit entries, 10^4 secrets with their versions,
 * 10^4 reference-value sets with a measurement and a version each). Then attest+release rounds
 * of the same requests alternate between the two, and the ratios seeded / empty are printed.
 *
 *   npm run build && DATABASE_URL=postgres://… node dist/bench/growth.js
 *   BENCH_ROUNDS=4 BENCH_REQUESTS=500 BENCH_CONCURRENCY=8 …
 *
 * PostgreSQL only: the embedded PGlite is locked by the process that serves it, so it cannot be
 * seeded beside it. The seeded rows copy the shape of rows the API wrote (the bench secret's
 * envelope, the bench set's snapshot) but are not usable themselves, and the seeded audit entries
 * carry placeholder hashes: `keybroker audit verify` fails on the seeded database, which the hot
 * path never reads (it appends after the head).
 */
import { cpus, loadavg } from 'node:os'
import pg from 'pg'
import { generateAttestationKey, type AttestationKey } from '../src/clients/index.js'
import { createReleasableSecret, runRounds, sampleEvidence } from './support/rounds.js'
import { cpuSecondsOf, percentile, startService, type BenchService } from './support/service.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8)
const AUDIT_ENTRIES = Number(process.env.BENCH_AUDIT_ENTRIES ?? 100_000)
const SECRETS = Number(process.env.BENCH_SECRETS ?? 10_000)
const SETS = Number(process.env.BENCH_SETS ?? 10_000)
const MEASUREMENT = 'cd'.repeat(48)
const SET = 'growth-bench'
const SECRET = 'growth-bench-secret'

interface RoundResult {
  readonly throughput: number
  readonly cpuMsPerRound: number
  readonly p50: number
  readonly p99: number
  readonly errors: number
}

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL) {
    process.stderr.write('bench/growth.ts needs DATABASE_URL (a PostgreSQL server it may create scratch databases on)\n')
    process.exitCode = 2
    return
  }
  const keys = await Promise.all(Array.from({ length: 16 }, () => generateAttestationKey('P-256')))
  const empty = await startService({ concurrency: CONCURRENCY })
  const seeded = await startService({ concurrency: CONCURRENCY }).catch(async (err: unknown) => {
    await empty.stop()
    throw err
  })
  try {
    for (const s of [empty, seeded]) await setUp(s)
    const seedSeconds = await seed(seeded)
    const results = { empty: [] as RoundResult[], seeded: [] as RoundResult[] }
    // Warm-up of both, then alternating rounds (which one goes first alternates too).
    for (const s of [empty, seeded]) await run(s, keys, 100)
    for (let r = 0; r < ROUNDS; r++) {
      const order: ['empty' | 'seeded', BenchService][] = [
        ['empty', empty],
        ['seeded', seeded],
      ]
      if (r % 2 === 1) order.reverse()
      for (const [name, s] of order) results[name].push(await run(s, keys, REQUESTS))
    }
    const med = (rs: RoundResult[], f: (r: RoundResult) => number) => percentile(rs.map(f), 0.5)
    const e = { tput: med(results.empty, (r) => r.throughput), cpu: med(results.empty, (r) => r.cpuMsPerRound), p99: med(results.empty, (r) => r.p99) }
    const g = { tput: med(results.seeded, (r) => r.throughput), cpu: med(results.seeded, (r) => r.cpuMsPerRound), p99: med(results.seeded, (r) => r.p99) }
    const errors = [...results.empty, ...results.seeded].reduce((n, r) => n + r.errors, 0)
    const rows: [string, string][] = [
      ['seeded rows', `${AUDIT_ENTRIES} audit entries, ${SECRETS} secrets, ${SETS} reference-value sets (${seedSeconds.toFixed(1)} s)`],
      ['rounds × requests, concurrency', `${ROUNDS} × ${REQUESTS}, ${CONCURRENCY}`],
      ['empty: attest+release/s (median of rounds)', e.tput.toFixed(0)],
      ['seeded: attest+release/s (median of rounds)', g.tput.toFixed(0)],
      ['empty / seeded: service CPU per round (ms)', `${e.cpu.toFixed(3)} / ${g.cpu.toFixed(3)}`],
      ['empty / seeded: attest p99 (ms)', `${e.p99.toFixed(1)} / ${g.p99.toFixed(1)}`],
      ['per round, seeded / empty throughput', results.seeded.map((s, i) => `${((s.throughput / (results.empty[i]?.throughput ?? NaN)) * 100).toFixed(0)} %`).join(' ')],
      ['errors', String(errors)],
      ['seeded slower by (throughput, median)', `${((1 - g.tput / e.tput) * 100).toFixed(1)} %`],
      ['seeded slower by (CPU per round, median)', `${((g.cpu / e.cpu - 1) * 100).toFixed(1)} %`],
    ]
    const width = Math.max(...rows.map(([k]) => k.length))
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`)
    const load = loadavg().map((l) => l.toFixed(1)).join(' ')
    process.stdout.write(
      `\n| growth (PostgreSQL, ${cpus().length} cores, load average ${load}) | empty | seeded | seeded slower by |\n|---|---|---|---|\n` +
        `| attest+release/s, ${CONCURRENCY} concurrent | ${e.tput.toFixed(0)} | ${g.tput.toFixed(0)} | ${((1 - g.tput / e.tput) * 100).toFixed(1)} % |\n` +
        `| service CPU per challenge+attest round | ${e.cpu.toFixed(2)} ms | ${g.cpu.toFixed(2)} ms | ${((g.cpu / e.cpu - 1) * 100).toFixed(1)} % |\n`,
    )
    if (errors > 0) process.exitCode = 1
  } finally {
    await Promise.all([empty.stop(), seeded.stop()])
  }
}

async function setUp(s: BenchService): Promise<void> {
  await createReleasableSecret(s, { set: SET, secret: SECRET }, MEASUREMENT)
}

/** Bulk SQL on the service's own database while it runs; returns the seconds it took. */
async function seed(s: BenchService): Promise<number> {
  if (s.databaseUrl === undefined) throw new Error('the seeded service has no database URL')
  const client = new pg.Client({ connectionString: s.databaseUrl })
  await client.connect()
  const started = performance.now()
  try {
    await client.query('BEGIN')
    await client.query(
      `INSERT INTO reference_value_sets (name, allow_debug, version, created_at, updated_at, evidence_type, expect, provenance)
       SELECT 'grow-set-' || g, s.allow_debug, 1, now(), now(), s.evidence_type, s.expect, s.provenance
       FROM reference_value_sets s, generate_series(1, $2::int) g WHERE s.name = $1`,
      [SET, SETS],
    )
    await client.query(
      `INSERT INTO reference_measurements (set_name, measurement, created_at)
       SELECT 'grow-set-' || g, md5('a' || g) || md5('b' || g) || md5('c' || g), now() FROM generate_series(1, $1::int) g`,
      [SETS],
    )
    await client.query(
      `INSERT INTO reference_value_set_versions (name, version, snapshot, created_at)
       SELECT 'grow-set-' || g, 1, v.snapshot, now()
       FROM reference_value_set_versions v, generate_series(1, $2::int) g WHERE v.name = $1 AND v.version = 1`,
      [SET, SETS],
    )
    await client.query(
      `INSERT INTO secrets (name, kind, state, current_version, reference_values, policy, created_at, updated_at)
       SELECT 'grow-secret-' || g, s.kind, s.state, 1, jsonb_build_array('grow-set-' || (1 + g % $3::int)), s.policy, now(), now()
       FROM secrets s, generate_series(1, $2::int) g WHERE s.name = $1`,
      [SECRET, SECRETS, SETS],
    )
    await client.query(
      `INSERT INTO secret_versions (secret_name, version, kek_id, envelope, created_at)
       SELECT 'grow-secret-' || g, 1, v.kek_id, v.envelope, now()
       FROM secret_versions v, generate_series(1, $2::int) g WHERE v.secret_name = $1 AND v.version = 1`,
      [SECRET, SECRETS],
    )
    // Placeholder hashes (see the header): the rows have the size and indexes of real ones.
    await client.query(
      `INSERT INTO audit_log (id, at, actor, action, subject, outcome, detail, prev_hash, hash)
       SELECT h.last_id + g, now(), 'attester:seed', 'secret.release', 'grow-secret-' || (1 + g % 10000), 'success',
              jsonb_build_object('evidenceType', 'sample', 'seed', g), encode(sha256(('p' || g)::bytea), 'hex'), encode(sha256(('h' || g)::bytea), 'hex')
       FROM audit_head h, generate_series(1, $1::int) g WHERE h.id = 1`,
      [AUDIT_ENTRIES],
    )
    await client.query(`UPDATE audit_head SET last_id = last_id + $1::int, last_hash = encode(sha256(('h' || $1::int)::bytea), 'hex') WHERE id = 1`, [AUDIT_ENTRIES])
    await client.query('COMMIT')
    await client.query('ANALYZE')
  } finally {
    await client.end()
  }
  return (performance.now() - started) / 1000
}

async function run(s: BenchService, keys: readonly AttestationKey[], requests: number): Promise<RoundResult> {
  const cpuStart = await cpuSecondsOf(s.pid)
  const r = await runRounds(s, keys, { requests, concurrency: CONCURRENCY, release: [SECRET], evidence: sampleEvidence(MEASUREMENT) })
  const cpuSeconds = (await cpuSecondsOf(s.pid)) - cpuStart
  return { throughput: requests / r.seconds, cpuMsPerRound: (cpuSeconds * 1000) / requests, p50: percentile(r.attestLatencies, 0.5), p99: percentile(r.attestLatencies, 0.99), errors: r.errors }
}


main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exitCode = 1
})
