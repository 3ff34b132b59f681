/**
 * Named, prepared SQL for the request hot path. drizzle builds a query's SQL text anew on every
 * call (about a third of the service's CPU per attestation before this existed); a statement here
 * is written once, and prepared once per connection: on PostgreSQL per pooled connection (pg's
 * named statements: Bind/Execute only after the first use), on PGlite once per instance
 * (src/storage/pglite-prepared.ts; PGlite's own `query()` parses and plans every call, at 3-4
 * times the CPU per call of the prepared statement: README "Benchmark").
 *
 * Only the connection a `Db` was opened with runs these; callers inside a transaction use the
 * drizzle functions instead.
 */
import { KeybrokerError } from '../errors.js'
import type { Db } from './db.js'
import type { RawRow } from './raw-rows.js'
import { guard } from './storage-error.js'

/** A statement: a unique name (pg and PGlite keep it prepared per connection under this name) and its text. */
export interface PreparedStatement {
  readonly name: string
  readonly text: string
}

type Runner = (statement: PreparedStatement, values: readonly unknown[]) => Promise<readonly unknown[]>

const runners = new WeakMap<Db, Runner>()

/** Called by `openDatabase` for the connection (pool or PGlite) behind `db`. */
export function registerPreparedRunner(db: Db, runner: Runner): void {
  runners.set(db, runner)
}

/**
 * Runs `statement` with `values` on the connection of `db`; its rows as plain records.
 *
 * @throws KeybrokerError `internal` for a `db` not opened by `openDatabase`; `not-ready` /
 *   `internal` / `conflict` as mapped by the storage error rules.
 */
export function runPrepared(db: Db, statement: PreparedStatement, values: readonly unknown[]): Promise<RawRow[]> {
  return guard(statement.name, async () => {
    const run = runners.get(db)
    if (run === undefined) throw new KeybrokerError('internal', `${statement.name}: not a database opened by openDatabase`)
    const rows: RawRow[] = []
    for (const row of await run(statement, values)) {
      if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new KeybrokerError('internal', `${statement.name}: row is not an object`)
      rows.push(Object.fromEntries(Object.entries(row)))
    }
    return rows
  })
}
