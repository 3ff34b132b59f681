import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createReferenceValueSet,
  deleteReferenceValueSet,
  getReferenceValueSet,
  findReferenceValueSetsByMeasurement,
  getReferenceValueSets,
  getReferenceValueSetVersion,
  listReferenceValueSets,
  listReferenceValueSetVersions,
  replaceReferenceValueSet,
  revokeMeasurement,
  type Database,
} from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')
const T1 = new Date('2026-01-02T00:00:00.000Z')
const T2 = new Date('2026-01-03T00:00:00.000Z')
const M1 = 'aa'.repeat(48)
const M2 = 'bb'.repeat(48)
const M3 = 'cc'.repeat(48)
/** What a set and a value entered without expectations, window or provenance hold. */
const PLAIN_SET = { evidenceType: null, expectJson: [], provenance: null }
const PLAIN_VALUE = { expectJson: [], notBefore: null, notAfter: null, provenance: null }

describe.each(testDatabases())('reference values on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  it('creates a set at version 1 with lowercased, de-duplicated measurements', async () => {
    const set = await createReferenceValueSet(database.db, {
      name: 'web-v3',
      measurements: [M2, M1.toUpperCase(), M1],
      allowDebug: false,
      at: T0,
    })
    expect(set).toEqual({
      name: 'web-v3',
      allowDebug: false,
      version: 1,
      createdAt: T0,
      updatedAt: T0,
      ...PLAIN_SET,
      measurements: [
        { value: M1, createdAt: T0, revokedAt: null, revokeReason: null, ...PLAIN_VALUE },
        { value: M2, createdAt: T0, revokedAt: null, revokeReason: null, ...PLAIN_VALUE },
      ],
    })
    expect(await getReferenceValueSet(database.db, 'web-v3')).toEqual(set)
  })

  it('refuses a second set of the same name with conflict, leaving the transaction usable', async () => {
    await expect(
      createReferenceValueSet(database.db, { name: 'web-v3', measurements: [M3], allowDebug: true, at: T1 }),
    ).rejects.toMatchObject({ code: 'conflict' })
    await database.db.transaction(async (tx) => {
      await expect(
        createReferenceValueSet(tx, { name: 'web-v3', measurements: [], allowDebug: true, at: T1 }),
      ).rejects.toMatchObject({ code: 'conflict' })
      await createReferenceValueSet(tx, { name: 'empty', measurements: [], allowDebug: true, at: T1 })
    })
    expect(await getReferenceValueSet(database.db, 'empty')).toMatchObject({ version: 1, allowDebug: true, measurements: [] })
    expect((await getReferenceValueSet(database.db, 'web-v3'))?.measurements).toHaveLength(2)
  })

  it('refuses measurements that are not hex', async () => {
    await expect(
      createReferenceValueSet(database.db, { name: 'bad', measurements: ['xyz'], allowDebug: false, at: T0 }),
    ).rejects.toMatchObject({ code: 'bad-request' })
    await expect(
      createReferenceValueSet(database.db, { name: 'bad', measurements: ['abc'], allowDebug: false, at: T0 }),
    ).rejects.toMatchObject({ code: 'bad-request' })
    expect(await getReferenceValueSet(database.db, 'bad')).toBeUndefined()
  })

  it('revokes a measurement once, bumping the version; not-found for unknown set or value', async () => {
    expect(await revokeMeasurement(database.db, 'web-v3', M1.toUpperCase(), 'CVE-2026-0001', T1)).toBe(true)
    expect(await revokeMeasurement(database.db, 'web-v3', M1, 'again', T2)).toBe(false)
    const set = await getReferenceValueSet(database.db, 'web-v3')
    expect(set?.version).toBe(2)
    expect(set?.updatedAt).toEqual(T1)
    expect(set?.measurements[0]).toEqual({ value: M1, createdAt: T0, revokedAt: T1, revokeReason: 'CVE-2026-0001', ...PLAIN_VALUE })
    await expect(revokeMeasurement(database.db, 'web-v3', M3, 'x', T1)).rejects.toMatchObject({ code: 'not-found' })
    await expect(revokeMeasurement(database.db, 'nope', M1, 'x', T1)).rejects.toMatchObject({ code: 'not-found' })
  })

  it('replaces a set: version + 1, revocations kept for values still present, others dropped', async () => {
    const replaced = await replaceReferenceValueSet(database.db, 'web-v3', { measurements: [M1, M3], allowDebug: true, at: T2 })
    expect(replaced).toEqual({
      name: 'web-v3',
      allowDebug: true,
      version: 3,
      createdAt: T0,
      updatedAt: T2,
      ...PLAIN_SET,
      measurements: [
        { value: M1, createdAt: T0, revokedAt: T1, revokeReason: 'CVE-2026-0001', ...PLAIN_VALUE },
        { value: M3, createdAt: T2, revokedAt: null, revokeReason: null, ...PLAIN_VALUE },
      ],
    })
    const emptied = await replaceReferenceValueSet(database.db, 'web-v3', { measurements: [], allowDebug: false, at: T2 })
    expect(emptied).toMatchObject({ version: 4, measurements: [] })
    await replaceReferenceValueSet(database.db, 'web-v3', { measurements: [M1, M2], allowDebug: false, at: T2 })
  })

  it('refuses to replace a missing set with not-found', async () => {
    await expect(
      replaceReferenceValueSet(database.db, 'nope', { measurements: [M1], allowDebug: false, at: T1 }),
    ).rejects.toMatchObject({ code: 'not-found' })
  })

  it('gets several sets in one call, skipping unknown names', async () => {
    const sets = await getReferenceValueSets(database.db, ['web-v3', 'nope', 'empty', 'web-v3'])
    expect([...sets.keys()].sort()).toEqual(['empty', 'web-v3'])
    expect(sets.get('web-v3')?.measurements.map((m) => m.value)).toEqual([M1, M2])
    expect((await getReferenceValueSets(database.db, [])).size).toBe(0)
  })

  it('lists every set in byte order of name', async () => {
    await createReferenceValueSet(database.db, { name: 'Zeta', measurements: [M3], allowDebug: false, at: T0 })
    await createReferenceValueSet(database.db, { name: 'alpha', measurements: [M2], allowDebug: false, at: T0 })
    const list = await listReferenceValueSets(database.db)
    expect(list.map((s) => s.name)).toEqual(['Zeta', 'alpha', 'empty', 'web-v3'])
    expect(list.find((s) => s.name === 'alpha')?.measurements.map((m) => m.value)).toEqual([M2])
  })

  it('finds every set listing a measurement, revoked or not', async () => {
    const found = await findReferenceValueSetsByMeasurement(database.db, M2.toUpperCase())
    expect(found.map((s) => s.name)).toEqual(['alpha', 'web-v3'])
    expect(found.find((s) => s.name === 'web-v3')?.measurements.map((m) => m.value)).toEqual([M1, M2])
    expect(await findReferenceValueSetsByMeasurement(database.db, 'dd'.repeat(48))).toEqual([])
  })

  it('deletes a set with its measurements', async () => {
    expect(await deleteReferenceValueSet(database.db, 'alpha')).toBe(true)
    expect(await deleteReferenceValueSet(database.db, 'alpha')).toBe(false)
    expect(await getReferenceValueSet(database.db, 'alpha')).toBeUndefined()
    // The measurement rows went with it: re-creating starts clean.
    const again = await createReferenceValueSet(database.db, { name: 'alpha', measurements: [M2], allowDebug: false, at: T2 })
    expect(again.measurements).toEqual([{ value: M2, createdAt: T2, revokedAt: null, revokeReason: null, ...PLAIN_VALUE }])
  })

  it('keeps every version readable: a snapshot per change, in the same transaction', async () => {
    const versions = await listReferenceValueSetVersions(database.db, 'web-v3')
    expect(versions.map((v) => v.version)).toEqual([5, 4, 3, 2, 1])
    const v1 = await getReferenceValueSetVersion(database.db, 'web-v3', 1)
    expect(v1?.snapshot).toMatchObject({ version: 1, allowDebug: false, measurements: [{ value: M1, revokedAt: null }, { value: M2 }] })
    const v2 = await getReferenceValueSetVersion(database.db, 'web-v3', 2)
    expect(v2?.snapshot).toMatchObject({ version: 2, measurements: [{ value: M1, revokedAt: T1.toISOString(), revokeReason: 'CVE-2026-0001' }, { value: M2 }] })
    expect(await getReferenceValueSetVersion(database.db, 'web-v3', 99)).toBeUndefined()
    expect(await listReferenceValueSetVersions(database.db, 'nope')).toEqual([])
  })

  it('stores typed values: expectations, validity windows and provenance, updated on replace', async () => {
    const provenance = { source: 'bundle', signer: 'ab'.repeat(32), bundleDigest: 'cd'.repeat(32), signedAt: T0.toISOString() }
    const set = await createReferenceValueSet(database.db, {
      name: 'typed',
      evidenceType: 'snp',
      expect: [{ claim: 'tcb.snp', atLeast: 8 }],
      values: [{ measurement: M1, expect: [{ claim: 'hostData', equals: '00'.repeat(32) }], notBefore: T0, notAfter: T2 }],
      allowDebug: false,
      provenance,
      at: T0,
    })
    expect(set).toMatchObject({ evidenceType: 'snp', expectJson: [{ claim: 'tcb.snp', atLeast: 8 }], provenance })
    expect(set.measurements[0]).toMatchObject({ value: M1, notBefore: T0, notAfter: T2, provenance, expectJson: [{ claim: 'hostData', equals: '00'.repeat(32) }] })
    await revokeMeasurement(database.db, 'typed', M1, 'superseded', T1)
    const admin = { source: 'admin', by: 'tok-1' }
    const replaced = await replaceReferenceValueSet(database.db, 'typed', { values: [{ measurement: M1 }], measurements: [M2], allowDebug: false, provenance: admin, at: T2 })
    expect(replaced.version).toBe(3)
    expect(replaced.measurements[0]).toMatchObject({ value: M1, revokedAt: T1, notBefore: null, provenance: admin, expectJson: [] })
    expect(replaced.measurements[1]).toMatchObject({ value: M2, provenance: admin })
    await expect(
      createReferenceValueSet(database.db, { name: 'window', values: [{ measurement: M1, notBefore: T2, notAfter: T0 }], allowDebug: false, at: T0 }),
    ).rejects.toMatchObject({ code: 'bad-request' })
  })
})
