/** Named, versioned reference value sets, their (revocable) values, and every version's snapshot. */
import { and, asc, desc, eq, inArray, isNull, notInArray, sql, SQL } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/types.js'
import type { Executor } from './db.js'
import { referenceMeasurements, referenceValueSets, referenceValueSetVersions, type StoredProvenance } from './schema.js'
import { guard } from './storage-error.js'

export interface ReferenceMeasurement {
  /** Lowercase hex. */
  readonly value: string
  readonly createdAt: Date
  readonly revokedAt: Date | null
  readonly revokeReason: string | null
  /** Expected claims of this value (JSON; checked against the claim catalogue by the services). */
  readonly expectJson: readonly JsonValue[]
  readonly notBefore: Date | null
  readonly notAfter: Date | null
  readonly provenance: StoredProvenance | null
}

export interface ReferenceValueSet {
  readonly name: string
  readonly allowDebug: boolean
  /** 1 at creation; +1 on every replace and every revocation. */
  readonly version: number
  readonly createdAt: Date
  readonly updatedAt: Date
  /** Sorted by value; revoked values included. */
  readonly measurements: readonly ReferenceMeasurement[]
  /** The evidence type the set is for; `null`: any. */
  readonly evidenceType: string | null
  /** Expected claims of the whole set (JSON). */
  readonly expectJson: readonly JsonValue[]
  /** Who wrote the current version. */
  readonly provenance: StoredProvenance | null
}

/** One value with its own expectations, validity window and provenance. */
export interface ReferenceValueInput {
  readonly measurement: string
  readonly expect?: readonly JsonValue[] | undefined
  readonly notBefore?: Date | null | undefined
  readonly notAfter?: Date | null | undefined
  readonly provenance?: StoredProvenance | null | undefined
}

export interface ReferenceValueSetInput {
  /** Hex, either case; stored lowercase, duplicates collapsed. May be empty. */
  readonly measurements?: readonly string[] | undefined
  /** Values with details; combined with `measurements` (a value listed in both keeps its details). */
  readonly values?: readonly ReferenceValueInput[] | undefined
  readonly allowDebug: boolean
  readonly at: Date
  readonly evidenceType?: string | null | undefined
  readonly expect?: readonly JsonValue[] | undefined
  /** Provenance of the set version, and of every value that does not carry its own. */
  readonly provenance?: StoredProvenance | null | undefined
}

export interface ReferenceValueSetVersion {
  readonly name: string
  readonly version: number
  readonly createdAt: Date
  /** The set as it was at this version (ReferenceValueSet, JSON: times as RFC 3339). */
  readonly snapshot: { readonly [k: string]: JsonValue }
}

const HEX_BYTES = /^(?:[0-9a-f]{2})+$/

interface NormalizedValue {
  readonly measurement: string
  readonly expect: JsonValue[]
  readonly notBefore: Date | null
  readonly notAfter: Date | null
  readonly provenance: StoredProvenance | null
}

/** Lowercases, validates and de-duplicates values (sorted, for stable storage order). */
function normalizeValues(input: ReferenceValueSetInput): NormalizedValue[] {
  const out = new Map<string, NormalizedValue>()
  const add = (v: ReferenceValueInput) => {
    const lower = v.measurement.toLowerCase()
    if (!HEX_BYTES.test(lower)) throw new KeybrokerError('bad-request', 'a measurement is not non-empty hex of whole bytes')
    const notBefore = v.notBefore ?? null
    const notAfter = v.notAfter ?? null
    if (notBefore !== null && notAfter !== null && notBefore.getTime() > notAfter.getTime()) {
      throw new KeybrokerError('bad-request', 'a value has notBefore after notAfter')
    }
    out.set(lower, { measurement: lower, expect: [...(v.expect ?? [])], notBefore, notAfter, provenance: v.provenance ?? input.provenance ?? null })
  }
  for (const m of input.measurements ?? []) add({ measurement: m })
  for (const v of input.values ?? []) add(v)
  return [...out.values()].sort((a, b) => (a.measurement < b.measurement ? -1 : a.measurement > b.measurement ? 1 : 0))
}

/**
 * Creates set `name` at version 1 with the given values (lowercased, de-duplicated), and its
 * version-1 snapshot. Atomic: in its own transaction, or a savepoint of the caller's.
 *
 * @throws KeybrokerError `conflict` when a set of that name exists (detected with ON CONFLICT
 *   DO NOTHING, so the caller's transaction stays usable, e.g. for an audit entry of the denial);
 *   `bad-request` for a measurement that is not hex; `not-ready` / `internal` on database failure.
 */
