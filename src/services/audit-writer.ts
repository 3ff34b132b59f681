import type { AuditKey } from '../audit/index.js'
import type { Database, NewAuditEntry } from '../storage/index.js'
import { appendAuditEntries } from '../storage/index.js'

/** The most entries one group commit writes; more wait for the next round. */
const MAX_BATCH = 128

interface Pending {
  readonly entry: NewAuditEntry
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/**
 * Group commit for audit entries that are not part of a data change (attestations, releases,
 * denials). Every caller waits until its own entry is committed — nothing is released before
 * its audit entry is durable — but entries of concurrent requests share one transaction and one
 * lock of the chain head instead of queueing for it one by one. Admin changes do not use this:
 * they append inside their own transaction.
 */
export class AuditWriter {
  readonly #database: Database
  readonly #key: AuditKey
  #pending: Pending[] = []
  #flushing = false

  constructor(database: Database, key: AuditKey) {
    this.#database = database
    this.#key = key
  }

  /** Resolves once `entry` is committed; rejects if its batch could not be written. */
  append(entry: NewAuditEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ entry, resolve, reject })
      if (!this.#flushing) void this.#flush()
    })
  }

  async #flush(): Promise<void> {
    this.#flushing = true
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, MAX_BATCH)
        try {
          await appendAuditEntries(this.#database.db, this.#key, batch.map((p) => p.entry))
          for (const p of batch) p.resolve()
        } catch (err) {
          for (const p of batch) p.reject(err)
        }
      }
    } finally {
      this.#flushing = false
    }
  }
}
