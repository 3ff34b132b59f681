/**
 * The append-only, keyed hash chain of the audit log. Appends are serialized across replicas by a
 * row lock on the one `audit_head` row; each entry links to the previous one by an HMAC under the
 * audit key (src/audit/chain.ts, format 2). Signed checkpoints of the head live beside it.
 */
import { and, asc, desc, eq, gt, lte, sql } from 'drizzle-orm'
import { GENESIS_HASH, KEYED_AUDIT_FORMAT, canonicalJson, computeAuditHash, computeAuditMac, type AuditDetail, type AuditKey } from '../audit/chain.js'
import { KeybrokerError } from '../errors.js'
import type { Db, Executor } from './db.js'
import { runPrepared, type PreparedStatement } from './prepared.js'
import { auditCheckpoints, auditHead, auditKeys, auditLog, type AuditCheckpointRow, type AuditHeadRow, type AuditKeyRow } from './schema.js'
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
      readonly reason: AuditChainFailure
    }

export type AuditChainFailure = 'hash-mismatch' | 'broken-link' | 'missing-entry' | 'head-mismatch'

/** Largest page `listAuditEntries` serves. */
export const MAX_AUDIT_PAGE = 1000

/**
 * Appends an entry and returns its id and hash. Locks `audit_head` FOR UPDATE, takes id =
 * last id + 1, computes the entry's HMAC under `key` linked to the last hash, inserts it and
 * moves the head — so concurrent appends from any replica form one unbroken chain.
 *
 * Call it with the transaction of the change being audited: the entry then commits or rolls back
 * with that change, and the head lock is held until that transaction ends (appends are serialized;
 * keep those transactions short). Called with the bare database it runs in its own transaction.
 *
 * `detail` is stored as its canonical JSON text, exactly what was hashed.
 *
 * @throws KeybrokerError `internal` when the head row is missing (database not migrated), the
 *   chain is not keyed yet (see {@link rekeyAuditChain}) or `detail` is not JSON; `not-ready` /
 *   `internal` on database failure.
 */
export async function appendAuditEntry(ex: Executor, key: AuditKey, entry: NewAuditEntry): Promise<{ id: number; hash: string }> {
  const [appended] = await appendAuditEntries(ex, key, [entry])
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
export function appendAuditEntries(ex: Executor, key: AuditKey, entries: readonly NewAuditEntry[]): Promise<{ id: number; hash: string }[]> {
  if (entries.length === 0) return Promise.resolve([])
  return guard('appendAuditEntries', () => ex.transaction(async (tx) => appendLocked(tx, key, await lockHead(tx), entries)))
}

async function lockHead(tx: Executor): Promise<AuditHeadRow> {
  const head = (await tx.select().from(auditHead).where(eq(auditHead.id, 1)).for('update'))[0]
  if (head === undefined) throw new KeybrokerError('internal', 'audit head row missing: database not migrated')
  return head
}

async function appendLocked(tx: Executor, key: AuditKey, head: AuditHeadRow, entries: readonly NewAuditEntry[]): Promise<{ id: number; hash: string }[]> {
  if (head.format !== KEYED_AUDIT_FORMAT) throw new KeybrokerError('internal', 'the audit chain is not keyed yet: start keybroker once to re-key it')
  const chained = chainEntries(key, head, entries)
  await tx.insert(auditLog).values(
    chained.map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      outcome: r.outcome,
      detail: sql`${r.detailJson}::jsonb`,
      prevHash: r.prevHash,
      hash: r.hash,
    })),
  )
  const last = chained[chained.length - 1]
  if (last !== undefined) await tx.update(auditHead).set({ lastId: last.id, lastHash: last.hash }).where(eq(auditHead.id, 1))
  return chained.map((r) => ({ id: r.id, hash: r.hash }))
}

interface ChainedEntry extends NewAuditEntry {
  readonly id: number
  readonly prevHash: string
  readonly hash: string
  /** `detail` as its canonical JSON text: what was hashed, and what is stored. */
  readonly detailJson: string
}

