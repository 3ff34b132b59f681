import { describeError } from '../log/logger.js'
import { deleteExpiredNonces } from '../storage/index.js'
import type { Services } from './services.js'

/**
 * Deletes single-use rows of nonces that have expired: an expired nonce is refused by its MAC'd
 * expiry alone, so its row is no longer needed. Safe on every replica at once.
 */
export async function purgeExpiredNonces(s: Pick<Services, 'database' | 'now'>): Promise<number> {
  return deleteExpiredNonces(s.database.db, s.now())
}

/** Runs the purge every `intervalMs` until stopped; failures are logged, never thrown. */
export function scheduleMaintenance(s: Services, intervalMs = 10 * 60_000): { stop(): void } {
  const timer = setInterval(() => {
    purgeExpiredNonces(s).then(
      (n) => s.log.debug('expired nonces purged', { count: n }),
      (err: unknown) => s.log.warn('nonce purge failed', { error: describeError(err) }),
    )
  }, intervalMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