export function createReferenceValueSet(
  ex: Executor,
  input: ReferenceValueSetInput & { readonly name: string },
): Promise<ReferenceValueSet> {
  return guard('createReferenceValueSet', async () => {
    const values = normalizeValues(input)
    return ex.transaction(async (tx) => {
      const created = await tx
        .insert(referenceValueSets)
        .values({
          name: input.name,
          allowDebug: input.allowDebug,
          version: 1,
          createdAt: input.at,
          updatedAt: input.at,
          evidenceType: input.evidenceType ?? null,
          expect: [...(input.expect ?? [])],
          provenance: input.provenance ?? null,
        })
        .onConflictDoNothing({ target: referenceValueSets.name })
        .returning({ name: referenceValueSets.name })
      if (created.length === 0) throw new KeybrokerError('conflict', `reference value set ${input.name} already exists`)
      if (values.length > 0) await tx.insert(referenceMeasurements).values(values.map((v) => valueRow(input.name, v, input.at)))
      return snapshotted(tx, input.name, input.at)
    })
  })
}

function valueRow(setName: string, v: NormalizedValue, at: Date) {
  return {
    setName,
    measurement: v.measurement,
    createdAt: at,
    expect: v.expect,
    notBefore: v.notBefore,
    notAfter: v.notAfter,
    provenance: v.provenance,
  }
}

/**
 * Replaces the values, `allowDebug`, evidence type, expectations and provenance of set `name`
 * and increments its version (snapshotting it). Values present before and after keep their
 * `createdAt` and any revocation (re-listing a revoked value does not un-revoke it) but take
 * the new expectations, window and provenance; values not listed any more are removed.
 *
 * @throws KeybrokerError `not-found` when the set does not exist; `bad-request` for a measurement
 *   that is not hex; `not-ready` / `internal` on database failure.
 */
export function replaceReferenceValueSet(ex: Executor, name: string, input: ReferenceValueSetInput): Promise<ReferenceValueSet> {
  return guard('replaceReferenceValueSet', async () => {
    const values = normalizeValues(input)
    const measurements = values.map((v) => v.measurement)
    return ex.transaction(async (tx) => {
      // The UPDATE row-locks the set, so concurrent replaces of one set apply one after the other.
      const updated = await tx
        .update(referenceValueSets)
        .set({
          allowDebug: input.allowDebug,
          version: sql`${referenceValueSets.version} + 1`,
          updatedAt: input.at,
          evidenceType: input.evidenceType ?? null,
          expect: [...(input.expect ?? [])],
          provenance: input.provenance ?? null,
        })
        .where(eq(referenceValueSets.name, name))
        .returning({ name: referenceValueSets.name })
      if (updated.length === 0) throw new KeybrokerError('not-found', `reference value set ${name} does not exist`)
      await tx
        .delete(referenceMeasurements)
        .where(
          measurements.length === 0
            ? eq(referenceMeasurements.setName, name)
            : and(eq(referenceMeasurements.setName, name), notInArray(referenceMeasurements.measurement, measurements)),
        )
      if (values.length > 0) {
        await tx
          .insert(referenceMeasurements)
          .values(values.map((v) => valueRow(name, v, input.at)))
          .onConflictDoUpdate({
            target: [referenceMeasurements.setName, referenceMeasurements.measurement],
            set: {
              expect: sql`excluded.expect`,
              notBefore: sql`excluded.not_before`,
              notAfter: sql`excluded.not_after`,
              provenance: sql`excluded.provenance`,
            },
          })
      }
      return snapshotted(tx, name, input.at)
    })
  })
}

