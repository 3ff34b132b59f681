/**
 * The append-only, hash-chained audit log. Appends are serialized across replicas by a row lock
 * on the one `audit_head` row; each entry links to the previous one (src/audit/chain.ts).
 */
import { and, asc, eq, gt, lte, sql } from 'drizzle-orm'
import { GENESIS_HASH, canonicalJson, computeAuditHash, type AuditDetail } from '../audit/chain.js'
import { KeybrokerError } from '../errors.js'
import type { Executor } from './db.js'
import { auditHead, auditLog } from './schema.js'
import { guard } from './storage-error.js'

export interface NewAuditEntry {
  readonly at: Date
  /** Who: e.g. `admin:<token id>`, `attester:<instance id>`. */
  readonly actor: string
  /** What: e.g. `secret.create`, `secret.release`. */
  readonly action: string
  /** On what: e.g. the secret or set name. */
  readonly subject: string
  /** e.g. `success`, `denied`, `conflict`. */
  readonly outcome: string
  /** JSON only; never secret values, keys or raw evidence. */
  readonly detail: AuditDetail
}

export interface AuditEntry extends NewAuditEntry {
  readonly id: number
  readonly prevHash: string
  readonly hash: string
}

export type AuditChainVerification =
  | { readonly ok: true; readonly entries: number }
  | {
      readonly ok: false
      /** Entries verified intact before the first bad one. */
      readonly entries: number
      /** The first id at which the chain fails (for a missing entry: the id that is missing). */
      readonly firstBadId: number
      readonly reason: 'hash-mismatch' | 'broken-link' | 'missing-entry' | 'head-mismatch'
    }

/** Largest page `listAuditEntries` serves. */
export const MAX_AUDIT_PAGE = 1000

/**
 * Appends an entry and returns its id and hash. Locks `audit_head` FOR UPDATE, takes id =
 * last id + 1, hashes the entry linked to the last hash, inserts it and moves the head — so
 * concurrent appends from any replica form one unbroken chain.
 *
 * Call it with the transaction of the change being audited: the entry then commits or rolls back
 * with that change, and the head lock is held until that transaction ends (appends are serialized;
 * keep those transactions short). Called with the bare database it runs in its own transaction.
 *
 * `detail` is stored as its canonical JSON text, exactly what was hashed.
 *
 * @throws KeybrokerError `internal` when the head row is missing (database not migrated) or
 *   `detail` is not JSON; `not-ready` / `internal` on database failure.
 */
export async function appendAuditEntry(ex: Executor, entry: NewAuditEntry): Promise<{ id: number; hash: string }> {
  const [appended] = await appendAuditEntries(ex, [entry])
  if (appended === undefined) throw new KeybrokerError('internal', 'audit append returned nothing')
  return appended
}

/**
 * Appends several entries in order under one head lock, with one multi-row insert: the group
 * commit of concurrent requests (src/services/audit-writer.ts). Same chain and guarantees as
 * {@link appendAuditEntry}; an empty list does nothing.
 *
 * @throws as {@link appendAuditEntry}.
 */
export function appendAuditEntries(ex: Executor, entries: readonly NewAuditEntry[]): Promise<{ id: number; hash: string }[]> {
  if (entries.length === 0) return Promise.resolve([])
  return guard('appendAuditEntries', () =>
    ex.transaction(async (tx) => {
      const heads = await tx.select().from(auditHead).where(eq(auditHead.id, 1)).for('update')
      const head = heads[0]
      if (head === undefined) throw new KeybrokerError('internal', 'audit head row missing: database not migrated')
      let { lastId: id, lastHash: prevHash } = head
      const rows = entries.map((entry) => {
        id += 1
        const hash = computeAuditHash(prevHash, { ...entry, id })
        const row = {
          id,
          at: entry.at,
          actor: entry.actor,
          action: entry.action,
          subject: entry.subject,
          outcome: entry.outcome,
          detail: sql`${canonicalJson(entry.detail)}::jsonb`,
          prevHash,
          hash,
        }
        prevHash = hash
        return row
      })
      await tx.insert(auditLog).values(rows)
      await tx.update(auditHead).set({ lastId: id, lastHash: prevHash }).where(eq(auditHead.id, 1))
      return rows.map((r) => ({ id: r.id, hash: r.hash }))
    }),
  )
}

