import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { consumeNonceReadingGeneration, executeRows, type Database } from '../../src/storage/index.js'
import { runPrepared, type PreparedStatement } from '../../src/storage/prepared.js'
import { asyncCodeOf } from '../support/error-code.js'
import { testDatabases } from '../support/databases.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')
const LATER = new Date(T0.getTime() + 60_000)

/** The driver client under drizzle (`$client`): PGlite or the pg pool; both have `query(text, values)`. */
function driverQuery(database: Database): (text: string, values: unknown[]) => Promise<{ rows: unknown[] }> {
  const client: unknown = Reflect.get(database.db, '$client')
  if (typeof client !== 'object' || client === null) throw new Error('no $client on the drizzle handle')
  const query: unknown = Reflect.get(client, 'query')
  if (typeof query !== 'function') throw new Error('$client has no query()')
  return async (text, values) => {
    const result: unknown = await query.call(client, text, values)
    const rows: unknown = typeof result === 'object' && result !== null ? Reflect.get(result, 'rows') : undefined
    if (!Array.isArray(rows)) throw new Error('query() gave no rows')
    return { rows }
  }
}

const TYPES: PreparedStatement = {
  name: 'kb_test_types',
  text: `select $1::int as i4, $2::bigint as i8, $3::bigint as i8_big, $4::text as t, $5::text as t_null,
    $6::timestamptz as at, decode($7::text, 'hex') as bytes, $8::jsonb as doc, $9::boolean as flag, $10::numeric as num`,
}
const TYPE_VALUES = [7, 42, '4611686018427387904', 'text ü', null, T0.toISOString(), '00ff10', JSON.stringify({ a: [1, 'x'] }), true, '1.50']

const DIVIDE: PreparedStatement = { name: 'kb_test_divide', text: 'select 10 / $1::int as q' }
const CONSUME_STRICT: PreparedStatement = {
  name: 'kb_test_consume_strict',
  text: 'insert into used_nonces (nonce_id, expires_at, used_at) values ($1, $2::timestamptz, $3::timestamptz) returning nonce_id',
}
const LATE_TABLE: PreparedStatement = { name: 'kb_test_late_table', text: 'select count(*)::int as n from kb_test_late' }

/**
 * src/storage/prepared.ts on both engines: PostgreSQL prepares per pooled connection (pg), PGlite
 * once per instance (src/storage/pglite-prepared.ts). The same rows, errors and concurrency.
 */
