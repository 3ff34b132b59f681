import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { consumeNonce, deleteExpiredNonces, executeRows, vacuumChurnedTables, type Database } from '../../src/storage/index.js'
import { sql } from 'drizzle-orm'
import { testDatabases } from '../support/databases.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')
const later = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000)

describe.each(testDatabases())('nonces on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  it('accepts the first use of a nonce and refuses every later one', async () => {
    expect(await consumeNonce(database.db, 'nonce-a', later(60), T0)).toBe(true)
    expect(await consumeNonce(database.db, 'nonce-a', later(60), later(1))).toBe(false)
    expect(await consumeNonce(database.db, 'nonce-a', later(120), later(2))).toBe(false)
    expect(await consumeNonce(database.db, 'nonce-b', later(60), T0)).toBe(true)
  })

  it('lets exactly one of many concurrent uses of one nonce win', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, () => consumeNonce(database.db, 'nonce-race', later(60), T0)),
    )
    expect(results.filter((won) => won)).toHaveLength(1)
  })

  it('keeps the transaction usable after a reuse (no unique-violation abort)', async () => {
    await consumeNonce(database.db, 'nonce-tx', later(60), T0)
    const outcome = await database.db.transaction(async (tx) => {
      const first = await consumeNonce(tx, 'nonce-tx', later(60), T0)
      const second = await consumeNonce(tx, 'nonce-tx-2', later(60), T0)
      return [first, second]
    })
    expect(outcome).toEqual([false, true])
  })

  it('rolls a use back with its transaction', async () => {
    await expect(
      database.db.transaction(async (tx) => {
        expect(await consumeNonce(tx, 'nonce-rolled-back', later(60), T0)).toBe(true)
        throw new Error('abort')
      }),
    ).rejects.toThrow('abort')
    expect(await consumeNonce(database.db, 'nonce-rolled-back', later(60), T0)).toBe(true)
  })

  it('deletes only nonces that expired strictly before now', async () => {
    expect(await deleteExpiredNonces(database.db, later(999))).toBeGreaterThan(0) // earlier tests' nonces
    await consumeNonce(database.db, 'exp-1', later(1000), T0)
    await consumeNonce(database.db, 'exp-2', later(2000), T0)
    await consumeNonce(database.db, 'exp-3', later(3000), T0)
    expect(await deleteExpiredNonces(database.db, later(999))).toBe(0)
    expect(await deleteExpiredNonces(database.db, later(2000))).toBe(1) // exp-1; exp-2 expires exactly now
    expect(await consumeNonce(database.db, 'exp-1', later(1000), later(2000))).toBe(true)
    expect(await consumeNonce(database.db, 'exp-2', later(2000), later(2000))).toBe(false)
    expect(await consumeNonce(database.db, 'exp-3', later(3000), later(2000))).toBe(false)
  })

  it('purges in batches until no expired row is left, and keeps the rest', async () => {
    await deleteExpiredNonces(database.db, later(10_000)) // earlier tests' nonces
    for (let i = 0; i < 23; i++) await consumeNonce(database.db, `batch-old-${i}`, later(5000 + i), T0)
    for (let i = 0; i < 4; i++) await consumeNonce(database.db, `batch-new-${i}`, later(9000), T0)
    expect(await deleteExpiredNonces(database.db, later(6000), 5)).toBe(23) // 5 statements of 5, one of 3
    expect(await deleteExpiredNonces(database.db, later(6000), 5)).toBe(0)
    for (let i = 0; i < 4; i++) expect(await consumeNonce(database.db, `batch-new-${i}`, later(9000), later(6000))).toBe(false)
    expect(await deleteExpiredNonces(database.db, later(9001), 2)).toBe(4) // exactly two full batches, then an empty one
    await expect(deleteExpiredNonces(database.db, later(9001), 0)).rejects.toThrow(RangeError)
  })

  it('vacuums the churned tables on PGlite only (single-user mode runs no autovacuum)', async () => {
    const stats = async (): Promise<{ dead: number; vacuumed: boolean }> => {
      const [row] = await executeRows(database.db, sql`select n_dead_tup::int as dead, last_vacuum is not null as vacuumed from pg_stat_user_tables where relname = 'used_nonces'`)
      return { dead: Number(row?.['dead']), vacuumed: row?.['vacuumed'] === true }
    }
    await deleteExpiredNonces(database.db, later(100_000))
    for (let i = 0; i < 50; i++) await consumeNonce(database.db, `vac-${i}`, later(50_000), T0)
    expect(await deleteExpiredNonces(database.db, later(60_000))).toBe(50)
    const vacuumed = await vacuumChurnedTables(database)
    expect(vacuumed).toBe(database.engine === 'pglite')
    if (database.engine === 'pglite') expect(await stats()).toEqual({ dead: 0, vacuumed: true })
  })
})
