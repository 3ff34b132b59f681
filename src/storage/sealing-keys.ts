/**
 * Sealing keys: metadata in `sealing_keys`, every exchange key in `sealing_key_versions` (private
 * part in an opaque envelope, sealed in src/secrets/), and the deny-list of disk identities in
 * `denied_disks`. Nothing here is per disk except what an admin deny-lists.
 */
import { and, asc, eq, sql } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { Executor } from './db.js'
import {
  deniedDisks,
  sealingKeys,
  sealingKeyVersions,
  type SealingKeyCurve,
  type SealingKeyVersionState,
  type SecretState,
} from './schema.js'
import { guard } from './storage-error.js'

export interface SealingPublicJwk {
  readonly kty: 'EC'
  readonly crv: SealingKeyCurve
  readonly x: string
  readonly y: string
}

/** One exchange key, public side only. */
export interface SealingKeyVersionInfo {
  readonly version: number
  readonly kid: string
  readonly publicJwk: SealingPublicJwk
  readonly state: SealingKeyVersionState
  readonly createdAt: Date
  readonly retiredAt: Date | null
}

/** A sealing key as the admin API shows it: metadata and the public side of every version. */
export interface SealingKeyMeta {
  readonly name: string
  readonly curve: SealingKeyCurve
  readonly state: SecretState
  readonly currentVersion: number
  readonly referenceValues: readonly string[]
  /** The release policy (`policies.name`) gating recovery; null: the default rule set. */
  readonly policy: string | null
  readonly createdAt: Date
  readonly updatedAt: Date
  /** Ascending by version. */
  readonly versions: readonly SealingKeyVersionInfo[]
}

/** One exchange key with its sealed private part, for a recovery. */
export interface SealingKeyVersionSecret extends SealingKeyVersionInfo {
  readonly kekId: string
  /** Opaque encrypted blob; a copy, never aliasing driver memory. */
  readonly envelope: Uint8Array
}

export interface NewSealingKeyVersion {
  readonly kid: string
  readonly publicJwk: SealingPublicJwk
  readonly kekId: string
  readonly envelope: Uint8Array
  readonly at: Date
}

export interface NewSealingKey extends NewSealingKeyVersion {
  readonly name: string
  readonly curve: SealingKeyCurve
  readonly referenceValues: readonly string[]
  readonly policy: string | null
}

export interface DeniedDisk {
  readonly disk: string
  readonly reason: string
  readonly createdAt: Date
  readonly createdBy: string
}

const metaColumns = {
  name: sealingKeys.name,
  curve: sealingKeys.curve,
  state: sealingKeys.state,
  currentVersion: sealingKeys.currentVersion,
  referenceValues: sealingKeys.referenceValues,
  policy: sealingKeys.policy,
  createdAt: sealingKeys.createdAt,
  updatedAt: sealingKeys.updatedAt,
}

const versionColumns = {
  version: sealingKeyVersions.version,
  kid: sealingKeyVersions.kid,
  publicJwk: sealingKeyVersions.publicJwk,
  state: sealingKeyVersions.state,
  createdAt: sealingKeyVersions.createdAt,
  retiredAt: sealingKeyVersions.retiredAt,
}

/**
 * Creates sealing key `name`, enabled, with version 1 current. Atomic.
 *
 * @throws KeybrokerError `conflict` when a sealing key of that name exists; `not-ready` /
 *   `internal` on database failure.
 */
export function createSealingKey(ex: Executor, input: NewSealingKey): Promise<SealingKeyMeta> {
  return guard('createSealingKey', async () => {
    await ex.transaction(async (tx) => {
      const rows = await tx
        .insert(sealingKeys)
        .values({
          name: input.name,
          curve: input.curve,
          state: 'enabled',
          currentVersion: 1,
          referenceValues: [...input.referenceValues],
          policy: input.policy,
          createdAt: input.at,
          updatedAt: input.at,
        })
        .onConflictDoNothing({ target: sealingKeys.name })
        .returning({ name: sealingKeys.name })
      if (rows.length === 0) throw new KeybrokerError('conflict', `sealing key ${input.name} already exists`)
      await tx.insert(sealingKeyVersions).values(versionValues(input.name, 1, input))
    })
    return mustGet(ex, input.name)
  })
}

