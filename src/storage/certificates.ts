/**
 * The attested CA's tables: CAs and their key versions (private keys only as envelopes sealed
 * in src/secrets/), certificate profiles, and every issued certificate with its revocation.
 */
import { and, asc, desc, eq, gt, isNotNull, isNull, sql } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { Executor } from './db.js'
import {
  caVersions,
  certificateAuthorities,
  certificateProfiles,
  issuedCertificates,
  type CaSource,
  type CertificateAuthorityRow,
  type CertificateProfileRow,
  type IssuedCertificateRow,
  type NewCertificateProfileRow,
  type NewIssuedCertificateRow,
} from './schema.js'
import { guard } from './storage-error.js'

/** One CA key, public side: what the API shows and what chains, CRL and OCSP need. */
export interface CaVersionInfo {
  readonly version: number
  readonly certificate: Uint8Array
  readonly chainPem: string
  readonly keyId: string
  readonly notAfter: Date
  readonly createdAt: Date
}

/** One CA key with its sealed private key, for signing. */
export interface CaVersionSecret extends CaVersionInfo {
  readonly kekId: string
  readonly envelope: Uint8Array
}

export interface CaMeta extends CertificateAuthorityRow {
  /** Ascending by version. */
  readonly versions: readonly CaVersionInfo[]
}

export interface NewCaVersion {
  readonly certificate: Uint8Array
  readonly chainPem: string
  readonly keyId: string
  readonly notAfter: Date
  readonly kekId: string
  readonly envelope: Uint8Array
}

export type CertificateProfile = CertificateProfileRow
export type NewCertificateProfile = Omit<NewCertificateProfileRow, 'createdAt' | 'updatedAt'>
export type IssuedCertificate = IssuedCertificateRow
export type NewIssuedCertificate = NewIssuedCertificateRow

const versionInfo = {
  version: caVersions.version,
  certificate: caVersions.certificate,
  chainPem: caVersions.chainPem,
  keyId: caVersions.keyId,
  notAfter: caVersions.notAfter,
  createdAt: caVersions.createdAt,
}

/**
 * Creates CA `name` with version 1 current. Atomic.
 * @throws KeybrokerError `conflict` when it exists; `not-ready` / `internal` on database failure.
 */
export function createCa(
  ex: Executor,
  input: { readonly name: string; readonly keyType: string; readonly source: CaSource; readonly version: NewCaVersion; readonly at: Date },
): Promise<void> {
  return guard('createCa', () =>
    ex.transaction(async (tx) => {
      const rows = await tx
        .insert(certificateAuthorities)
        .values({ name: input.name, keyType: input.keyType, source: input.source, currentVersion: 1, createdAt: input.at, updatedAt: input.at })
        .onConflictDoNothing({ target: certificateAuthorities.name })
        .returning({ name: certificateAuthorities.name })
      if (rows.length === 0) throw new KeybrokerError('conflict', `CA ${input.name} already exists`)
      await tx.insert(caVersions).values({ caName: input.name, version: 1, ...input.version, createdAt: input.at })
    }),
  )
}

/**
 * Adds version `expected` and makes it current (rotation). The number is taken under the CA
 * row's lock; if another rotation took it first, `conflict`.
 * @throws KeybrokerError `not-found`, `conflict`, `not-ready` / `internal`.
 */
export function addCaVersion(ex: Executor, name: string, expected: number, version: NewCaVersion, at: Date): Promise<void> {
  return guard('addCaVersion', () =>
    ex.transaction(async (tx) => {
      const rows = await tx
        .update(certificateAuthorities)
        .set({ currentVersion: sql`${certificateAuthorities.currentVersion} + 1`, updatedAt: at })
        .where(eq(certificateAuthorities.name, name))
        .returning({ version: certificateAuthorities.currentVersion })
      const row = rows[0]
      if (row === undefined) throw new KeybrokerError('not-found', `no such CA: ${name}`)
      if (row.version !== expected) throw new KeybrokerError('conflict', `CA ${name} changed concurrently; retry`)
      await tx.insert(caVersions).values({ caName: name, version: expected, ...version, createdAt: at })
    }),
  )
}

/** CA `name` with the public side of every version, or `undefined`. */
export function getCa(ex: Executor, name: string): Promise<CaMeta | undefined> {
  return guard('getCa', async () => {
    const meta = (await ex.select().from(certificateAuthorities).where(eq(certificateAuthorities.name, name)))[0]
    if (meta === undefined) return undefined
    const versions = await ex.select(versionInfo).from(caVersions).where(eq(caVersions.caName, name)).orderBy(asc(caVersions.version))
    return { ...meta, versions }
  })
}

/** Every CA, by name (byte order), with its versions. */
export function listCas(ex: Executor): Promise<CaMeta[]> {
  return guard('listCas', async () => {
    const metas = await ex.select().from(certificateAuthorities).orderBy(asc(sql`${certificateAuthorities.name} collate "C"`))
    const versions = await ex.select({ caName: caVersions.caName, ...versionInfo }).from(caVersions).orderBy(asc(caVersions.version))
    return metas.map((m) => ({ ...m, versions: versions.filter((v) => v.caName === m.name).map(({ caName: _, ...v }) => v) }))
  })
}

