/**
 * The admin side of the collateral store, generic over evidence types: storing values that a
 * type-specific check has accepted (`snp-collateral.ts`; TDX adds its own beside it), listing
 * them and deleting them, each change with its audit entry in the same transaction.
 */
import { KeybrokerError } from '../errors.js'
import { deleteCollateral, listCollateral, putCollateral, type CollateralInfo } from '../storage/index.js'
import { actorOf, type AdminPrincipal } from './admin-tokens.js'
import { auditAdminChange } from './audit.js'
import type { Services } from './services.js'

/** A value a type-specific check has verified (chains to a pinned root) and keyed. */
export interface VerifiedCollateral {
  readonly kind: string
  readonly key: string
  readonly bytes: Uint8Array
  /** Certificate notAfter or CRL nextUpdate. */
  readonly notAfter: Date | null
}

export interface CollateralView {
  readonly kind: string
  readonly key: string
  readonly sha256: string
  readonly size: number
  readonly uploadedAt: string
  readonly uploadedBy: string
  readonly notAfter: string | null
}

/** Stores `items` (replacing values under the same kind and key) with one audit entry each, atomically. */
export async function storeVerifiedCollateral(
  s: Pick<Services, 'database' | 'now' | 'collateral' | 'auditKey'>,
  items: readonly VerifiedCollateral[],
  by: AdminPrincipal,
): Promise<CollateralView[]> {
  const at = s.now()
  const uploadedBy = actorOf(by)
  const stored = await s.database.db.transaction(async (tx) => {
    const views: CollateralView[] = []
    for (const item of items) {
      const { sha256, replacedSha256 } = await putCollateral(tx, { ...item, uploadedAt: at, uploadedBy })
      await auditAdminChange(tx, s, by, 'collateral.upload', `${item.kind}:${item.key}`, {
        kind: item.kind,
        key: item.key,
        sha256,
        replacedSha256: replacedSha256 ?? null,
      })
      views.push({
        kind: item.kind,
        key: item.key,
        sha256,
        size: item.bytes.byteLength,
        uploadedAt: at.toISOString(),
        uploadedBy,
        notAfter: item.notAfter === null ? null : item.notAfter.toISOString(),
      })
    }
    return views
  })
  s.collateral.invalidate()
  return stored
}

export async function listCollateralViews(s: Pick<Services, 'database'>, kind?: string): Promise<CollateralView[]> {
  return (await listCollateral(s.database.db, kind)).map(toView)
}

/** Deletes one value with its audit entry. @throws `not-found` */
export async function removeCollateral(
  s: Pick<Services, 'database' | 'now' | 'collateral' | 'auditKey'>,
  kind: string,
  key: string,
  by: AdminPrincipal,
): Promise<void> {
  await s.database.db.transaction(async (tx) => {
    const sha256 = await deleteCollateral(tx, kind, key)
    if (sha256 === undefined) throw new KeybrokerError('not-found', `no collateral ${kind} ${key}`)
    await auditAdminChange(tx, s, by, 'collateral.delete', `${kind}:${key}`, { kind, key, sha256 })
  })
  s.collateral.invalidate()
}

function toView(info: CollateralInfo): CollateralView {
  return {
    kind: info.kind,
    key: info.key,
    sha256: info.sha256,
    size: info.size,
    uploadedAt: info.uploadedAt.toISOString(),
    uploadedBy: info.uploadedBy,
    notAfter: info.notAfter === null ? null : info.notAfter.toISOString(),
  }
}
