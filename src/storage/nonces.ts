/** Single use of attestation nonces, shared by every replica through the `used_nonces` key. */
import { sql } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { Database, Db, Executor } from './db.js'
import { executeRows } from './raw-rows.js'
import { runPrepared, type PreparedStatement } from './prepared.js'
import { auditHead, usedNonces } from './schema.js'
import { guard } from './storage-error.js'

/**
 * Records that nonce `nonceId` has been used at `now`. Returns `true` for the first use and
 * `false` when any replica has already recorded it — atomically (INSERT … ON CONFLICT DO
 * NOTHING), so of two concurrent calls exactly one gets `true`, and a repeat does not abort the
 * caller's transaction. Checking the nonce's MAC and expiry is the caller's job; `expiresAt` only
 * tells {@link deleteExpiredNonces} when the row may go.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function consumeNonce(ex: Executor, nonceId: string, expiresAt: Date, now: Date): Promise<boolean> {
  return guard('consumeNonce', async () => {
    const rows = await ex
      .insert(usedNonces)
      .values({ nonceId, expiresAt, usedAt: now })
      .onConflictDoNothing({ target: usedNonces.nonceId })
      .returning({ nonceId: usedNonces.nonceId })
    return rows.length === 1
  })
}

/** Rows a purge statement deletes at most: each statement stays short under `serve`'s statement timeout. */
export const NONCE_PURGE_BATCH = 5_000

/**
 * Deletes the records of nonces that expired strictly before `now` (they can no longer pass the
 * expiry check, so forgetting them cannot re-enable them), `batch` rows per statement until none
 * is left: at a high attestation rate ten minutes leave hundreds of thousands of rows, and one
 * statement for all of them could outlast `serve`'s 5 s statement timeout and fail at every
 * run. Each statement commits on its own, so a purge that fails half-way keeps what it did.
 * Only the count comes back, never the deleted keys. Returns how many were deleted.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export async function deleteExpiredNonces(ex: Executor, now: Date, batch = NONCE_PURGE_BATCH): Promise<number> {
  if (!Number.isSafeInteger(batch) || batch < 1) throw new RangeError(`deleteExpiredNonces: batch must be a positive integer, got ${batch}`)
  let total = 0
  for (;;) {
    const [row] = await executeRows(
      ex,
      sql`with gone as (
            delete from ${usedNonces} where ${usedNonces.nonceId} in (
              select ${usedNonces.nonceId} from ${usedNonces} where ${usedNonces.expiresAt} < ${now.toISOString()}::timestamptz limit ${batch})
            returning 1)
          select count(*)::int as n from gone`,
    )
    const deleted = row?.['n']
    if (typeof deleted !== 'number') throw new KeybrokerError('internal', 'deleteExpiredNonces: no count in the answer')
    total += deleted
    if (deleted < batch) return total
  }
}

/**
 * On the embedded PGlite, `VACUUM`s the two tables every request churns: `used_nonces` (a row
 * inserted per attestation, deleted by the purge) and `audit_head` (updated by every audit
 * append). PGlite runs PostgreSQL in single-user mode, where no autovacuum ever runs: without
 * this the nonce table's primary key index keeps an entry for every nonce ever used (~8 MB per
 * 100,000 attestations, measured) and the deleted rows' space is never marked reusable.
 * PostgreSQL's own autovacuum does this for a server, so there it does nothing and returns false.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export async function vacuumChurnedTables(database: Pick<Database, 'db' | 'engine'>): Promise<boolean> {
  if (database.engine !== 'pglite') return false
  await executeRows(database.db, sql`vacuum ${usedNonces}, ${auditHead}`)
  return true
}

/** The nonce's row and the release generation in one statement, so in one snapshot and one round trip. */
const CONSUME_NONCE_READ_GENERATION: PreparedStatement = {
  name: 'kb_consume_nonce_read_generation',
  text: `with used as (
    insert into used_nonces (nonce_id, expires_at, used_at) values ($1, $2::timestamptz, $3::timestamptz)
    on conflict (nonce_id) do nothing returning nonce_id)
  select (select count(*) from used)::int as fresh,
         (select generation::text from release_generation where id = 1) as generation`,
}

/**
 * {@link consumeNonce}, and in the same statement the release generation (the counter raised by
 * every change to secrets, policies, reference values, sealing keys and the disk deny-list): the
 * state of those tables that a request may rely on is the one at this statement, the first thing
 * the request asks of the database. `generation` is `null` only if the counter row is missing.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export async function consumeNonceReadingGeneration(
  db: Db,
  nonceId: string,
  expiresAt: Date,
  now: Date,
): Promise<{ readonly fresh: boolean; readonly generation: bigint | null }> {
  const [row] = await runPrepared(db, CONSUME_NONCE_READ_GENERATION, [nonceId, expiresAt.toISOString(), now.toISOString()])
  const generation = row?.['generation']
  return { fresh: row?.['fresh'] === 1, generation: typeof generation === 'string' ? BigInt(generation) : null }
}