describe.each(testDatabases())('prepared statements on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  const consume = (nonce: string) => consumeNonceReadingGeneration(database.db, nonce, LATER, T0)

  it('returns the rows the driver’s own query() returns, types included', async () => {
    const rows = await runPrepared(database.db, TYPES, TYPE_VALUES)
    expect(rows).toEqual((await driverQuery(database)(TYPES.text, TYPE_VALUES)).rows)
    // Again, now from the prepared statement on either engine.
    expect(await runPrepared(database.db, TYPES, TYPE_VALUES)).toEqual(rows)
    const [row] = rows
    if (engine.kind === 'pglite') {
      expect(row).toEqual({
        i4: 7,
        i8: 42,
        i8_big: 4611686018427387904n,
        t: 'text ü',
        t_null: null,
        at: T0,
        bytes: Uint8Array.from([0, 255, 16]),
        doc: { a: [1, 'x'] },
        flag: true,
        num: '1.50',
      })
      expect(row?.['at']).toBeInstanceOf(Date)
    } else {
      expect(row).toMatchObject({ i4: 7, i8: '42', i8_big: '4611686018427387904', t_null: null, at: T0, doc: { a: [1, 'x'] }, flag: true, num: '1.50' })
    }
  })

  it('consumes a nonce once and reads the generation, as a bigint', async () => {
    const first = await consume('prep-a')
    expect(first.fresh).toBe(true)
    expect(typeof first.generation).toBe('bigint')
    expect(await consume('prep-a')).toEqual({ fresh: false, generation: first.generation })
  })

  it('fails a call whose value the statement rejects (at Bind) and runs the next one', async () => {
    expect(await asyncCodeOf(() => runPrepared(database.db, CONSUME_STRICT, ['prep-bad-time', 'not a time', T0.toISOString()]))).toBe('internal')
    expect(await runPrepared(database.db, CONSUME_STRICT, ['prep-good-time', LATER.toISOString(), T0.toISOString()])).toEqual([{ nonce_id: 'prep-good-time' }])
    expect((await consume('prep-after-bind-error')).fresh).toBe(true)
    expect(await executeRows(database.db, sql`select 1 as one`)).toEqual([{ one: 1 }])
  })

  it('fails a call that errors while it runs and leaves no transaction behind', async () => {
    expect(await asyncCodeOf(() => runPrepared(database.db, DIVIDE, [0]))).toBe('internal')
    expect(await runPrepared(database.db, DIVIDE, [5])).toEqual([{ q: 2 }])
    // No transaction block left open: BEGIN would warn and the transaction would nest.
    expect(await database.db.transaction(async (tx) => executeRows(tx, sql`select 1 as one`))).toEqual([{ one: 1 }])
  })

  it('maps a unique violation to conflict and keeps what the first call wrote', async () => {
    const values = ['prep-strict', LATER.toISOString(), T0.toISOString()]
    expect(await runPrepared(database.db, CONSUME_STRICT, values)).toEqual([{ nonce_id: 'prep-strict' }])
    expect(await asyncCodeOf(() => runPrepared(database.db, CONSUME_STRICT, values))).toBe('conflict')
    expect((await consume('prep-strict')).fresh).toBe(false)
    expect(await runPrepared(database.db, CONSUME_STRICT, ['prep-strict-2', LATER.toISOString(), T0.toISOString()])).toEqual([{ nonce_id: 'prep-strict-2' }])
  })

  it('prepares a statement again after it failed to prepare', async () => {
    expect(await asyncCodeOf(() => runPrepared(database.db, LATE_TABLE, []))).toBe('internal')
    await database.db.execute(sql`create table kb_test_late (id int)`)
    await database.db.execute(sql`insert into kb_test_late values (1), (2)`)
    expect(await runPrepared(database.db, LATE_TABLE, [])).toEqual([{ n: 2 }])
  })

  it('refuses a second text under a name already used', async () => {
    await runPrepared(database.db, DIVIDE, [1])
    expect(await asyncCodeOf(() => runPrepared(database.db, { name: DIVIDE.name, text: 'select 1 as q' }, []))).toBe('internal')
  })

  it('never runs inside another caller’s open transaction', async () => {
    let inTransaction!: () => void
    const begun = new Promise<void>((resolve) => (inTransaction = resolve))
    const rolledBack = database.db
      .transaction(async (tx) => {
        await tx.execute(sql`insert into used_nonces (nonce_id, expires_at, used_at) values ('prep-in-tx', ${LATER.toISOString()}::timestamptz, ${T0.toISOString()}::timestamptz)`)
        inTransaction()
        await new Promise((resolve) => setTimeout(resolve, 100))
        throw new Error('roll back')
      })
      .catch((err: unknown) => err)
    await begun
    // Issued while the transaction is open: it must commit on its own, not with (and not be
    // rolled back with) the transaction.
    const outside = await consume('prep-beside-tx')
    expect(outside.fresh).toBe(true)
    expect(await rolledBack).toBeInstanceOf(Error)
    expect((await consume('prep-beside-tx')).fresh).toBe(false)
    expect((await consume('prep-in-tx')).fresh).toBe(true)
  })

  it('serves concurrent callers, with exactly one winner per nonce, beside transactions', async () => {
    const nonces = Array.from({ length: 20 }, (_, i) => `prep-race-${i}`)
    const calls = [...nonces, ...nonces].map((nonce) => consume(nonce).then((r) => ({ nonce, fresh: r.fresh })))
    const transactions = Array.from({ length: 5 }, (_, i) =>
      database.db.transaction(async (tx) => {
        await tx.execute(sql`insert into used_nonces (nonce_id, expires_at, used_at) values (${`prep-tx-${i}`}, ${LATER.toISOString()}::timestamptz, ${T0.toISOString()}::timestamptz)`)
        return i
      }),
    )
    const [results] = await Promise.all([Promise.all(calls), Promise.all(transactions)])
    for (const nonce of nonces) expect(results.filter((r) => r.nonce === nonce && r.fresh)).toHaveLength(1)
    for (let i = 0; i < 5; i++) expect((await consume(`prep-tx-${i}`)).fresh).toBe(false)
  })
})

