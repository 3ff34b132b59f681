/**
 * The admin collateral store: values verifiers look up by `(kind, key)`. Generic over evidence
 * types; what a kind means and how its key is formed belongs to the verifier (for `snp-*`, see
 * `src/evidence/snp/collateral.ts`). Checking that a value is genuine is the caller's job
 * (`src/services/collateral-admin.ts`): these functions store and return bytes.
 */
import { and, asc, eq, sql } from 'drizzle-orm'
import { createHash } from 'node:crypto'
import type { Executor } from './db.js'
import { collateral } from './schema.js'
import { guard } from './storage-error.js'

/** What a listing shows of a stored value: never the bytes. */
export interface CollateralInfo {
  readonly kind: string
  readonly key: string
  /** SHA-256 of the bytes, lowercase hex. */
  readonly sha256: string
  readonly size: number
  readonly uploadedAt: Date
  readonly uploadedBy: string
  readonly notAfter: Date | null
}

export interface NewCollateral {
  readonly kind: string
  readonly key: string
  readonly bytes: Uint8Array
  readonly uploadedAt: Date
  readonly uploadedBy: string
  readonly notAfter: Date | null
}

/**
 * Stores `value` under `(kind, key)`, replacing what was there (a newer CRL or VCEK replaces
 * the old one). Returns the SHA-256 of the bytes and that of the value it replaced, if any.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function putCollateral(ex: Executor, value: NewCollateral): Promise<{ sha256: string; replacedSha256: string | undefined }> {
  return guard('putCollateral', async () => {
    const sha256 = createHash('sha256').update(value.bytes).digest('hex')
    return ex.transaction(async (tx) => {
      const previous = await tx
        .select({ sha256: collateral.sha256 })
        .from(collateral)
        .where(and(eq(collateral.kind, value.kind), eq(collateral.key, value.key)))
        .for('update')
      const row = { ...value, sha256 }
      await tx
        .insert(collateral)
        .values(row)
        .onConflictDoUpdate({
          target: [collateral.kind, collateral.key],
          set: { bytes: row.bytes, sha256, uploadedAt: row.uploadedAt, uploadedBy: row.uploadedBy, notAfter: row.notAfter },
        })
      return { sha256, replacedSha256: previous[0]?.sha256 }
    })
  })
}

/**
 * The bytes stored under `(kind, key)`, or `undefined`. One primary-key lookup: the
 * attestation hot path.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getCollateral(ex: Executor, kind: string, key: string): Promise<Uint8Array | undefined> {
  return guard('getCollateral', async () => {
    const rows = await ex
      .select({ bytes: collateral.bytes })
      .from(collateral)
      .where(and(eq(collateral.kind, kind), eq(collateral.key, key)))
    return rows[0]?.bytes
  })
}

/**
 * Every stored value (of `kind`, when given) without its bytes, ordered by kind and key (byte
 * order on both engines).
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function listCollateral(ex: Executor, kind?: string): Promise<CollateralInfo[]> {
  return guard('listCollateral', async () => {
    const rows = await ex
      .select({
        kind: collateral.kind,
        key: collateral.key,
        sha256: collateral.sha256,
        size: sql<number>`octet_length(${collateral.bytes})`.mapWith(Number),
        uploadedAt: collateral.uploadedAt,
        uploadedBy: collateral.uploadedBy,
        notAfter: collateral.notAfter,
      })
      .from(collateral)
      .where(kind === undefined ? undefined : eq(collateral.kind, kind))
      .orderBy(asc(sql`${collateral.kind} collate "C"`), asc(sql`${collateral.key} collate "C"`))
    return rows
  })
}

/**
 * Deletes `(kind, key)`. Returns its SHA-256 when it existed, `undefined` otherwise.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function deleteCollateral(ex: Executor, kind: string, key: string): Promise<string | undefined> {
  return guard('deleteCollateral', async () => {
    const rows = await ex
      .delete(collateral)
      .where(and(eq(collateral.kind, kind), eq(collateral.key, key)))
      .returning({ sha256: collateral.sha256 })
    return rows[0]?.sha256
  })
}
