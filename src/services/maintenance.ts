import { describeError } from '../log/logger.js'
import { deleteExpiredNonces, vacuumChurnedTables } from '../storage/index.js'
import { writeAuditCheckpoint } from './audit-checkpoints.js'
import type { Services } from './services.js'

/**
 * Deletes single-use rows of nonces that have expired: an expired nonce is refused by its MAC'd
 * expiry alone, so its row is no longer needed. Safe on every replica at once. On the embedded
 * PGlite it then vacuums the tables requests churn (no autovacuum runs there).
 */
export async function purgeExpiredNonces(s: Pick<Services, 'database' | 'now'>): Promise<number> {
  const deleted = await deleteExpiredNonces(s.database.db, s.now())
  await vacuumChurnedTables(s.database)
  return deleted
}

/**
 * Runs the purge every `intervalMs`, and writes a signed audit checkpoint every
 * `config.audit.checkpointSeconds` when the head moved (0: none), until stopped; failures are
 * logged, never thrown. Replicas each write their own checkpoints; they are all valid.
 */
export function scheduleMaintenance(s: Services, intervalMs = 10 * 60_000): { stop(): void } {
  const timer = setInterval(() => {
    purgeExpiredNonces(s).then(
      (n) => s.log.debug('expired nonces purged', { count: n }),
      (err: unknown) => s.log.warn('nonce purge failed', { error: describeError(err) }),
    )
  }, intervalMs)
  timer.unref()
  const checkpointMs = s.config.audit.checkpointSeconds * 1000
  const checkpoints =
    checkpointMs === 0
      ? undefined
      : setInterval(() => {
          writeAuditCheckpoint(s, { onlyIfMoved: true }).then(
            (cp) => cp !== undefined && s.log.info('audit checkpoint', { id: cp.id, headId: cp.headId }),
            (err: unknown) => s.log.warn('audit checkpoint failed', { error: describeError(err) }),
          )
        }, checkpointMs)
  checkpoints?.unref()
  return {
    stop: () => {
      clearInterval(timer)
      if (checkpoints !== undefined) clearInterval(checkpoints)
    },
  }
}