/** Version `version` of CA `name` with its sealed key, or `undefined`. */
export function getCaVersionSecret(ex: Executor, name: string, version: number): Promise<CaVersionSecret | undefined> {
  return guard('getCaVersionSecret', async () => {
    const rows = await ex
      .select({ ...versionInfo, kekId: caVersions.kekId, envelope: caVersions.envelope })
      .from(caVersions)
      .where(and(eq(caVersions.caName, name), eq(caVersions.version, version)))
    return rows[0]
  })
}

/** The cached CRL of a CA version if it is still fresh at `now` (next update beyond `freshUntil`). */
export function getCachedCrl(ex: Executor, name: string, version: number, freshUntil: Date): Promise<Uint8Array | undefined> {
  return guard('getCachedCrl', async () => {
    const rows = await ex
      .select({ crl: caVersions.crl })
      .from(caVersions)
      .where(and(eq(caVersions.caName, name), eq(caVersions.version, version), isNotNull(caVersions.crl), gt(caVersions.crlNextUpdate, freshUntil)))
    return rows[0]?.crl ?? undefined
  })
}

/** Takes the next CRL number of a CA version (under its row lock). */
export function nextCrlNumber(ex: Executor, name: string, version: number): Promise<bigint> {
  return guard('nextCrlNumber', async () => {
    const rows = await ex
      .update(caVersions)
      .set({ crlNumber: sql`${caVersions.crlNumber} + 1` })
      .where(and(eq(caVersions.caName, name), eq(caVersions.version, version)))
      .returning({ crlNumber: caVersions.crlNumber })
    const row = rows[0]
    if (row === undefined) throw new KeybrokerError('not-found', `no such CA version: ${name} v${version}`)
    return row.crlNumber
  })
}

/** Keeps a freshly signed CRL unless a newer one (higher number) was stored meanwhile. */
export function storeCrl(ex: Executor, name: string, version: number, crl: Uint8Array, crlNumber: bigint, nextUpdate: Date): Promise<void> {
  return guard('storeCrl', async () => {
    await ex
      .update(caVersions)
      .set({ crl, crlNextUpdate: nextUpdate })
      .where(and(eq(caVersions.caName, name), eq(caVersions.version, version), eq(caVersions.crlNumber, crlNumber)))
  })
}

/** Drops the cached CRLs of a CA version: the next request signs a new one (after a revocation). */
export function invalidateCrl(ex: Executor, name: string, version: number): Promise<void> {
  return guard('invalidateCrl', async () => {
    await ex.update(caVersions).set({ crl: null, crlNextUpdate: null }).where(and(eq(caVersions.caName, name), eq(caVersions.version, version)))
  })
}

/**
 * Creates a profile.
 * @throws KeybrokerError `conflict` when it exists; `bad-request` when its CA does not exist.
 */
export function createProfile(ex: Executor, input: NewCertificateProfile, at: Date): Promise<CertificateProfile> {
  return guard('createProfile', async () => {
    const ca = await ex.select({ name: certificateAuthorities.name }).from(certificateAuthorities).where(eq(certificateAuthorities.name, input.caName)).for('share')
    if (ca.length === 0) throw new KeybrokerError('bad-request', `no such CA: ${input.caName}`)
    const rows = await ex
      .insert(certificateProfiles)
      .values({ ...input, createdAt: at, updatedAt: at })
      .onConflictDoNothing({ target: certificateProfiles.name })
      .returning()
    const row = rows[0]
    if (row === undefined) throw new KeybrokerError('conflict', `certificate profile ${input.name} already exists`)
    return row
  })
}

/**
 * Replaces every setting of a profile but its name.
 * @throws KeybrokerError `not-found`; `bad-request` when the CA does not exist.
 */
export function replaceProfile(ex: Executor, input: NewCertificateProfile, at: Date): Promise<CertificateProfile> {
  return guard('replaceProfile', async () => {
    const ca = await ex.select({ name: certificateAuthorities.name }).from(certificateAuthorities).where(eq(certificateAuthorities.name, input.caName)).for('share')
    if (ca.length === 0) throw new KeybrokerError('bad-request', `no such CA: ${input.caName}`)
    const { name, ...settings } = input
    const rows = await ex.update(certificateProfiles).set({ ...settings, updatedAt: at }).where(eq(certificateProfiles.name, name)).returning()
    const row = rows[0]
    if (row === undefined) throw new KeybrokerError('not-found', `no such certificate profile: ${name}`)
    return row
  })
}

export function getProfile(ex: Executor, name: string): Promise<CertificateProfile | undefined> {
  return guard('getProfile', async () => (await ex.select().from(certificateProfiles).where(eq(certificateProfiles.name, name)))[0])
}

export function listProfiles(ex: Executor): Promise<CertificateProfile[]> {
  return guard('listProfiles', () => ex.select().from(certificateProfiles).orderBy(asc(sql`${certificateProfiles.name} collate "C"`)))
}

