/**
 * Secrets: metadata in `secrets`, every encrypted version in `secret_versions`. Envelopes are
 * opaque here (encrypted and decrypted in src/secrets/); metadata never carries one.
 */
import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { Executor } from './db.js'
import { policies, policyVersions, secretVersions, secrets, type SecretKind, type SecretState } from './schema.js'
import { guard } from './storage-error.js'

/** Secret metadata, as the admin API shows it. */
export interface SecretMeta {
  readonly name: string
  readonly kind: SecretKind
  readonly state: SecretState
  readonly currentVersion: number
  /** Names of the reference value sets whose measurements may receive the secret. */
  readonly referenceValues: readonly string[]
  /** The release policy guarding it; `null`: the default rule set. */
  readonly policy: string | null
  readonly createdAt: Date
  readonly updatedAt: Date
}

/** The current version of a secret, with its envelope, for release. */
export interface CurrentSecretVersion {
  readonly meta: SecretMeta
  readonly version: number
  readonly kekId: string
  /** Opaque encrypted blob; a copy, never aliasing driver memory. */
  readonly envelope: Uint8Array
  /**
   * The current version of the secret's policy, read in the same query (the release hot path
   * makes no extra round trip for it); `null` when the secret has none (default rules).
   */
  readonly policyVersion: {
    readonly name: string
    readonly version: number
    readonly description: string
    readonly rules: readonly { readonly name: string; readonly expr: string; readonly description?: string }[]
    readonly createdAt: Date
    readonly createdBy: string
  } | null
}

export interface NewSecretVersion {
  readonly kekId: string
  readonly envelope: Uint8Array
  readonly at: Date
}

export interface NewSecret extends NewSecretVersion {
  readonly name: string
  readonly kind: SecretKind
  readonly referenceValues: readonly string[]
  readonly policy?: string | null | undefined
}

const metaColumns = {
  name: secrets.name,
  kind: secrets.kind,
  state: secrets.state,
  currentVersion: secrets.currentVersion,
  referenceValues: secrets.referenceValues,
  policy: secrets.policy,
  createdAt: secrets.createdAt,
  updatedAt: secrets.updatedAt,
}

/**
 * Creates secret `name`, enabled, with version 1 holding `envelope`. Atomic (own transaction or a
 * savepoint of the caller's).
 *
 * @throws KeybrokerError `conflict` when a secret of that name exists (ON CONFLICT DO NOTHING:
 *   the caller's transaction stays usable); `not-ready` / `internal` on database failure.
 */
export function createSecret(ex: Executor, input: NewSecret): Promise<SecretMeta> {
  return guard('createSecret', () =>
    ex.transaction(async (tx) => {
      const rows = await tx
        .insert(secrets)
        .values({
          name: input.name,
          kind: input.kind,
          state: 'enabled',
          currentVersion: 1,
          referenceValues: [...input.referenceValues],
          policy: input.policy ?? null,
          createdAt: input.at,
          updatedAt: input.at,
        })
        .onConflictDoNothing({ target: secrets.name })
        .returning(metaColumns)
      const meta = rows[0]
      if (meta === undefined) throw new KeybrokerError('conflict', `secret ${input.name} already exists`)
      await tx
        .insert(secretVersions)
        .values({ secretName: input.name, version: 1, kekId: input.kekId, envelope: input.envelope, createdAt: input.at })
      return meta
    }),
  )
}

/**
 * Metadata of secret `name`, or `undefined`.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getSecretMeta(ex: Executor, name: string): Promise<SecretMeta | undefined> {
  return guard('getSecretMeta', async () => (await ex.select(metaColumns).from(secrets).where(eq(secrets.name, name)))[0])
}

/**
 * Metadata of every secret, ordered by name (byte order, the same on both engines).
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function listSecretMeta(ex: Executor): Promise<SecretMeta[]> {
  return guard('listSecretMeta', () =>
    ex
      .select(metaColumns)
      .from(secrets)
      .orderBy(asc(sql`${secrets.name} collate "C"`)),
  )
}

/**
 * Adds a version to secret `name` and makes it current; returns the new version number. The
 * version is taken by incrementing `current_version` under the row lock of that UPDATE, so
 * concurrent calls get distinct, consecutive numbers.
 *
 * @throws KeybrokerError `not-found` when the secret does not exist; `not-ready` / `internal` on
 *   database failure.
 */
export function addSecretVersion(ex: Executor, name: string, input: NewSecretVersion): Promise<number> {
  return guard('addSecretVersion', () =>
    ex.transaction(async (tx) => {
      const rows = await tx
        .update(secrets)
        .set({ currentVersion: sql`${secrets.currentVersion} + 1`, updatedAt: input.at })
        .where(eq(secrets.name, name))
        .returning({ version: secrets.currentVersion })
      const row = rows[0]
      if (row === undefined) throw new KeybrokerError('not-found', `secret ${name} does not exist`)
      await tx
        .insert(secretVersions)
        .values({ secretName: name, version: row.version, kekId: input.kekId, envelope: input.envelope, createdAt: input.at })
      return row.version
    }),
  )
}

/**
 * Enables or disables secret `name` (at `at`); returns the updated metadata. Setting the state
 * it already has still succeeds and updates `updatedAt`.
 *
 * @throws KeybrokerError `not-found` when the secret does not exist; `not-ready` / `internal` on
 *   database failure.
 */
