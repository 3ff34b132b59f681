/**
 * `keybroker kek …`: the key-encryption key lifecycle (README, "Key rotation").
 *
 *   kek status
 *       JSON: the current KEK id, the earlier ones configured, envelopes per kind and KEK id,
 *       how many are not yet under the current KEK, which earlier KEKs no envelope needs (they
 *       can be removed from KEYBROKER_KEK_PREVIOUS) and which needed KEKs are missing.
 *       Exit 0; 1 when an envelope's KEK is not configured.
 *   kek rewrap [--batch-size N] [--max-batches N]
 *       Re-seals every envelope not under the current KEK, N per transaction, each batch audited
 *       (`kek.rewrap`). Interrupted (or stopped by --max-batches), it continues where it stopped
 *       when run again. Exit 0 when every envelope is under the current KEK, 1 otherwise.
 *
 * Both read the KEK settings of the service (KEYBROKER_KEK or KEYBROKER_KEK_FILE, and
 * KEYBROKER_KEK_PREVIOUS / KEYBROKER_KEK_PREVIOUS_FILE) and its database. Usage errors exit 2.
 */
import type { Config } from '../config/config.js'
import { kekStatus, rewrapEnvelopes } from '../services/envelope-store.js'
import { loadKekRing } from '../services/kek-ring.js'
import { openAuditKey } from '../services/services.js'
import type { Database } from '../storage/index.js'
import { parseFlags, UsageError, type CliOutput } from './io.js'

export const KEK_USAGE = 'kek status | kek rewrap [--batch-size N] [--max-batches N]'

export async function kekCommand(
  config: Config,
  sub: string | undefined,
  args: readonly string[],
  out: CliOutput,
  openDatabase: (config: Config) => Promise<Database>,
): Promise<number> {
  try {
    if (sub === 'status') {
      parseFlags(args, {})
      const keks = await loadKekRing(config)
      const database = await openDatabase(config)
      try {
        const status = await kekStatus({ database, keks })
        out.stdout(`${JSON.stringify(status)}\n`)
        return status.unknown.length === 0 ? 0 : 1
      } finally {
        await database.close()
      }
    }
    if (sub === 'rewrap') {
      const { values } = parseFlags(args, { 'batch-size': { type: 'string' }, 'max-batches': { type: 'string' } })
      const batchSize = positive(values['batch-size'], '--batch-size', 100)
      const maxBatches = positive(values['max-batches'], '--max-batches', Number.POSITIVE_INFINITY)
      const keks = await loadKekRing(config)
      const database = await openDatabase(config)
      try {
        const auditKey = await openAuditKey(database, keks, new Date())
        const result = await rewrapEnvelopes(
          { database, keks, now: () => new Date(), auditKey },
          { batchSize, maxBatches, actor: 'cli', onBatch: (b) => out.stderr(`rewrapped ${b.rewrapped} ${b.kind} envelope(s)\n`) },
        )
        out.stdout(`${JSON.stringify(result)}\n`)
        if (result.failed.length > 0) {
          out.stderr(`keybroker: ${result.failed.length} envelope(s) open with no configured KEK; give their KEK in KEYBROKER_KEK_PREVIOUS\n`)
        }
        return result.complete ? 0 : 1
      } finally {
        await database.close()
      }
    }
    throw new UsageError(`unknown kek command; usage: keybroker ${KEK_USAGE}`)
  } catch (err) {
    if (err instanceof UsageError) {
      out.stderr(`keybroker: ${err.message}\n`)
      return 2
    }
    throw err
  }
}

function positive(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback
  if (!/^[1-9][0-9]{0,5}$/.test(text)) throw new UsageError(`${flag} must be a positive integer`)
  return Number(text)
}