/**
 * Set `name` with all its measurements, or `undefined`.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getReferenceValueSet(ex: Executor, name: string): Promise<ReferenceValueSet | undefined> {
  return guard('getReferenceValueSet', async () => (await selectSets(ex, [name]))[0])
}

/**
 * The sets among `names` that exist, keyed by name, in one query (the attestation hot path).
 * Names that do not exist are simply absent from the map.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getReferenceValueSets(ex: Executor, names: readonly string[]): Promise<Map<string, ReferenceValueSet>> {
  return guard('getReferenceValueSets', async () => {
    const map = new Map<string, ReferenceValueSet>()
    if (names.length === 0) return map
    for (const set of await selectSets(ex, [...new Set(names)])) map.set(set.name, set)
    return map
  })
}

/**
 * Every set with its measurements, ordered by name (byte order), in one query.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function listReferenceValueSets(ex: Executor): Promise<ReferenceValueSet[]> {
  return guard('listReferenceValueSets', () => selectSets(ex, undefined))
}

/**
 * Revokes `measurement` (hex, either case) of set `name` at `at` with `reason`, and increments the
 * set's version (snapshotting it). Returns `true` when this call revoked it, `false` when it was
 * already revoked (the first revocation and its reason are kept, the version does not change).
 *
 * @throws KeybrokerError `not-found` when the set or the measurement in it does not exist;
 *   `not-ready` / `internal` on database failure.
 */
export function revokeMeasurement(ex: Executor, name: string, measurement: string, reason: string, at: Date): Promise<boolean> {
  return guard('revokeMeasurement', async () => {
    const value = measurement.toLowerCase()
    return ex.transaction(async (tx) => {
      const revoked = await tx
        .update(referenceMeasurements)
        .set({ revokedAt: at, revokeReason: reason })
        .where(
          and(
            eq(referenceMeasurements.setName, name),
            eq(referenceMeasurements.measurement, value),
            isNull(referenceMeasurements.revokedAt),
          ),
        )
        .returning({ measurement: referenceMeasurements.measurement })
      if (revoked.length === 1) {
        await tx
          .update(referenceValueSets)
          .set({ version: sql`${referenceValueSets.version} + 1`, updatedAt: at })
          .where(eq(referenceValueSets.name, name))
        await snapshotted(tx, name, at)
        return true
      }
      const existing = await tx
        .select({ measurement: referenceMeasurements.measurement })
        .from(referenceMeasurements)
        .where(and(eq(referenceMeasurements.setName, name), eq(referenceMeasurements.measurement, value)))
      if (existing.length === 1) return false
      const set = await tx.select({ name: referenceValueSets.name }).from(referenceValueSets).where(eq(referenceValueSets.name, name))
      throw new KeybrokerError(
        'not-found',
        set.length === 0 ? `reference value set ${name} does not exist` : `measurement not in reference value set ${name}`,
      )
    })
  })
}

/**
 * Deletes set `name`, its measurements and its version history. Returns `false` when it did not
 * exist. Secrets that name the set keep the name; appraisal treats an unknown set as matching
 * nothing.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function deleteReferenceValueSet(ex: Executor, name: string): Promise<boolean> {
  return guard('deleteReferenceValueSet', async () => {
    const rows = await ex
      .delete(referenceValueSets)
      .where(eq(referenceValueSets.name, name))
      .returning({ name: referenceValueSets.name })
    return rows.length === 1
  })
}

/**
 * The versions of set `name`, newest first (snapshots included), or `[]` when it does not exist.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function listReferenceValueSetVersions(ex: Executor, name: string): Promise<ReferenceValueSetVersion[]> {
  return guard('listReferenceValueSetVersions', async () =>
    ex
      .select()
      .from(referenceValueSetVersions)
      .where(eq(referenceValueSetVersions.name, name))
      .orderBy(desc(referenceValueSetVersions.version)),
  )
}

/**
 * One version of set `name`, or `undefined`.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getReferenceValueSetVersion(ex: Executor, name: string, version: number): Promise<ReferenceValueSetVersion | undefined> {
  return guard('getReferenceValueSetVersion', async () => {
    const rows = await ex
      .select()
      .from(referenceValueSetVersions)
      .where(and(eq(referenceValueSetVersions.name, name), eq(referenceValueSetVersions.version, version)))
    return rows[0]
  })
}

/** Reads the set inside the transaction that changed it and stores that version's snapshot. */
async function snapshotted(ex: Executor, name: string, at: Date): Promise<ReferenceValueSet> {
  const set = (await selectSets(ex, [name]))[0]
  if (set === undefined) throw new KeybrokerError('internal', `reference value set ${name} vanished inside its transaction`)
  await ex
    .insert(referenceValueSetVersions)
    .values({ name, version: set.version, snapshot: snapshotOf(set), createdAt: at })
    // A version number is written once; a repeated number (never expected) keeps the first.
    .onConflictDoNothing({ target: [referenceValueSetVersions.name, referenceValueSetVersions.version] })
  return set
}

