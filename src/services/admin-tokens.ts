import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { appendAuditEntry, findActiveAdminTokenByHash, insertAdminToken, type AdminRole } from '../storage/index.js'
import type { Services } from './services.js'

export type { AdminRole } from '../storage/index.js'

/** Who made an admin request: the token id (never the token) and its role. */
export interface AdminPrincipal {
  readonly id: string
  readonly role: AdminRole
}

const TOKEN_PREFIX = 'kb_admin_'

/**
 * Admin tokens are 32 random bytes; only their SHA-256 is stored. A fast hash is right here:
 * the tokens carry 256 bits of entropy, so there is nothing for a slow KDF to protect.
 */
export function hashAdminToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** Creates a token for `role`; returns the plaintext once (it cannot be recovered later). */
export async function createAdminToken(
  s: Pick<Services, 'database' | 'now' | 'auditKey'>,
  role: AdminRole,
  label: string,
  actor: string,
): Promise<{ id: string; token: string }> {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`
  const id = randomUUID()
  const at = s.now()
  await s.database.db.transaction(async (tx) => {
    await insertAdminToken(tx, { id, tokenHash: hashAdminToken(token), role, label, at })
    await appendAuditEntry(tx, s.auditKey, {
      at,
      actor,
      action: 'admin-token.create',
      subject: id,
      outcome: 'ok',
      detail: { role, label },
    })
  })
  return { id, token }
}

/** Registers the configured bootstrap token (role admin) unless a token with its hash exists. */
export async function ensureBootstrapAdminToken(s: Pick<Services, 'database' | 'now' | 'auditKey'>, token: string): Promise<boolean> {
  const tokenHash = hashAdminToken(token)
  if ((await findActiveAdminTokenByHash(s.database.db, tokenHash)) !== undefined) return false
  const id = randomUUID()
  const at = s.now()
  await s.database.db.transaction(async (tx) => {
    await insertAdminToken(tx, { id, tokenHash, role: 'admin', label: 'bootstrap (KEYBROKER_BOOTSTRAP_ADMIN_TOKEN)', at })
    await appendAuditEntry(tx, s.auditKey, {
      at,
      actor: 'config',
      action: 'admin-token.create',
      subject: id,
      outcome: 'ok',
      detail: { role: 'admin', label: 'bootstrap' },
    })
  })
  return true
}

/** The principal of an active token, or `undefined` for an unknown or revoked one. */
export async function authenticateAdminToken(s: Pick<Services, 'database'>, token: string): Promise<AdminPrincipal | undefined> {
  const row = await findActiveAdminTokenByHash(s.database.db, hashAdminToken(token))
  return row === undefined ? undefined : { id: row.id, role: row.role }
}

/** The audit actor name of an admin principal. */
export function actorOf(principal: AdminPrincipal): string {
  return `admin-token:${principal.id}`
}
