import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { KeybrokerError } from '../errors.js'
import {
  appendAuditEntry,
  countActiveAdminTokens,
  findActiveAdminTokenByHash,
  findAdminTokenByHash,
  getAdminToken,
  insertAdminToken,
  listAdminTokens,
  revokeAdminToken,
  type AdminRole,
  type AdminTokenInfo,
} from '../storage/index.js'
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

/** An admin token as the API shows it: never the token or its hash. */
export interface AdminTokenView {
  readonly id: string
  readonly role: AdminRole
  readonly label: string
  readonly createdAt: string
  readonly expiresAt: string | null
  readonly revokedAt: string | null
}

export const MAX_LABEL_LENGTH = 200

/**
 * Creates a token for `role`; returns the plaintext once (it cannot be recovered later).
 * @throws KeybrokerError `bad-request` when `expiresAt` is not in the future or the label is too long
 */
export async function createAdminToken(
  s: Pick<Services, 'database' | 'now' | 'auditKey'>,
  role: AdminRole,
  label: string,
  actor: string,
  expiresAt?: Date,
): Promise<AdminTokenView & { token: string }> {
  const at = s.now()
  if (expiresAt !== undefined && !(expiresAt.getTime() > at.getTime())) throw new KeybrokerError('bad-request', 'expiresAt must be in the future')
  if (label.length > MAX_LABEL_LENGTH) throw new KeybrokerError('bad-request', `label: at most ${MAX_LABEL_LENGTH} characters`)
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`
  const id = randomUUID()
  let info: AdminTokenInfo | undefined
  await s.database.db.transaction(async (tx) => {
    info = await insertAdminToken(tx, { id, tokenHash: hashAdminToken(token), role, label, at, expiresAt: expiresAt ?? null })
    await appendAuditEntry(tx, s.auditKey, {
      at,
      actor,
      action: 'admin-token.create',
      subject: id,
      outcome: 'ok',
      detail: { role, label, expiresAt: expiresAt?.toISOString() ?? null },
    })
  })
  if (info === undefined) throw new KeybrokerError('internal', 'admin token was not written')
  return { ...toView(info), token }
}

function toView(t: AdminTokenInfo): AdminTokenView {
  return {
    id: t.id,
    role: t.role,
    label: t.label,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  }
}

/** Every token, revoked and expired ones included, oldest first. */
export async function listAdminTokenViews(s: Pick<Services, 'database'>): Promise<AdminTokenView[]> {
  return (await listAdminTokens(s.database.db)).map(toView)
}

/**
 * Revokes token `id` (`DELETE /admin/v1/tokens/{id}`): from the next request on it gets 401.
 * Revoking an already revoked token changes nothing. The rule for the last admin token: revoking
 * the only active (unrevoked, unexpired) admin token would leave nobody able to manage the
 * service through the API, so it is refused with `conflict` unless `force` is set; forced, the
 * next start logs how to create a first admin token again (offline CLI or bootstrap setting).
 * @throws KeybrokerError `not-found` for an unknown id, `conflict` for the last admin token
 */
export async function revokeAdminTokenById(
  s: Pick<Services, 'database' | 'now' | 'auditKey'>,
  id: string,
  actor: string,
  options: { readonly force?: boolean } = {},
): Promise<void> {
  const at = s.now()
  await s.database.db.transaction(async (tx) => {
    const token = await getAdminToken(tx, id)
    if (token === undefined) throw new KeybrokerError('not-found', 'no such admin token')
    if (token.revokedAt !== null) return
    const active = token.expiresAt === null || token.expiresAt.getTime() > at.getTime()
    if (token.role === 'admin' && active && options.force !== true && (await countActiveAdminTokens(tx, 'admin', at)) <= 1) {
      throw new KeybrokerError('conflict', 'this is the last active admin token; create another first, or revoke it with ?force=true')
    }
    if (!(await revokeAdminToken(tx, id, at))) return
    await appendAuditEntry(tx, s.auditKey, {
      at,
      actor,
      action: 'admin-token.revoke',
      subject: id,
      outcome: 'ok',
      detail: { role: token.role, label: token.label, force: options.force === true },
    })
  })
}

/** Whether some admin-role token is active now (start-up says how to create one otherwise). */
export async function hasActiveAdminToken(s: Pick<Services, 'database' | 'now'>): Promise<boolean> {
  return (await countActiveAdminTokens(s.database.db, 'admin', s.now())) > 0
}

/**
 * Registers the configured bootstrap token (role admin) unless a token with its hash exists:
 * `present` when it is registered and usable, `revoked` when an admin revoked it (it is never
 * registered again: revoking it is how an operator retires the bootstrap setting), `registered`
 * when this call added it.
 */
export async function ensureBootstrapAdminToken(s: Pick<Services, 'database' | 'now' | 'auditKey'>, token: string): Promise<'registered' | 'present' | 'revoked'> {
  const tokenHash = hashAdminToken(token)
  const existing = await findAdminTokenByHash(s.database.db, tokenHash)
  if (existing !== undefined) return existing.revokedAt === null ? 'present' : 'revoked'
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
  return 'registered'
}

/** The principal of an active token, or `undefined` for an unknown, revoked or expired one. */
export async function authenticateAdminToken(s: Pick<Services, 'database' | 'now'>, token: string): Promise<AdminPrincipal | undefined> {
  const row = await findActiveAdminTokenByHash(s.database.db, hashAdminToken(token), s.now())
  return row === undefined ? undefined : { id: row.id, role: row.role }
}

/** The audit actor name of an admin principal. */
export function actorOf(principal: AdminPrincipal): string {
  return `admin-token:${principal.id}`
}

/** The one start-up line logged when no admin token exists. */
export const NO_ADMIN_TOKEN_MESSAGE =
  'no admin token exists: create the first with `keybroker admin token create --offline --role admin` (on the embedded database while the service is stopped), or set KEYBROKER_BOOTSTRAP_ADMIN_TOKEN and restart'

/**
 * Admin access at start: registers the bootstrap token when configured (never again once
 * revoked), then, when no admin token is active, logs exactly one line saying how to create one.
 */
export async function prepareAdminAccess(s: Pick<Services, 'database' | 'now' | 'log' | 'auditKey'>, bootstrapToken: string | undefined): Promise<void> {
  if (bootstrapToken !== undefined) {
    const state = await ensureBootstrapAdminToken(s, bootstrapToken)
    if (state === 'registered') s.log.info('bootstrap admin token registered')
    else if (state === 'revoked') s.log.info('the bootstrap admin token (KEYBROKER_BOOTSTRAP_ADMIN_TOKEN) was revoked and is not registered again')
  }
  if (!(await hasActiveAdminToken(s))) s.log.warn(NO_ADMIN_TOKEN_MESSAGE)
}