export function setSecretState(ex: Executor, name: string, state: SecretState, at: Date): Promise<SecretMeta> {
  return guard('setSecretState', async () => {
    const rows = await ex.update(secrets).set({ state, updatedAt: at }).where(eq(secrets.name, name)).returning(metaColumns)
    const meta = rows[0]
    if (meta === undefined) throw new KeybrokerError('not-found', `secret ${name} does not exist`)
    return meta
  })
}

/**
 * Deletes secret `name` with all its versions. Returns `false` when it did not exist.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function deleteSecret(ex: Executor, name: string): Promise<boolean> {
  return guard('deleteSecret', async () => {
    const rows = await ex.delete(secrets).where(eq(secrets.name, name)).returning({ name: secrets.name })
    return rows.length === 1
  })
}

/**
 * The current version of secret `name` with its envelope, or `undefined` when the secret does not
 * exist. Disabled secrets are returned too (with `meta.state`); refusing them is policy's job.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getCurrentSecretVersion(ex: Executor, name: string): Promise<CurrentSecretVersion | undefined> {
  return guard('getCurrentSecretVersion', async () => (await selectCurrent(ex, [name]))[0])
}

/**
 * The current versions of the secrets among `names` that exist, keyed by name, in one query (the
 * release hot path). Names that do not exist are absent from the map.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getCurrentSecretVersions(ex: Executor, names: readonly string[]): Promise<Map<string, CurrentSecretVersion>> {
  return guard('getCurrentSecretVersions', async () => {
    const map = new Map<string, CurrentSecretVersion>()
    if (names.length === 0) return map
    for (const current of await selectCurrent(ex, [...new Set(names)])) map.set(current.meta.name, current)
    return map
  })
}

async function selectCurrent(ex: Executor, names: string[]): Promise<CurrentSecretVersion[]> {
  const rows = await ex
    .select({
      meta: metaColumns,
      version: secretVersions.version,
      kekId: secretVersions.kekId,
      envelope: secretVersions.envelope,
      policyName: policyVersions.name,
      policyVersion: policyVersions.version,
      policyDescription: policyVersions.description,
      policyRules: policyVersions.rules,
      policyCreatedAt: policyVersions.createdAt,
      policyCreatedBy: policyVersions.createdBy,
    })
    .from(secrets)
    .innerJoin(
      secretVersions,
      and(eq(secretVersions.secretName, secrets.name), eq(secretVersions.version, secrets.currentVersion)),
    )
    .leftJoin(policies, eq(policies.name, secrets.policy))
    .leftJoin(policyVersions, and(eq(policyVersions.name, policies.name), eq(policyVersions.version, policies.currentVersion)))
    .where(inArray(secrets.name, names))
  return rows.map((r) => ({
    meta: r.meta,
    version: r.version,
    kekId: r.kekId,
    envelope: r.envelope,
    policyVersion:
      r.policyName === null || r.policyVersion === null || r.policyDescription === null || r.policyRules === null || r.policyCreatedAt === null || r.policyCreatedBy === null
        ? null
        : {
            name: r.policyName,
            version: r.policyVersion,
            description: r.policyDescription,
            rules: r.policyRules,
            createdAt: r.policyCreatedAt,
            createdBy: r.policyCreatedBy,
          },
  }))
}

/**
 * Replaces the reference-value sets that guard secret `name` (at `at`).
 *
 * @throws KeybrokerError `not-found` when the secret does not exist; `not-ready` / `internal` on
 *   database failure.
 */
export function setSecretReferenceValues(ex: Executor, name: string, referenceValues: readonly string[], at: Date): Promise<SecretMeta> {
  return guard('setSecretReferenceValues', async () => {
    const rows = await ex
      .update(secrets)
      .set({ referenceValues: [...referenceValues], updatedAt: at })
      .where(eq(secrets.name, name))
      .returning(metaColumns)
    const meta = rows[0]
    if (meta === undefined) throw new KeybrokerError('not-found', `secret ${name} does not exist`)
    return meta
  })
}

/**
 * Attaches release policy `policy` (or, with `null`, the default rule set) to secret `name`.
 *
 * @throws KeybrokerError `not-found` when the secret does not exist; `not-ready` / `internal` on
 *   database failure.
 */
export function setSecretPolicy(ex: Executor, name: string, policy: string | null, at: Date): Promise<SecretMeta> {
  return guard('setSecretPolicy', async () => {
    const rows = await ex.update(secrets).set({ policy, updatedAt: at }).where(eq(secrets.name, name)).returning(metaColumns)
    const meta = rows[0]
    if (meta === undefined) throw new KeybrokerError('not-found', `secret ${name} does not exist`)
    return meta
  })
}

/**
 * Names of the secrets guarded by policy `policy`, ordered by name.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function listSecretsWithPolicy(ex: Executor, policy: string): Promise<string[]> {
  return guard('listSecretsWithPolicy', async () =>
    (
      await ex
        .select({ name: secrets.name })
        .from(secrets)
        .where(eq(secrets.policy, policy))
        .orderBy(asc(sql`${secrets.name} collate "C"`))
    ).map((r) => r.name),
  )
}
