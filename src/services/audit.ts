import type { JsonValue } from '../evidence/index.js'
import { appendAuditEntry, listAuditEntries, verifyAuditChain, type Executor } from '../storage/index.js'
import { actorOf, type AdminPrincipal } from './admin-tokens.js'
import type { Services } from './services.js'

/** Appends the audit entry of an admin change inside the change's own transaction. */
export async function auditAdminChange(
  tx: Executor,
  s: Pick<Services, 'now'>,
  by: AdminPrincipal,
  action: string,
  subject: string,
  detail: Record<string, JsonValue>,
): Promise<void> {
  await appendAuditEntry(tx, { at: s.now(), actor: actorOf(by), action, subject, outcome: 'ok', detail })
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

export async function verifyAudit(s: Pick<Services, 'database'>): Promise<{ ok: boolean; entries: number; firstBadId?: string; reason?: string }> {
  const result = await verifyAuditChain(s.database.db)
  return result.ok
    ? { ok: true, entries: result.entries }
    : { ok: false, entries: result.entries, firstBadId: String(result.firstBadId), reason: result.reason }
}
