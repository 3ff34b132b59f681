/**
 * Benchmark (not a test): the hot path's two statements on PGlite in process, through
 * `PGlite.query()` (an unnamed statement, parsed and planned every call: how keybroker ran them
 * before) against the named statements prepared once (src/storage/pglite-prepared.ts). Same database, same callers
 * (`consumeNonceReadingGeneration`, `appendAuditEntriesAtHead` with one entry, as the group commit
 * writes it under the benchmarks' load), the runner swapped between rounds, rounds alternating.
 * Prints CPU (user + system of this process) and wall time per call, and the ratio.
 *
 *   npm run build && node dist/bench/pglite-prepared.js
 *   BENCH_CALLS=10000 BENCH_ROUNDS=3 node dist/bench/pglite-prepared.js
 */
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { auditKeyFromBytes } from '../src/audit/index.js'
import { appendAuditEntriesAtHead, consumeNonceReadingGeneration, openDatabase, readAuditHead, rekeyAuditChain, type AuditHeadState } from '../src/storage/index.js'
import { pglitePreparedRunner } from '../src/storage/pglite-prepared.js'
import { registerPreparedRunner } from '../src/storage/prepared.js'
import { PGlite } from '@electric-sql/pglite'

const CALLS = Number(process.env.BENCH_CALLS ?? 10_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const WARMUP = 500

const database = await openDatabase({ migrate: true })
const client: unknown = Reflect.get(database.db, '$client')
if (!(client instanceof PGlite)) throw new Error('not a PGlite database')
const runners = {
  'query()': async (statement: { text: string }, values: readonly unknown[]) => (await client.query(statement.text, [...values])).rows,
  prepared: pglitePreparedRunner(client),
}

const key = auditKeyFromBytes(1, randomBytes(32))
await rekeyAuditChain(database.db, key, () => ({ at: new Date(), actor: 'bench', action: 'audit.rekey', subject: '-', outcome: 'ok', detail: {} }))
const row = await readAuditHead(database.db)
if (row === undefined) throw new Error('no audit head')
let head: AuditHeadState = { lastId: Number(row.lastId), lastHash: row.lastHash }
let n = 0
const expires = new Date(Date.now() + 3_600_000)

const statements = {
  nonce: async () => {
    const { fresh } = await consumeNonceReadingGeneration(database.db, `bench-${n++}`, expires, new Date())
    if (!fresh) throw new Error('nonce not fresh')
  },
  'audit append': async () => {
    const done = await appendAuditEntriesAtHead(database.db, key, head, [
      { at: new Date(), actor: 'attester:bench', action: 'release', subject: 'db-password', outcome: 'ok', detail: { evidence: 'sample', n: n++ } },
    ])
    if (done === undefined) throw new Error('audit head moved')
    head = done.head
  },
}

interface Sample {
  cpuUs: number
  wallUs: number
}
const samples = new Map<string, Sample[]>()

async function measure(fn: () => Promise<void>, calls: number): Promise<Sample> {
  const cpu = process.cpuUsage()
  const started = performance.now()
  for (let i = 0; i < calls; i++) await fn()
  const used = process.cpuUsage(cpu)
  return { cpuUs: (used.user + used.system) / calls, wallUs: ((performance.now() - started) * 1000) / calls }
}

const load = [loadavg()]
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? (['query()', 'prepared'] as const) : (['prepared', 'query()'] as const)
  for (const runner of order) {
    registerPreparedRunner(database.db, runners[runner])
    for (const [name, fn] of Object.entries(statements)) {
      await measure(fn, WARMUP)
      const sample = await measure(fn, CALLS)
      const key = `${name}, ${runner}`
      samples.set(key, [...(samples.get(key) ?? []), sample])
    }
  }
}
load.push(loadavg())
await database.close()

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
for (const name of Object.keys(statements)) {
  const before = samples.get(`${name}, query()`) ?? []
  const after = samples.get(`${name}, prepared`) ?? []
  const line = (label: string, xs: Sample[]) =>
    `${`${name}, ${label}`.padEnd(34)} CPU ${xs.map((s) => s.cpuUs.toFixed(0)).join(' / ')} µs per call (mean ${mean(xs.map((s) => s.cpuUs)).toFixed(0)}), wall ${mean(xs.map((s) => s.wallUs)).toFixed(0)} µs`
  console.log(line('query()', before))
  console.log(line('prepared', after))
  console.log(`${`${name}, prepared / query()`.padEnd(34)} CPU ${((100 * mean(after.map((s) => s.cpuUs))) / mean(before.map((s) => s.cpuUs))).toFixed(0)} %`)
}
console.log(`${CALLS} calls per round, ${ROUNDS} rounds, load average ${load.map((l) => l.map((x) => x.toFixed(1)).join(' ')).join(' → ')}`)