/**
 * Sealing key `name` with the public side of every version, or `undefined`.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getSealingKey(ex: Executor, name: string): Promise<SealingKeyMeta | undefined> {
  return guard('getSealingKey', async () => {
    const meta = (await ex.select(metaColumns).from(sealingKeys).where(eq(sealingKeys.name, name)))[0]
    if (meta === undefined) return undefined
    const versions = await ex
      .select(versionColumns)
      .from(sealingKeyVersions)
      .where(eq(sealingKeyVersions.sealingKeyName, name))
      .orderBy(asc(sealingKeyVersions.version))
    return { ...meta, versions }
  })
}

/**
 * Every sealing key with its versions, ordered by name (byte order, the same on both engines).
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function listSealingKeys(ex: Executor): Promise<SealingKeyMeta[]> {
  return guard('listSealingKeys', async () => {
    const metas = await ex
      .select(metaColumns)
      .from(sealingKeys)
      .orderBy(asc(sql`${sealingKeys.name} collate "C"`))
    const versions = await ex
      .select({ name: sealingKeyVersions.sealingKeyName, ...versionColumns })
      .from(sealingKeyVersions)
      .orderBy(asc(sealingKeyVersions.version))
    return metas.map((m) => ({ ...m, versions: versions.filter((v) => v.name === m.name).map(({ name: _, ...v }) => v) }))
  })
}

/**
 * Adds a version and makes it current (rotation); older versions stay as they are. The version
 * number is taken by incrementing `current_version` under that UPDATE's row lock.
 *
 * @throws KeybrokerError `not-found` when the sealing key does not exist; `not-ready` /
 *   `internal` on database failure.
 */
export function addSealingKeyVersion(ex: Executor, name: string, input: NewSealingKeyVersion): Promise<number> {
  return guard('addSealingKeyVersion', () =>
    ex.transaction(async (tx) => {
      const rows = await tx
        .update(sealingKeys)
        .set({ currentVersion: sql`${sealingKeys.currentVersion} + 1`, updatedAt: input.at })
        .where(eq(sealingKeys.name, name))
        .returning({ version: sealingKeys.currentVersion })
      const row = rows[0]
      if (row === undefined) throw new KeybrokerError('not-found', `sealing key ${name} does not exist`)
      await tx.insert(sealingKeyVersions).values(versionValues(name, row.version, input))
      return row.version
    }),
  )
}

/**
 * Retires version `version` of `name`: it recovers nothing from then on. The current version
 * cannot be retired (rotate first), so a sealing key always has a key to advertise.
 *
 * @throws KeybrokerError `not-found` for an unknown key or version; `conflict` for the current
 *   version; `not-ready` / `internal` on database failure.
 */
export function retireSealingKeyVersion(ex: Executor, name: string, version: number, at: Date): Promise<SealingKeyMeta> {
  return guard('retireSealingKeyVersion', async () => {
    await ex.transaction(async (tx) => {
      const meta = (await tx.select(metaColumns).from(sealingKeys).where(eq(sealingKeys.name, name)).for('update'))[0]
      if (meta === undefined) throw new KeybrokerError('not-found', `sealing key ${name} does not exist`)
      if (meta.currentVersion === version) {
        throw new KeybrokerError('conflict', `version ${version} is current; rotate before retiring it`)
      }
      const rows = await tx
        .update(sealingKeyVersions)
        .set({ state: 'retired', retiredAt: at })
        .where(and(eq(sealingKeyVersions.sealingKeyName, name), eq(sealingKeyVersions.version, version)))
        .returning({ version: sealingKeyVersions.version })
      if (rows.length === 0) throw new KeybrokerError('not-found', `sealing key ${name} has no version ${version}`)
      await tx.update(sealingKeys).set({ updatedAt: at }).where(eq(sealingKeys.name, name))
    })
    return mustGet(ex, name)
  })
}

/**
 * Sets the state, the reference-value sets and the policy of `name`, those given (at `at`).
 *
 * @throws KeybrokerError `not-found` when the sealing key does not exist; `not-ready` /
 *   `internal` on database failure.
 */
export function updateSealingKey(
  ex: Executor,
  name: string,
  change: {
    readonly state?: SecretState | undefined
    readonly referenceValues?: readonly string[] | undefined
    /** `null`: back to the default rule set; `undefined`: unchanged. */
    readonly policy?: string | null | undefined
  },
  at: Date,
): Promise<SealingKeyMeta> {
  return guard('updateSealingKey', async () => {
    const rows = await ex
      .update(sealingKeys)
      .set({
        updatedAt: at,
        ...(change.state === undefined ? {} : { state: change.state }),
        ...(change.referenceValues === undefined ? {} : { referenceValues: [...change.referenceValues] }),
        ...(change.policy === undefined ? {} : { policy: change.policy }),
      })
      .where(eq(sealingKeys.name, name))
      .returning({ name: sealingKeys.name })
    if (rows.length === 0) throw new KeybrokerError('not-found', `sealing key ${name} does not exist`)
    return mustGet(ex, name)
  })
}

