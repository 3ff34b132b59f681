import type { AuditKey } from '../audit/index.js'
import type { AuditHeadState, Database, NewAuditEntry } from '../storage/index.js'
import { appendAuditEntries, appendAuditEntriesAtHead, readAuditHead } from '../storage/index.js'

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
 *
 * A batch is one statement and one round trip (`appendAuditEntriesAtHead`): the writer remembers
 * the head its last batch left and appends after it, on the condition that the head is still
 * there. When another replica or an admin change moved it, the writer reads the head and tries
 * once more, then falls back to the locking transaction (`appendAuditEntries`), which cannot miss.
 * After a database error the remembered head is forgotten (the batch may or may not have
 * committed).
 */
export class AuditWriter {
  readonly #database: Database
  readonly #key: AuditKey
  #pending: Pending[] = []
  #flushing = false
  #head: AuditHeadState | undefined

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
          await this.#append(batch.map((p) => p.entry))
          for (const p of batch) p.resolve()
        } catch (err) {
          this.#head = undefined
          for (const p of batch) p.reject(err)
        }
      }
    } finally {
      this.#flushing = false
    }
  }

  async #append(entries: readonly NewAuditEntry[]): Promise<void> {
    const db = this.#database.db
    for (let attempt = 0; attempt < 2; attempt++) {
      const head = this.#head ?? (await readAuditHead(db))
      if (head === undefined) break
      const done = await appendAuditEntriesAtHead(db, this.#key, head, entries)
      if (done !== undefined) {
        this.#head = done.head
        return
      }
      this.#head = undefined
    }
    const appended = await appendAuditEntries(db, this.#key, entries)
    const last = appended[appended.length - 1]
    this.#head = last === undefined ? undefined : { lastId: last.id, lastHash: last.hash }
  }
}
