/** Admin API bearer tokens, stored as SHA-256 hashes with a role. */
import { and, asc, eq, gt, isNull, or } from 'drizzle-orm'
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
  /** null or absent: no expiry. */
  readonly expiresAt?: Date | null
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
  readonly expiresAt: Date | null
  readonly revokedAt: Date | null
}

const TOKEN_HASH = /^[0-9a-f]{64}$/

const infoColumns = {
  id: adminTokens.id,
  role: adminTokens.role,
  label: adminTokens.label,
  createdAt: adminTokens.createdAt,
  expiresAt: adminTokens.expiresAt,
  revokedAt: adminTokens.revokedAt,
}

/** Not revoked, and not expired at `now`. */
const activeAt = (now: Date) => and(isNull(adminTokens.revokedAt), or(isNull(adminTokens.expiresAt), gt(adminTokens.expiresAt, now)))

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
      .values({ id: token.id, tokenHash: token.tokenHash, role: token.role, label: token.label, createdAt: token.at, expiresAt: token.expiresAt ?? null })
      .onConflictDoNothing()
      .returning(infoColumns)
    const row = rows[0]
    if (row === undefined) throw new KeybrokerError('conflict', 'an admin token with this id or hash already exists')
    return row
  })
}

/**
 * The token whose hash is `tokenHash` if it is neither revoked nor expired at `now`, or
 * `undefined`. The lookup is by the unique hash index, so the comparison happens on a digest,
 * never on the token.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function findActiveAdminTokenByHash(ex: Executor, tokenHash: string, now: Date): Promise<ActiveAdminToken | undefined> {
  return guard('findActiveAdminTokenByHash', async () => {
    const rows = await ex
      .select({ id: adminTokens.id, role: adminTokens.role, label: adminTokens.label })
      .from(adminTokens)
      .where(and(eq(adminTokens.tokenHash, tokenHash), activeAt(now)))
      .limit(1)
    return rows[0]
  })
}

/**
 * The token whose hash is `tokenHash`, revoked or expired ones included (the bootstrap token
 * must not come back after its revocation).
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function findAdminTokenByHash(ex: Executor, tokenHash: string): Promise<AdminTokenInfo | undefined> {
  return guard('findAdminTokenByHash', async () => {
    const rows = await ex.select(infoColumns).from(adminTokens).where(eq(adminTokens.tokenHash, tokenHash)).limit(1)
    return rows[0]
  })
}

/** One token by id, or `undefined`. @throws KeybrokerError `not-ready` / `internal` on database failure. */
export function getAdminToken(ex: Executor, id: string): Promise<AdminTokenInfo | undefined> {
  return guard('getAdminToken', async () => {
    const rows = await ex.select(infoColumns).from(adminTokens).where(eq(adminTokens.id, id)).limit(1)
    return rows[0]
  })
}

/**
 * How many tokens of `role` are active (neither revoked nor expired) at `now`, locking them
 * (`FOR UPDATE`) when `ex` is a transaction, so that two concurrent revocations cannot both see
 * "another admin token remains".
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function countActiveAdminTokens(ex: Executor, role: AdminRole, now: Date): Promise<number> {
  return guard('countActiveAdminTokens', async () => {
    const rows = await ex.select({ id: adminTokens.id }).from(adminTokens).where(and(eq(adminTokens.role, role), activeAt(now))).for('update')
    return rows.length
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