/** Numbers and links `entries` after `head`: id = last id + 1, HMAC under `key` over the previous hash. */
function chainEntries(key: AuditKey, head: AuditHeadState, entries: readonly NewAuditEntry[]): ChainedEntry[] {
  let { lastId: id, lastHash: prevHash } = head
  return entries.map((entry) => {
    id += 1
    const hash = computeAuditMac(key, prevHash, { ...entry, id })
    const row = { ...entry, id, prevHash, hash, detailJson: canonicalJson(entry.detail) }
    prevHash = hash
    return row
  })
}

/** The chain's head as an appender needs it: the last entry's id and hash. */
export interface AuditHeadState {
  readonly lastId: number
  readonly lastHash: string
}

/**
 * The group commit's append in one statement and one round trip: the head moves from `head` to
 * the batch's last entry only if it still is `head` (and the chain is keyed), and the entries are
 * inserted only if it moved. The UPDATE takes the head's row lock, so a concurrent append on
 * another replica either commits first (this one then matches no row: PostgreSQL re-checks the
 * WHERE on the row version that replica committed) or waits for this one. Same chain as
 * {@link appendAuditEntries}, with the head remembered by the caller instead of read under lock.
 */
const APPEND_AT_HEAD: PreparedStatement = {
  name: 'kb_audit_append_at_head',
  text: `with moved as (
    update audit_head set last_id = $3::bigint, last_hash = $4::text
    where id = 1 and last_id = $1::bigint and last_hash = $2::text and format = ${KEYED_AUDIT_FORMAT}
    returning 1),
  inserted as (
    insert into audit_log (id, at, actor, action, subject, outcome, detail, prev_hash, hash)
    select e.id, e.at, e.actor, e.action, e.subject, e.outcome, e.detail::jsonb, e.prev_hash, e.hash
    from jsonb_to_recordset($5::jsonb) as e(id bigint, at timestamptz, actor text, action text, subject text, outcome text, detail text, prev_hash text, hash text)
    where exists (select 1 from moved)
    returning 1)
  select (select count(*) from moved)::int as moved, (select count(*) from inserted)::int as inserted`,
}

/**
 * Appends `entries` (at least one) after `head` in one autocommitted statement: committed when
 * this resolves with the new head. Resolves `undefined`, writing nothing, when the head is no
 * longer `head` (another replica, or an admin change in its own transaction, appended since; or
 * the chain is not keyed): read the head again, or append with {@link appendAuditEntries}.
 *
 * Runs on the connection `db` was opened with (a prepared statement), never in a transaction:
 * for entries that are not part of a data change (src/services/audit-writer.ts).
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure (then whether the batch
 *   committed is unknown: read the head again before the next append).
 */
export async function appendAuditEntriesAtHead(
  db: Db,
  key: AuditKey,
  head: AuditHeadState,
  entries: readonly NewAuditEntry[],
): Promise<{ appended: { id: number; hash: string }[]; head: AuditHeadState } | undefined> {
  const chained = chainEntries(key, head, entries)
  const last = chained[chained.length - 1]
  if (last === undefined) return { appended: [], head }
  const records = chained.map((r) => ({
    id: r.id,
    at: r.at.toISOString(),
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    outcome: r.outcome,
    detail: r.detailJson,
    prev_hash: r.prevHash,
    hash: r.hash,
  }))
  const [row] = await runPrepared(db, APPEND_AT_HEAD, [head.lastId, head.lastHash, last.id, last.hash, JSON.stringify(records)])
  if (row?.['moved'] !== 1) return undefined
  if (row['inserted'] !== chained.length) throw new KeybrokerError('internal', 'audit append moved the head without inserting its entries')
  return { appended: chained.map((r) => ({ id: r.id, hash: r.hash })), head: { lastId: last.id, lastHash: last.hash } }
}

export type AuditRekeyResult =
  | { readonly status: 'keyed' }
  | { readonly status: 'rekeyed'; readonly entries: number; readonly legacyHeadHash: string; readonly entry: { id: number; hash: string } | undefined }
  | { readonly status: 'broken'; readonly verification: Extract<AuditChainVerification, { ok: false }> }

