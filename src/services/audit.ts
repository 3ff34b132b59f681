import { KEYED_AUDIT_FORMAT } from '../audit/index.js'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/index.js'
import { checkCheckpoints, latestStoredCheckpoint, verifyCheckpointJws, writeAuditCheckpoint, type CheckpointPayload, type CheckpointView } from './audit-checkpoints.js'
import { appendAuditEntry, listAuditEntries, verifyAuditChain, type Executor } from '../storage/index.js'
import { actorOf, type AdminPrincipal } from './admin-tokens.js'
import type { Services } from './services.js'

/** Appends the audit entry of an admin change inside the change's own transaction. */
export async function auditAdminChange(
  tx: Executor,
  s: Pick<Services, 'now' | 'auditKey'>,
  by: AdminPrincipal,
  action: string,
  subject: string,
  detail: Record<string, JsonValue>,
): Promise<void> {
  await appendAuditEntry(tx, s.auditKey, { at: s.now(), actor: actorOf(by), action, subject, outcome: 'ok', detail })
}

export interface AuditPage {
  readonly entries: {
    id: string
    at: string
    actor: string
    action: string
    subject: string
    outcome: string
    detail: Record<string, unknown>
    prevHash: string
    hash: string
  }[]
  readonly next?: string
}

/** Entries after `after`, oldest first; `next` is the cursor for the following page. */
export async function listAudit(s: Services, after: bigint | undefined, limit: number): Promise<AuditPage> {
  const rows = await listAuditEntries(s.database.db, { after, limit })
  const entries = rows.map((r) => ({
    id: String(r.id),
    at: r.at.toISOString(),
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    outcome: r.outcome,
    detail: r.detail,
    prevHash: r.prevHash,
    hash: r.hash,
  }))
  const last = entries.at(-1)
  return entries.length === limit && last !== undefined ? { entries, next: last.id } : { entries }
}

export interface AuditVerificationView {
  readonly ok: boolean
  readonly entries: number
  /** `true` once the chain is an HMAC under the audit key (format 2). */
  readonly keyed: boolean
  readonly firstBadId?: string
  /** A chain failure (`hash-mismatch`, `broken-link`, `missing-entry`, `head-mismatch`) or a checkpoint one (`truncated`, `checkpoint-mismatch`, `checkpoint-invalid`). */
  readonly reason?: string
  /** Checkpoints compared with the chain: the newest stored one and every exported one given. */
  readonly checkpoints: { readonly checked: number; readonly latestHeadId?: string; readonly failedAt?: string }
}

/**
 * Verifies the keyed chain (see `verifyAuditChain`), then the checkpoints: the newest one stored
 * in the database and every `exported` JWS (kept outside the database by the operator). Every
 * exported checkpoint must carry a valid signature of this service's token key.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export async function verifyAudit(s: Pick<Services, 'database' | 'auditKey' | 'keys'>, exported: readonly string[] = []): Promise<AuditVerificationView> {
  const result = await verifyAuditChain(s.database.db, s.auditKey)
  const keyed = result.head?.format === KEYED_AUDIT_FORMAT
  if (!result.ok) return { ok: false, keyed, entries: result.entries, firstBadId: String(result.firstBadId), reason: result.reason, checkpoints: { checked: 0 } }
  const head = result.head
  const payloads: CheckpointPayload[] = []
  for (const jws of exported) {
    try {
      payloads.push(await verifyCheckpointJws(jws, s.keys))
    } catch {
      return { ok: false, keyed, entries: result.entries, reason: 'checkpoint-invalid', checkpoints: { checked: payloads.length } }
    }
  }
  const stored = await latestStoredCheckpoint(s)
  if (stored !== undefined && 'invalid' in stored) {
    return { ok: false, keyed, entries: result.entries, reason: 'checkpoint-invalid', checkpoints: { checked: payloads.length } }
  }
  if (stored !== undefined) payloads.push(stored)
  const latest = payloads.reduce<CheckpointPayload | undefined>((a, b) => (a === undefined || b.headId > a.headId ? b : a), undefined)
  const checkpoints = { checked: payloads.length, ...(latest === undefined ? {} : { latestHeadId: String(latest.headId) }) }
  if (head === undefined) return { ok: true, keyed, entries: result.entries, checkpoints }
  const checked = await checkCheckpoints(s.database.db, head, payloads)
  if (!checked.ok) {
    return { ok: false, keyed, entries: result.entries, firstBadId: String(Math.min(checked.headId, head.lastId + 1)), reason: checked.reason, checkpoints: { ...checkpoints, failedAt: String(checked.headId) } }
  }
  return { ok: true, keyed, entries: result.entries, checkpoints }
}

/**
 * `POST /admin/v1/audit/checkpoints`: signs and stores a checkpoint of the head now, and audits
 * that (the entry follows the head it names), in one transaction.
 */
export async function checkpointNow(s: Services, by: AdminPrincipal): Promise<CheckpointView> {
  return s.database.db.transaction(async (tx) => {
    const cp = await writeAuditCheckpoint(s, { ex: tx })
    if (cp === undefined) throw new KeybrokerError('internal', 'no checkpoint written')
    await auditAdminChange(tx, s, by, 'audit.checkpoint', cp.id, { headId: cp.headId, headHash: cp.headHash })
    return cp
  })
}