/**
 * Deletes sealing key `name` with all its versions (every disk bound to it is then lost unless
 * it has another slot). Returns `false` when it did not exist.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function deleteSealingKey(ex: Executor, name: string): Promise<boolean> {
  return guard('deleteSealingKey', async () => {
    const rows = await ex.delete(sealingKeys).where(eq(sealingKeys.name, name)).returning({ name: sealingKeys.name })
    return rows.length === 1
  })
}

/**
 * The version of `name` whose exchange key has thumbprint `kid`, with its envelope, plus the
 * key's metadata (without versions) and whether `disk` is deny-listed — one query, the recovery
 * hot path; `undefined` when the key or the kid is unknown. Retired versions are returned too
 * (with `state`); refusing them is the caller's policy.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function findSealingKeyVersion(
  ex: Executor,
  name: string,
  kid: string,
  disk = '',
): Promise<{ meta: Omit<SealingKeyMeta, 'versions'>; version: SealingKeyVersionSecret; isDiskDenied: boolean } | undefined> {
  return guard('findSealingKeyVersion', async () => {
    const rows = await ex
      .select({
        meta: metaColumns,
        version: { ...versionColumns, kekId: sealingKeyVersions.kekId, envelope: sealingKeyVersions.envelope },
        deniedDisk: deniedDisks.disk,
      })
      .from(sealingKeys)
      .innerJoin(sealingKeyVersions, eq(sealingKeyVersions.sealingKeyName, sealingKeys.name))
      .leftJoin(deniedDisks, eq(deniedDisks.disk, disk))
      .where(and(eq(sealingKeys.name, name), eq(sealingKeyVersions.kid, kid)))
    const row = rows[0]
    return row === undefined ? undefined : { meta: row.meta, version: row.version, isDiskDenied: row.deniedDisk !== null }
  })
}

/**
 * The current version of `name` with its envelope (the advertised exchange key), or `undefined`.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getCurrentSealingKeyVersion(
  ex: Executor,
  name: string,
): Promise<{ meta: Omit<SealingKeyMeta, 'versions'>; version: SealingKeyVersionInfo } | undefined> {
  return guard('getCurrentSealingKeyVersion', async () => {
    const rows = await ex
      .select({ meta: metaColumns, version: versionColumns })
      .from(sealingKeys)
      .innerJoin(
        sealingKeyVersions,
        and(eq(sealingKeyVersions.sealingKeyName, sealingKeys.name), eq(sealingKeyVersions.version, sealingKeys.currentVersion)),
      )
      .where(eq(sealingKeys.name, name))
    return rows[0]
  })
}

/**
 * Deny-lists disk identity `disk`.
 *
 * @throws KeybrokerError `conflict` when it is already deny-listed; `not-ready` / `internal` on
 *   database failure.
 */
export function denyDisk(ex: Executor, entry: DeniedDisk): Promise<DeniedDisk> {
  return guard('denyDisk', async () => {
    const rows = await ex
      .insert(deniedDisks)
      .values({ ...entry })
      .onConflictDoNothing({ target: deniedDisks.disk })
      .returning()
    const row = rows[0]
    if (row === undefined) throw new KeybrokerError('conflict', 'disk is already deny-listed')
    return row
  })
}

/**
 * Removes `disk` from the deny-list. Returns `false` when it was not on it.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function allowDisk(ex: Executor, disk: string): Promise<boolean> {
  return guard('allowDisk', async () => {
    const rows = await ex.delete(deniedDisks).where(eq(deniedDisks.disk, disk)).returning({ disk: deniedDisks.disk })
    return rows.length === 1
  })
}

/**
 * The deny-list entry of `disk`, or `undefined` (the recovery hot path: one primary-key lookup).
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function findDeniedDisk(ex: Executor, disk: string): Promise<DeniedDisk | undefined> {
  return guard('findDeniedDisk', async () => (await ex.select().from(deniedDisks).where(eq(deniedDisks.disk, disk)))[0])
}

/**
 * The whole deny-list, oldest first.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function listDeniedDisks(ex: Executor): Promise<DeniedDisk[]> {
  return guard('listDeniedDisks', () => ex.select().from(deniedDisks).orderBy(asc(deniedDisks.createdAt), asc(deniedDisks.disk)))
}

function versionValues(name: string, version: number, input: NewSealingKeyVersion) {
  return {
    sealingKeyName: name,
    version,
    kid: input.kid,
    publicJwk: { ...input.publicJwk },
    kekId: input.kekId,
    envelope: input.envelope,
    state: 'active' as const,
    createdAt: input.at,
  }
}

async function mustGet(ex: Executor, name: string): Promise<SealingKeyMeta> {
  const meta = await getSealingKey(ex, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `sealing key ${name} does not exist`)
  return meta
}