/**
 * Converts a format-1 chain (plain SHA-256, written before the audit key existed) to format 2
 * in one transaction under the head lock: verifies the old chain first (a broken one is left
 * untouched and reported, so re-keying never launders tampering), recomputes every link as an
 * HMAC under `key`, moves the head and, when there were entries, appends `entry(n, oldHead)`
 * recording the conversion. A keyed chain is left alone. Replicas starting together are safe:
 * the second one finds the chain keyed.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function rekeyAuditChain(
  ex: Executor,
  key: AuditKey,
  entry: (converted: { entries: number; legacyHeadHash: string }) => NewAuditEntry,
  opts: { pageSize?: number } = {},
): Promise<AuditRekeyResult> {
  const pageSize = opts.pageSize ?? 500
  return guard('rekeyAuditChain', () =>
    ex.transaction(async (tx): Promise<AuditRekeyResult> => {
      const head = await lockHead(tx)
      if (head.format === KEYED_AUDIT_FORMAT) return { status: 'keyed' }
      const legacy = await walkChain(tx, head, (prev, row) => computeAuditHash(prev, row), pageSize)
      if (!legacy.ok) return { status: 'broken', verification: legacy }
      let lastId = 0
      let prevHash = GENESIS_HASH
      for (;;) {
        const page = await tx.select().from(auditLog).where(and(gt(auditLog.id, lastId), lte(auditLog.id, head.lastId))).orderBy(asc(auditLog.id)).limit(pageSize)
        if (page.length === 0) break
        const values = page.map((row) => {
          const hash = computeAuditMac(key, prevHash, row)
          const v = sql`(${row.id}::bigint, ${prevHash}::text, ${hash}::text)`
          prevHash = hash
          lastId = row.id
          return v
        })
        await tx.execute(
          sql`UPDATE ${auditLog} SET prev_hash = v.p, hash = v.h FROM (VALUES ${sql.join(values, sql`, `)}) AS v(id, p, h) WHERE ${auditLog.id} = v.id`,
        )
        if (page.length < pageSize) break
      }
      const moved = { ...head, lastHash: prevHash, format: KEYED_AUDIT_FORMAT }
      await tx.update(auditHead).set({ lastHash: prevHash, format: KEYED_AUDIT_FORMAT }).where(eq(auditHead.id, 1))
      const converted = { entries: head.lastId, legacyHeadHash: head.lastHash }
      const appended = head.lastId === 0 ? undefined : (await appendLocked(tx, key, moved, [entry(converted)]))[0]
      return { status: 'rekeyed', ...converted, entry: appended }
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
 * carries the HMAC under `key` of its fields and that link (`hash-mismatch`; a format-1 chain, not
 * re-keyed yet, is checked with its plain SHA-256); finally the last entry must be the head's
 * (`head-mismatch`: a deleted tail, or a missing head row). Entries appended while this runs lie
 * beyond the head that was read and are not checked; their append commits together with the head
 * move, so everything up to the head read is committed and no race yields a false alarm.
 *
 * What this cannot see alone: a tail deleted together with a head moved back to an intact earlier
 * entry (only a signed checkpoint beyond it shows that), and a rewrite by someone holding the audit
 * key (only a checkpoint exported before shows that).
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure (not on tampering: that is
 *   the result).
 */
export function verifyAuditChain(ex: Executor, key: AuditKey, opts: { pageSize?: number } = {}): Promise<AuditChainVerification & { readonly head?: AuditHeadRow }> {
  return guard('verifyAuditChain', async () => {
    const pageSize = opts.pageSize ?? 500
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new KeybrokerError('bad-request', 'pageSize must be a positive integer')
    const head = (await ex.select().from(auditHead).where(eq(auditHead.id, 1)))[0]
    if (head === undefined) return { ok: false, entries: 0, firstBadId: 1, reason: 'head-mismatch' }
    const link = head.format === KEYED_AUDIT_FORMAT ? (prev: string, row: AuditEntry) => computeAuditMac(key, prev, row) : (prev: string, row: AuditEntry) => computeAuditHash(prev, row)
    return { ...(await walkChain(ex, head, link, pageSize)), head }
  })
}

