/** Named, versioned reference value sets and their (revocable) measurements. */
import { and, asc, eq, inArray, isNull, notInArray, sql } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { Executor } from './db.js'
import { referenceMeasurements, referenceValueSets } from './schema.js'
import { guard } from './storage-error.js'

export interface ReferenceMeasurement {
  /** Lowercase hex. */
  readonly value: string
  readonly createdAt: Date
  readonly revokedAt: Date | null
  readonly revokeReason: string | null
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
}

export interface ReferenceValueSetInput {
  /** Hex, either case; stored lowercase, duplicates collapsed. May be empty. */
  readonly measurements: readonly string[]
  readonly allowDebug: boolean
  readonly at: Date
}

const HEX_BYTES = /^(?:[0-9a-f]{2})+$/

/** Lowercases, validates and de-duplicates measurements (sorted, for stable storage order). */
function normalizeMeasurements(measurements: readonly string[]): string[] {
  const out = new Set<string>()
  for (const m of measurements) {
    const lower = m.toLowerCase()
    if (!HEX_BYTES.test(lower)) throw new KeybrokerError('bad-request', 'a measurement is not non-empty hex of whole bytes')
    out.add(lower)
  }
  return [...out].sort()
}

/**
 * Creates set `name` at version 1 with the given measurements (lowercased, de-duplicated).
 * Atomic: in its own transaction, or a savepoint of the caller's.
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
    const measurements = normalizeMeasurements(input.measurements)
    return ex.transaction(async (tx) => {
      const created = await tx
        .insert(referenceValueSets)
        .values({ name: input.name, allowDebug: input.allowDebug, version: 1, createdAt: input.at, updatedAt: input.at })
        .onConflictDoNothing({ target: referenceValueSets.name })
        .returning({ name: referenceValueSets.name })
      if (created.length === 0) throw new KeybrokerError('conflict', `reference value set ${input.name} already exists`)
      if (measurements.length > 0) {
        await tx
          .insert(referenceMeasurements)
          .values(measurements.map((measurement) => ({ setName: input.name, measurement, createdAt: input.at })))
      }
      return mustGet(tx, input.name)
    })
  })
}

/**
 * Replaces the measurements and `allowDebug` of set `name` and increments its version.
 * Measurements present before and after keep their `createdAt` and any revocation (re-listing a
 * revoked value does not un-revoke it); measurements not listed any more are removed.
 *
 * @throws KeybrokerError `not-found` when the set does not exist; `bad-request` for a measurement
 *   that is not hex; `not-ready` / `internal` on database failure.
 */
export function replaceReferenceValueSet(ex: Executor, name: string, input: ReferenceValueSetInput): Promise<ReferenceValueSet> {
  return guard('replaceReferenceValueSet', async () => {
    const measurements = normalizeMeasurements(input.measurements)
    return ex.transaction(async (tx) => {
      // The UPDATE row-locks the set, so concurrent replaces of one set apply one after the other.
      const updated = await tx
        .update(referenceValueSets)
        .set({ allowDebug: input.allowDebug, version: sql`${referenceValueSets.version} + 1`, updatedAt: input.at })
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
      if (measurements.length > 0) {
        await tx
          .insert(referenceMeasurements)
          .values(measurements.map((measurement) => ({ setName: name, measurement, createdAt: input.at })))
          .onConflictDoNothing({ target: [referenceMeasurements.setName, referenceMeasurements.measurement] })
      }
      return mustGet(tx, name)
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
 * set's version. Returns `true` when this call revoked it, `false` when it was already revoked
 * (the first revocation and its reason are kept, the version does not change).
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
 * Deletes set `name` and its measurements. Returns `false` when it did not exist. Secrets that
 * name the set keep the name; appraisal treats an unknown set as matching nothing.
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

async function mustGet(ex: Executor, name: string): Promise<ReferenceValueSet> {
  const set = (await selectSets(ex, [name]))[0]
  if (set === undefined) throw new KeybrokerError('internal', `reference value set ${name} vanished inside its transaction`)
  return set
}

/** One LEFT JOIN query for the sets named (all sets when `names` is undefined), grouped in order. */
async function selectSets(ex: Executor, names: readonly string[] | undefined): Promise<ReferenceValueSet[]> {
  const rows = await ex
    .select({
      name: referenceValueSets.name,
      allowDebug: referenceValueSets.allowDebug,
      version: referenceValueSets.version,
      createdAt: referenceValueSets.createdAt,
      updatedAt: referenceValueSets.updatedAt,
      value: referenceMeasurements.measurement,
      valueCreatedAt: referenceMeasurements.createdAt,
      revokedAt: referenceMeasurements.revokedAt,
      revokeReason: referenceMeasurements.revokeReason,
    })
    .from(referenceValueSets)
    .leftJoin(referenceMeasurements, eq(referenceMeasurements.setName, referenceValueSets.name))
    .where(names === undefined ? undefined : inArray(referenceValueSets.name, [...names]))
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
    const rows = await ex
      .select({ name: referenceMeasurements.setName })
      .from(referenceMeasurements)
      .where(eq(referenceMeasurements.measurement, measurement.toLowerCase()))
    return rows.length === 0 ? [] : selectSets(ex, rows.map((r) => r.name))
  })
}
