/**
 * Raw SQL for the rare query drizzle's builder cannot express (and for tests that inspect rows).
 *
 * On the common `Db` type `execute()` returns `unknown`: its result type is engine-specific
 * (pg `QueryResult`, PGlite `Results`). Both carry `rows`; this checks that at runtime instead of
 * casting.
 */
import type { SQL } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { Executor } from './db.js'
import { guard } from './storage-error.js'

export type RawRow = Readonly<Record<string, unknown>>

/**
 * Runs `query` and returns its rows as plain column-name → value records (values as the driver
 * decodes them: e.g. `bytea` is a `Buffer` on pg and a `Uint8Array` on PGlite).
 *
 * @throws KeybrokerError `internal` when the driver result has no rows array or the query fails;
 *   `conflict` / `not-ready` as mapped by the storage error rules.
 */
export function executeRows(ex: Executor, query: SQL): Promise<RawRow[]> {
  return guard('executeRows', async () => {
    const result: unknown = await ex.execute(query)
    if (typeof result !== 'object' || result === null || !('rows' in result) || !Array.isArray(result.rows)) {
      throw new KeybrokerError('internal', 'executeRows: driver result has no rows')
    }
    const rows: RawRow[] = []
    for (const row of result.rows) {
      if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new KeybrokerError('internal', 'executeRows: row is not an object')
      rows.push(Object.fromEntries(Object.entries(row)))
    }
    return rows
  })
}