/** Deletes a profile (its certificates stay). Returns `false` when it did not exist. */
export function deleteProfile(ex: Executor, name: string): Promise<boolean> {
  return guard('deleteProfile', async () => (await ex.delete(certificateProfiles).where(eq(certificateProfiles.name, name)).returning({ name: certificateProfiles.name })).length === 1)
}

export function insertIssuedCertificate(ex: Executor, row: NewIssuedCertificate): Promise<void> {
  return guard('insertIssuedCertificate', async () => {
    await ex.insert(issuedCertificates).values(row)
  })
}

export function getIssuedCertificate(ex: Executor, serial: string): Promise<IssuedCertificate | undefined> {
  return guard('getIssuedCertificate', async () => (await ex.select().from(issuedCertificates).where(eq(issuedCertificates.serial, serial)))[0])
}

/** The certificates of a CA version with these serials (OCSP: one query per request). */
export function getIssuedCertificates(ex: Executor, serials: readonly string[]): Promise<IssuedCertificate[]> {
  if (serials.length === 0) return Promise.resolve([])
  return guard('getIssuedCertificates', () =>
    ex
      .select()
      .from(issuedCertificates)
      .where(sql`${issuedCertificates.serial} in (${sql.join(serials.map((s) => sql`${s}`), sql`, `)})`),
  )
}

/** Newest first; optionally of one CA or one profile; at most `limit`. */
export function listIssuedCertificates(
  ex: Executor,
  filter: { readonly ca?: string | undefined; readonly profile?: string | undefined; readonly limit: number },
): Promise<IssuedCertificate[]> {
  return guard('listIssuedCertificates', () =>
    ex
      .select()
      .from(issuedCertificates)
      .where(
        and(
          filter.ca === undefined ? undefined : eq(issuedCertificates.caName, filter.ca),
          filter.profile === undefined ? undefined : eq(issuedCertificates.profile, filter.profile),
        ),
      )
      .orderBy(desc(issuedCertificates.issuedAt), asc(issuedCertificates.serial))
      .limit(filter.limit),
  )
}

/**
 * Marks certificate `serial` revoked. Returns the row as it is now, or `undefined` when no such
 * certificate exists; an already revoked certificate is returned unchanged (`changed: false`).
 */
export function revokeIssuedCertificate(
  ex: Executor,
  serial: string,
  change: { readonly reason: string; readonly by: string; readonly at: Date },
): Promise<{ row: IssuedCertificate; changed: boolean } | undefined> {
  return guard('revokeIssuedCertificate', async () => {
    const rows = await ex
      .update(issuedCertificates)
      .set({ revokedAt: change.at, revocationReason: change.reason, revokedBy: change.by })
      .where(and(eq(issuedCertificates.serial, serial), isNull(issuedCertificates.revokedAt)))
      .returning()
    const row = rows[0]
    if (row !== undefined) {
      await invalidateCrl(ex, row.caName, row.caVersion)
      return { row, changed: true }
    }
    const existing = await getIssuedCertificate(ex, serial)
    return existing === undefined ? undefined : { row: existing, changed: false }
  })
}

/** Revoked certificates of a CA version that have not expired at `now` (the CRL's entries). */
export function revokedCertificatesOf(ex: Executor, name: string, version: number, now: Date): Promise<Pick<IssuedCertificate, 'serial' | 'revokedAt' | 'revocationReason'>[]> {
  return guard('revokedCertificatesOf', () =>
    ex
      .select({ serial: issuedCertificates.serial, revokedAt: issuedCertificates.revokedAt, revocationReason: issuedCertificates.revocationReason })
      .from(issuedCertificates)
      .where(
        and(
          eq(issuedCertificates.caName, name),
          eq(issuedCertificates.caVersion, version),
          isNotNull(issuedCertificates.revokedAt),
          gt(issuedCertificates.notAfter, now),
        ),
      )
      .orderBy(asc(issuedCertificates.serial)),
  )
}

/** Unrevoked, unexpired certificates issued on `measurement` matched in set `setName`. */
export function certificatesIssuedOn(ex: Executor, setName: string, measurement: string, now: Date): Promise<string[]> {
  return guard('certificatesIssuedOn', async () => {
    const rows = await ex
      .select({ serial: issuedCertificates.serial })
      .from(issuedCertificates)
      .where(
        and(
          eq(issuedCertificates.measurement, measurement),
          sql`${issuedCertificates.referenceValues} @> ${JSON.stringify([setName])}::jsonb`,
          isNull(issuedCertificates.revokedAt),
          gt(issuedCertificates.notAfter, now),
        ),
      )
    return rows.map((r) => r.serial)
  })
}

/** The latest notAfter of the certificates a CA version issued (rotation: when it may go). */
export function lastNotAfterOf(ex: Executor, name: string, version: number): Promise<Date | undefined> {
  return guard('lastNotAfterOf', async () => {
    const rows = await ex
      .select({ last: sql<Date | string | null>`max(${issuedCertificates.notAfter})` })
      .from(issuedCertificates)
      .where(and(eq(issuedCertificates.caName, name), eq(issuedCertificates.caVersion, version)))
    const last = rows[0]?.last
    return last === null || last === undefined ? undefined : new Date(last)
  })
}
