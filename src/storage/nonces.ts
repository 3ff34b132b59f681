/** Single use of attestation nonces, shared by every replica through the `used_nonces` key. */
import { lt } from 'drizzle-orm'
import type { Executor } from './db.js'
import { usedNonces } from './schema.js'
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

/**
 * Deletes the records of nonces that expired strictly before `now` (they can no longer pass the
 * expiry check, so forgetting them cannot re-enable them). Returns how many were deleted.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function deleteExpiredNonces(ex: Executor, now: Date): Promise<number> {
  return guard('deleteExpiredNonces', async () => {
    const rows = await ex.delete(usedNonces).where(lt(usedNonces.expiresAt, now)).returning({ nonceId: usedNonces.nonceId })
    return rows.length
  })
}