/** The JSON snapshot of a set (times as RFC 3339). */
export function snapshotOf(set: ReferenceValueSet): { [k: string]: JsonValue } {
  const iso = (d: Date | null) => (d === null ? null : d.toISOString())
  return {
    name: set.name,
    version: set.version,
    allowDebug: set.allowDebug,
    evidenceType: set.evidenceType,
    expect: [...set.expectJson],
    provenance: set.provenance,
    createdAt: set.createdAt.toISOString(),
    updatedAt: set.updatedAt.toISOString(),
    measurements: set.measurements.map((m) => ({
      value: m.value,
      createdAt: m.createdAt.toISOString(),
      revokedAt: iso(m.revokedAt),
      revokeReason: m.revokeReason,
      expect: [...m.expectJson],
      notBefore: iso(m.notBefore),
      notAfter: iso(m.notAfter),
      provenance: m.provenance,
    })),
  }
}

/** One LEFT JOIN query for the sets named (all sets when `names` is undefined), grouped in order. */
async function selectSets(ex: Executor, names: readonly string[] | SQL | undefined): Promise<ReferenceValueSet[]> {
  const rows = await ex
    .select({
      name: referenceValueSets.name,
      allowDebug: referenceValueSets.allowDebug,
      version: referenceValueSets.version,
      createdAt: referenceValueSets.createdAt,
      updatedAt: referenceValueSets.updatedAt,
      evidenceType: referenceValueSets.evidenceType,
      setExpect: referenceValueSets.expect,
      setProvenance: referenceValueSets.provenance,
      value: referenceMeasurements.measurement,
      valueCreatedAt: referenceMeasurements.createdAt,
      revokedAt: referenceMeasurements.revokedAt,
      revokeReason: referenceMeasurements.revokeReason,
      valueExpect: referenceMeasurements.expect,
      notBefore: referenceMeasurements.notBefore,
      notAfter: referenceMeasurements.notAfter,
      valueProvenance: referenceMeasurements.provenance,
    })
    .from(referenceValueSets)
    .leftJoin(referenceMeasurements, eq(referenceMeasurements.setName, referenceValueSets.name))
    .where(names === undefined ? undefined : names instanceof SQL ? names : inArray(referenceValueSets.name, [...names]))
    // COLLATE "C": byte order, the same on PGlite and on a PostgreSQL with any default locale.
    .orderBy(asc(sql`${referenceValueSets.name} collate "C"`), asc(referenceMeasurements.measurement))
  const sets: ReferenceValueSet[] = []
  let current: { set: ReferenceValueSet; measurements: ReferenceMeasurement[] } | undefined
  for (const row of rows) {
    if (current === undefined || current.set.name !== row.name) {
      const measurements: ReferenceMeasurement[] = []
      current = {
        set: {
          name: row.name,
          allowDebug: row.allowDebug,
          version: row.version,
          createdAt: row.createdAt,
          updatedAt: row.updatedAt,
          measurements,
          evidenceType: row.evidenceType,
          expectJson: row.setExpect,
          provenance: row.setProvenance,
        },
        measurements,
      }
      sets.push(current.set)
    }
    if (row.value !== null && row.valueCreatedAt !== null) {
      current.measurements.push({
        value: row.value,
        createdAt: row.valueCreatedAt,
        revokedAt: row.revokedAt,
        revokeReason: row.revokeReason,
        expectJson: row.valueExpect ?? [],
        notBefore: row.notBefore,
        notAfter: row.notAfter,
        provenance: row.valueProvenance,
      })
    }
  }
  return sets
}

/**
 * Every set that lists `measurement` (hex, either case), revoked or not, with all its
 * measurements: what appraisal needs to judge evidence that names no secret.
 *
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function findReferenceValueSetsByMeasurement(ex: Executor, measurement: string): Promise<ReferenceValueSet[]> {
  return guard('findReferenceValueSetsByMeasurement', async () => {
    // One round trip: the sets are selected by a sub-query on the indexed measurement.
    const holding = ex
      .select({ name: referenceMeasurements.setName })
      .from(referenceMeasurements)
      .where(eq(referenceMeasurements.measurement, measurement.toLowerCase()))
    return selectSets(ex, inArray(referenceValueSets.name, holding))
  })
}
