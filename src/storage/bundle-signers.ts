/** Trust anchors for signed bundles, and the last imported version of each bundle (rollback). */
import { asc, eq, sql } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { Executor } from './db.js'
import { bundleImports, bundleSigners, type SignerFormatName } from './schema.js'
import { guard } from './storage-error.js'

export interface BundleSignerRow {
  readonly fingerprint: string
  readonly label: string
  readonly format: SignerFormatName
  /** SPKI PEM. */
  readonly publicKey: string
  readonly createdAt: Date
  readonly createdBy: string
}

export interface BundleImportRow {
  readonly bundle: string
  readonly version: number
  readonly digest: string
  readonly signer: string
  readonly signedAt: Date
  readonly importedAt: Date
  readonly importedBy: string
}

/**
 * Registers a signer.
 * @throws KeybrokerError `conflict` when the key is registered already; `not-ready` / `internal`.
 */
export function insertBundleSigner(ex: Executor, row: BundleSignerRow): Promise<BundleSignerRow> {
  return guard('insertBundleSigner', async () => {
    const rows = await ex.insert(bundleSigners).values({ ...row }).onConflictDoNothing({ target: bundleSigners.fingerprint }).returning()
    const created = rows[0]
    if (created === undefined) throw new KeybrokerError('conflict', `signer ${row.fingerprint} is registered already`)
    return created
  })
}

/** @throws KeybrokerError `not-ready` / `internal` on database failure. */
export function listBundleSigners(ex: Executor, format?: SignerFormatName): Promise<BundleSignerRow[]> {
  return guard('listBundleSigners', () =>
    ex
      .select()
      .from(bundleSigners)
      .where(format === undefined ? undefined : eq(bundleSigners.format, format))
      .orderBy(asc(sql`${bundleSigners.label} collate "C"`), asc(bundleSigners.fingerprint)),
  )
}

/** @throws KeybrokerError `not-ready` / `internal` on database failure. */
export function getBundleSigner(ex: Executor, fingerprint: string): Promise<BundleSignerRow | undefined> {
  return guard('getBundleSigner', async () => (await ex.select().from(bundleSigners).where(eq(bundleSigners.fingerprint, fingerprint)))[0])
}

/**
 * Removes a signer; values it imported keep their provenance. Returns `false` when unknown.
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function deleteBundleSigner(ex: Executor, fingerprint: string): Promise<boolean> {
  return guard('deleteBundleSigner', async () => {
    const rows = await ex.delete(bundleSigners).where(eq(bundleSigners.fingerprint, fingerprint)).returning({ f: bundleSigners.fingerprint })
    return rows.length === 1
  })
}

/**
 * The last import of bundle `bundle`, locked until the transaction ends (so that two concurrent
 * imports of one bundle are checked for rollback one after the other).
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function lockBundleImport(ex: Executor, bundle: string): Promise<BundleImportRow | undefined> {
  return guard('lockBundleImport', async () => (await ex.select().from(bundleImports).where(eq(bundleImports.bundle, bundle)).for('update'))[0])
}

/** Records (or advances) the last import of a bundle. */
export function recordBundleImport(ex: Executor, row: BundleImportRow): Promise<void> {
  return guard('recordBundleImport', async () => {
    await ex
      .insert(bundleImports)
      .values({ ...row })
      .onConflictDoUpdate({
        target: bundleImports.bundle,
        set: { version: row.version, digest: row.digest, signer: row.signer, signedAt: row.signedAt, importedAt: row.importedAt, importedBy: row.importedBy },
      })
  })
}

/** @throws KeybrokerError `not-ready` / `internal` on database failure. */
export function listBundleImports(ex: Executor): Promise<BundleImportRow[]> {
  return guard('listBundleImports', () => ex.select().from(bundleImports).orderBy(asc(sql`${bundleImports.bundle} collate "C"`)))
}