/**
 * Up to `limit` entries with id greater than `after` (default 0), ordered by id.
 *
 * @throws KeybrokerError `bad-request` when `limit` is not an integer in 1..{@link MAX_AUDIT_PAGE}
 *   or `after` is not a non-negative safe integer; `not-ready` / `internal` on database failure.
 */
export function listAuditEntries(ex: Executor, opts: { after?: bigint | number; limit: number }): Promise<AuditEntry[]> {
  return guard('listAuditEntries', async () => {
    const after = toId(opts.after ?? 0)
    if (!Number.isSafeInteger(opts.limit) || opts.limit < 1 || opts.limit > MAX_AUDIT_PAGE) {
      throw new KeybrokerError('bad-request', `limit must be an integer from 1 to ${MAX_AUDIT_PAGE}`)
    }
    return ex.select().from(auditLog).where(gt(auditLog.id, after)).orderBy(asc(auditLog.id)).limit(opts.limit)
  })
}

/**
 * Verifies the whole chain, reading `pageSize` entries at a time (never the whole table).
 *
 * Reads the head first and checks entries 1..head.lastId: each id is the previous + 1
 * (`missing-entry`, firstBadId = the missing id), links to the previous hash (`broken-link`) and
 * hashes to its stored hash (`hash-mismatch`); finally the last entry must be the head's
 * (`head-mismatch`: a deleted tail, or a missing head row). Entries appended while this runs lie
 * beyond the head that was read and are not checked; their append commits together with the head
 * move, so everything up to the head read is committed and no race yields a false alarm.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure (not on tampering: that is
 *   the result).
 */
export function verifyAuditChain(ex: Executor, opts: { pageSize?: number } = {}): Promise<AuditChainVerification> {
  return guard('verifyAuditChain', async () => {
    const pageSize = opts.pageSize ?? 500
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new KeybrokerError('bad-request', 'pageSize must be a positive integer')
    const head = (await ex.select().from(auditHead).where(eq(auditHead.id, 1)))[0]
    if (head === undefined) return { ok: false, entries: 0, firstBadId: 1, reason: 'head-mismatch' }
    let lastId = 0
    let lastHash = GENESIS_HASH
    for (;;) {
      const page = await ex
        .select()
        .from(auditLog)
        .where(and(gt(auditLog.id, lastId), lte(auditLog.id, head.lastId)))
        .orderBy(asc(auditLog.id))
        .limit(pageSize)
      for (const row of page) {
        const bad = (reason: 'hash-mismatch' | 'broken-link' | 'missing-entry', firstBadId: number): AuditChainVerification => ({
          ok: false,
          entries: lastId,
          firstBadId,
          reason,
        })
        if (row.id !== lastId + 1) return bad('missing-entry', lastId + 1)
        if (row.prevHash !== lastHash) return bad('broken-link', row.id)
        if (computeAuditHash(lastHash, row) !== row.hash) return bad('hash-mismatch', row.id)
        lastId = row.id
        lastHash = row.hash
      }
      if (page.length < pageSize) break
    }
    if (lastId !== head.lastId || lastHash !== head.lastHash) {
      return { ok: false, entries: lastId, firstBadId: lastId + 1, reason: 'head-mismatch' }
    }
    return { ok: true, entries: lastId }
  })
}

function toId(value: bigint | number): number {
  const n = typeof value === 'bigint' ? Number(value) : value
  if (!Number.isSafeInteger(n) || n < 0) throw new KeybrokerError('bad-request', 'after must be a non-negative integer')
  return n
}
