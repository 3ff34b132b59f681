/**
 * The PostgreSQL pool through connection faults placed exactly (test/support/fault-proxy.ts):
 * nothing that fails on a broken connection keeps a pooled connection checked out, nothing waits
 * for a silent server without bound, and close() returns (README "Database faults").
 * Needs `DATABASE_URL`; skipped without it.
 */
import { sql } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { KeybrokerError } from '../../src/errors.js'
import { executeRows, openDatabase, toStorageError, type Database } from '../../src/storage/index.js'
import { postgresTestUrl } from '../support/databases.js'
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js'

const URL_ = postgresTestUrl()

/** The storage error `fn` fails with (the test fails if it succeeds). */
async function failure(fn: () => Promise<unknown>): Promise<KeybrokerError> {
  try {
    await fn()
  } catch (err) {
    return toStorageError(err, 'test')
  }
  throw new Error('expected a failure')
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  const settled = promise.then(
    () => true,
    () => true,
  )
  const result = await Promise.race([settled, late])
  clearTimeout(timer)
  return result
}

describe.skipIf(URL_ === undefined)('the PostgreSQL pool through connection faults', () => {
  let proxy: FaultProxy
  let database: Database | undefined

  beforeEach(async () => {
    const target = new URL(URL_ as string)
    proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) })
  })

  afterEach(async () => {
    proxy.resume()
    // close() must end by itself (pg-pool's end() waits for every checked-out connection).
    const closed = database === undefined ? true : await settlesWithin(database.close(), 10_000)
    database = undefined
    await proxy.close()
    expect(closed, 'database.close() did not return').toBe(true)
  })

  const open = (opts: { queryTimeoutMs?: number; closeTimeoutMs?: number } = {}) =>
    openDatabase({ databaseUrl: proxy.url(URL_ as string), maxConnections: 1, connectTimeoutMs: 3_000, ...opts })

  it('a transaction whose BEGIN loses its connection gives the connection back', async () => {
    database = await open()
    const db = database.db
    proxy.dropOn('begin')
    const err = await failure(() => db.transaction(async (tx) => tx.execute(sql`select 1`)))
    expect(err.code).toBe('not-ready')
    // Nothing is left checked out: the broken connection was destroyed, not leaked.
    expect(database.poolStats?.()).toMatchObject({ total: 0, idle: 0 })
    // With one connection in the pool, a leaked one would make this wait for a connection and fail.
    expect(await db.transaction(async (tx) => executeRows(tx, sql`select 2 as two`))).toEqual([{ two: 2 }])
    expect(database.poolStats?.()).toMatchObject({ total: 1, idle: 1 })
  })

  it('a transaction that loses its connection inside fails not-ready and gives the connection back', async () => {
    database = await open()
    const db = database.db
    proxy.dropOn('select 3')
    const err = await failure(() =>
      db.transaction(async (tx) => {
        await tx.execute(sql`select 3`)
      }),
    )
    expect(err.code).toBe('not-ready')
    expect(database.poolStats?.()).toMatchObject({ total: 0 })
    expect(await executeRows(db, sql`select 4 as four`)).toEqual([{ four: 4 }])
  })

  it('a server that goes silent fails queries and transactions not-ready, and the pool recovers', async () => {
    database = await open({ queryTimeoutMs: 500 })
    const db = database.db
    await database.ping()
    proxy.silence()
    // BEGIN on the pooled connection gets no answer.
    expect((await failure(() => db.transaction(async (tx) => tx.execute(sql`select 1`)))).code).toBe('not-ready')
    expect(database.poolStats?.()).toMatchObject({ total: 0 })
    expect((await failure(() => database!.ping())).code).toBe('not-ready')
    proxy.resume()
    expect(await db.transaction(async (tx) => executeRows(tx, sql`select 5 as five`))).toEqual([{ five: 5 }])
  })

  it('a statement over the bound is cancelled by the server (not-ready) and the connection stays usable', async () => {
    database = await open({ queryTimeoutMs: 300 })
    const db = database.db
    const err = await failure(() => db.execute(sql`select pg_sleep(5)`))
    expect(err.code).toBe('not-ready')
    expect(await executeRows(db, sql`select 6 as six`)).toEqual([{ six: 6 }])
    expect(database.poolStats?.()).toMatchObject({ total: 1, idle: 1 })
  })

  it('close() returns while a connection is still checked out, and that transaction fails', async () => {
    database = await open({ closeTimeoutMs: 300 })
    const db = database.db
    let letGo: () => void = () => {}
    const held = new Promise<void>((resolve) => (letGo = resolve))
    let entered: () => void = () => {}
    const inside = new Promise<void>((resolve) => (entered = resolve))
    const tx = db.transaction(async (t) => {
      entered()
      await held
      await t.execute(sql`select 7`)
    })
    const outcome = tx.then(
      () => 'committed',
      () => 'failed',
    )
    await inside
    await database.close()
    letGo()
    expect(await outcome).toBe('failed')
  })
})