async function walkChain(ex: Executor, head: AuditHeadRow, link: (prevHash: string, row: AuditEntry) => string, pageSize: number): Promise<AuditChainVerification> {
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
      if (link(lastHash, row) !== row.hash) return bad('hash-mismatch', row.id)
      lastId = row.id
      lastHash = row.hash
    }
    if (page.length < pageSize) break
  }
  if (lastId !== head.lastId || lastHash !== head.lastHash) {
    return { ok: false, entries: lastId, firstBadId: lastId + 1, reason: 'head-mismatch' }
  }
  return { ok: true, entries: lastId }
}

/** The entry with this id, or `undefined`. */
export function getAuditEntry(ex: Executor, id: number): Promise<AuditEntry | undefined> {
  return guard('getAuditEntry', async () => (await ex.select().from(auditLog).where(eq(auditLog.id, id)))[0])
}

/** The head row (last id, last hash, chain format), or `undefined` if missing. */
export function readAuditHead(ex: Executor): Promise<AuditHeadRow | undefined> {
  return guard('readAuditHead', async () => (await ex.select().from(auditHead).where(eq(auditHead.id, 1)))[0])
}

/** The sealed audit key with this id, or `undefined`. */
export function getAuditKeyRow(ex: Executor, id: number): Promise<AuditKeyRow | undefined> {
  return guard('getAuditKeyRow', async () => (await ex.select().from(auditKeys).where(eq(auditKeys.id, id)))[0])
}

/** Stores a sealed audit key unless one with its id exists (the first replica to start wins). */
export function insertAuditKeyRow(ex: Executor, row: AuditKeyRow): Promise<void> {
  return guard('insertAuditKeyRow', async () => {
    await ex.insert(auditKeys).values(row).onConflictDoNothing()
  })
}

/** Every sealed audit key (for re-wrapping under a new KEK). */
export function listAuditKeyRows(ex: Executor): Promise<AuditKeyRow[]> {
  return guard('listAuditKeyRows', () => ex.select().from(auditKeys).orderBy(asc(auditKeys.id)))
}

/** Replaces the envelope of an audit key (re-wrap under another KEK); the key bytes stay. */
export function updateAuditKeyEnvelope(ex: Executor, id: number, kekId: string, envelope: Uint8Array): Promise<void> {
  return guard('updateAuditKeyEnvelope', async () => {
    await ex.update(auditKeys).set({ kekId, envelope }).where(eq(auditKeys.id, id))
  })
}

/** Stores a signed checkpoint; returns it with its id. */
export function insertAuditCheckpoint(ex: Executor, cp: Omit<AuditCheckpointRow, 'id'>): Promise<AuditCheckpointRow> {
  return guard('insertAuditCheckpoint', async () => {
    const [row] = await ex.insert(auditCheckpoints).values(cp).returning()
    if (row === undefined) throw new KeybrokerError('internal', 'checkpoint insert returned nothing')
    return row
  })
}

/** Up to `limit` checkpoints with id greater than `after`, oldest first. */
export function listAuditCheckpoints(ex: Executor, opts: { after?: number; limit: number }): Promise<AuditCheckpointRow[]> {
  return guard('listAuditCheckpoints', () =>
    ex.select().from(auditCheckpoints).where(gt(auditCheckpoints.id, opts.after ?? 0)).orderBy(asc(auditCheckpoints.id)).limit(opts.limit),
  )
}

/** The newest checkpoint, or `undefined`. */
export function latestAuditCheckpoint(ex: Executor): Promise<AuditCheckpointRow | undefined> {
  return guard('latestAuditCheckpoint', async () => (await ex.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.id)).limit(1))[0])
}

function toId(value: bigint | number): number {
  const n = typeof value === 'bigint' ? Number(value) : value
  if (!Number.isSafeInteger(n) || n < 0) throw new KeybrokerError('bad-request', 'after must be a non-negative integer')
  return n
}
