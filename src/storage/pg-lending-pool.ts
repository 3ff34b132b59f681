/**
 * The `pg` pool behind drizzle on PostgreSQL, made safe for connection faults. drizzle-orm 0.45's
 * node-postgres `transaction()` checks a client out of the pool and then:
 *
 * - runs `begin` *before* the try/finally that releases the client: when `begin` fails (the
 *   connection died while idle in the pool, a restart, `pg_terminate_backend`), the client is
 *   never released. The pool keeps counting it, and `pool.end()` (our `database.close()` at
 *   shutdown) waits for it forever;
 * - always releases without an error, so a client whose `rollback` failed on a connection that
 *   pg still thinks usable (a client-side query timeout) goes back into the pool, still inside the
 *   transaction or behind the statement that never answered.
 *
 * {@link LendingPool} lends each checked-out client as a {@link Lease} instead: the first query
 * that fails on a broken or unresponsive connection releases the client *with* that error at once
 * (pg-pool then destroys it), so whoever holds the lease, and whatever it forgets, the pool gets
 * its slot back. Any later query on the lease fails at once, except drizzle's `rollback`, which
 * resolves: the server rolls the transaction back when the connection closes, and the caller
 * keeps the error that actually failed it instead of the rollback's.
 */
import pg from 'pg'

/** A query error from a server that is still there: the statement failed, the session did not. */
function isStatementError(err: unknown): boolean {
  return err instanceof pg.DatabaseError && err.severity === 'ERROR'
}

/**
 * What drizzle's node-postgres session and our migrator use of a checked-out client: `query` and
 * `release`. Released exactly once; a broken connection is released with its error.
 */
export class Lease {
  readonly #client: pg.PoolClient
  #released = false

  constructor(client: pg.PoolClient) {
    this.#client = client
  }

  query(config: string | pg.QueryConfig, values?: readonly unknown[]): Promise<pg.QueryResult> {
    if (this.#released) {
      if (isRollback(config)) return Promise.resolve(emptyResult('ROLLBACK'))
      // The message pg gives for a client that lost its connection (mapped to `not-ready`).
      return Promise.reject(new Error('Client has encountered a connection error and is not queryable'))
    }
    return this.#client.query(config, values === undefined ? undefined : [...values]).catch((err: unknown) => {
      if (isStatementError(err)) throw err
      // Lost, terminated (FATAL), or timed out: this connection is done. Released now, because
      // the holder may never release it (drizzle after a failed `begin`).
      this.release(err instanceof Error ? err : new Error(String(err)))
      if (isRollback(config)) return emptyResult('ROLLBACK')
      throw err
    })
  }

  /**
   * Returns the client to the pool; with `err`, or when it is not idle outside a transaction
   * (a `rollback` that never ran), the pool destroys it instead of handing it out again.
   */
  release(err?: Error | boolean): void {
    if (this.#released) return
    this.#released = true
    const status = this.#client.getTransactionStatus()
    const broken = err === undefined || err === false ? (status === 'I' ? undefined : new Error(`released in transaction state ${String(status)}`)) : err
    this.#client.release(broken)
  }
}

function isRollback(config: string | pg.QueryConfig): boolean {
  const text = typeof config === 'string' ? config : config.text
  return text.trim().toLowerCase() === 'rollback'
}

function emptyResult(command: string): pg.QueryResult {
  return { command, rowCount: null, oid: 0, fields: [], rows: [] }
}

/**
 * A `pg.Pool` whose promise-style `connect()` (what drizzle's `transaction()` calls) lends a
 * {@link Lease}. The callback style, which `pool.query()` uses inside pg-pool, is unchanged:
 * pg-pool releases those clients itself, with the error.
 */
export class LendingPool extends pg.Pool {
  override connect(): Promise<pg.PoolClient>
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void
  override connect(
    callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): Promise<pg.PoolClient> | undefined {
    if (callback !== undefined) {
      super.connect(callback)
      return undefined
    }
    // drizzle only calls `query` and `release` on what it gets here (node-postgres/session.js).
    return super.connect().then((client) => new Lease(client) as unknown as pg.PoolClient)
  }
}
