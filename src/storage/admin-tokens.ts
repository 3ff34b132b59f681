/** Admin API bearer tokens, stored as SHA-256 hashes with a role. */
import { and, asc, eq, isNull } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { Executor } from './db.js'
import { adminTokens, type AdminRole } from './schema.js'
import { guard } from './storage-error.js'

export interface NewAdminToken {
  readonly id: string
  /** Lowercase hex SHA-256 of the token (64 digits); the token itself is never stored. */
  readonly tokenHash: string
  readonly role: AdminRole
  readonly label: string
  readonly at: Date
}

/** What authentication needs to know about a presented, unrevoked token. */
export interface ActiveAdminToken {
  readonly id: string
  readonly role: AdminRole
  readonly label: string
}

/** A token as listed to admins: no hash. */
export interface AdminTokenInfo extends ActiveAdminToken {
  readonly createdAt: Date
  readonly revokedAt: Date | null
}

const TOKEN_HASH = /^[0-9a-f]{64}$/

const infoColumns = {
  id: adminTokens.id,
  role: adminTokens.role,
  label: adminTokens.label,
  createdAt: adminTokens.createdAt,
  revokedAt: adminTokens.revokedAt,
}

/**
 * Stores a new admin token (created at `token.at`).
 *
 * @throws KeybrokerError `conflict` when the id or the token hash already exists (the caller's
 *   transaction stays usable); `bad-request` when `tokenHash` is not 64 lowercase hex digits;
 *   `not-ready` / `internal` on database failure.
 */
export function insertAdminToken(ex: Executor, token: NewAdminToken): Promise<AdminTokenInfo> {
  return guard('insertAdminToken', async () => {
    if (!TOKEN_HASH.test(token.tokenHash)) throw new KeybrokerError('bad-request', 'token hash must be 64 lowercase hex digits')
    const rows = await ex
      .insert(adminTokens)
      .values({ id: token.id, tokenHash: token.tokenHash, role: token.role, label: token.label, createdAt: token.at })
      .onConflictDoNothing()
      .returning(infoColumns)
    const row = rows[0]
    if (row === undefined) throw new KeybrokerError('conflict', 'an admin token with this id or hash already exists')
    return row
  })
}

/**
 * The unrevoked token whose hash is `tokenHash`, or `undefined`. The lookup is by the unique
 * hash index, so the comparison happens on a digest, never on the token.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function findActiveAdminTokenByHash(ex: Executor, tokenHash: string): Promise<ActiveAdminToken | undefined> {
  return guard('findActiveAdminTokenByHash', async () => {
    const rows = await ex
      .select({ id: adminTokens.id, role: adminTokens.role, label: adminTokens.label })
      .from(adminTokens)
      .where(and(eq(adminTokens.tokenHash, tokenHash), isNull(adminTokens.revokedAt)))
      .limit(1)
    return rows[0]
  })
}

/**
 * Every admin token, revoked ones included, oldest first (ties by id). Hashes are not returned.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function listAdminTokens(ex: Executor): Promise<AdminTokenInfo[]> {
  return guard('listAdminTokens', () =>
    ex.select(infoColumns).from(adminTokens).orderBy(asc(adminTokens.createdAt), asc(adminTokens.id)),
  )
}

/**
 * Revokes token `id` at `at`. Returns `true` when this call revoked it, `false` when it does not
 * exist or was already revoked (the first revocation time is kept).
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function revokeAdminToken(ex: Executor, id: string, at: Date): Promise<boolean> {
  return guard('revokeAdminToken', async () => {
    const rows = await ex
      .update(adminTokens)
      .set({ revokedAt: at })
      .where(and(eq(adminTokens.id, id), isNull(adminTokens.revokedAt)))
      .returning({ id: adminTokens.id })
    return rows.length === 1
  })
}