/**
 * PGlite only. What PostgreSQL through pg does differently, by name: pg keeps no description of
 * its own, so a `DEALLOCATE` or a changed result type on a pooled connection fails that
 * connection's calls (26000 / 0A000); keybroker never issues either, and on PostgreSQL a new
 * connection (after a restart or failover) starts with nothing prepared.
 */
describe('prepared statements on PGlite only', () => {
  let database: Database
  beforeAll(async () => {
    const [pglite] = testDatabases()
    if (pglite === undefined) throw new Error('no PGlite engine')
    database = await pglite.open()
  })
  afterAll(() => database.close())

  const executions = async (name: string): Promise<number> => {
    const [row] = await executeRows(database.db, sql`select (generic_plans + custom_plans)::int as n from pg_prepared_statements where name = ${name}`)
    return typeof row?.['n'] === 'number' ? row['n'] : 0
  }

  it('parses a statement once and then only executes it (a generic plan after the first few)', async () => {
    for (let i = 0; i < 10; i++) await runPrepared(database.db, DIVIDE, [1])
    expect(await executions(DIVIDE.name)).toBe(10)
    const [plans] = await executeRows(database.db, sql`select generic_plans::int as generic from pg_prepared_statements where name = ${DIVIDE.name}`)
    expect(plans?.['generic']).toBeGreaterThan(0)
  })

  it('prepares again after a DEALLOCATE on the connection', async () => {
    await runPrepared(database.db, DIVIDE, [1])
    await database.db.execute(sql`deallocate all`)
    expect(await runPrepared(database.db, DIVIDE, [2])).toEqual([{ q: 5 }])
    expect(await executions(DIVIDE.name)).toBe(1)
  })

  it('prepares again when a table it reads changed its row type', async () => {
    await database.db.execute(sql`create table kb_test_shape (id int)`)
    await database.db.execute(sql`insert into kb_test_shape values (1)`)
    const all: PreparedStatement = { name: 'kb_test_shape_all', text: 'select * from kb_test_shape where id = $1::int' }
    expect(await runPrepared(database.db, all, [1])).toEqual([{ id: 1 }])
    await database.db.execute(sql`alter table kb_test_shape add column label text default 'x'`)
    expect(await runPrepared(database.db, all, [1])).toEqual([{ id: 1, label: 'x' }])
  })

  it('refuses to run inside a transaction block opened outside transaction()', async () => {
    await database.db.execute(sql`begin`)
    expect(await asyncCodeOf(() => runPrepared(database.db, DIVIDE, [1]))).toBe('internal')
    await database.db.execute(sql`rollback`)
    expect(await runPrepared(database.db, DIVIDE, [1])).toEqual([{ q: 10 }])
  })

  it('answers not-ready once the database is closed, also to calls queued behind close()', async () => {
    const [pglite] = testDatabases()
    if (pglite === undefined) throw new Error('no PGlite engine')
    const other = await pglite.open()
    const queued = Array.from({ length: 5 }, (_, i) => asyncCodeOf(() => consumeNonceReadingGeneration(other.db, `prep-close-${i}`, LATER, T0)))
    await other.close()
    for (const outcome of await Promise.all(queued)) expect(['no-error', 'not-ready']).toContain(outcome)
    expect(await asyncCodeOf(() => consumeNonceReadingGeneration(other.db, 'prep-closed', LATER, T0))).toBe('not-ready')
  })
})
