import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { deleteCollateral, getCollateral, listCollateral, putCollateral, type Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'

const T0 = new Date('2026-01-01T00:00:00Z')
const T1 = new Date('2026-02-01T00:00:00Z')
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

describe.each(testDatabases())('collateral store on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database?.close())

  it('stores, returns, replaces, lists without bytes, and deletes by (kind, key)', async () => {
    const db = database.db
    const a = new Uint8Array([0x30, 1, 2, 3])
    const b = new Uint8Array([0x30, 9, 9])
    expect(await getCollateral(db, 'snp-vcek', 'Milan/aa/bb')).toBeUndefined()

    const first = await putCollateral(db, { kind: 'snp-vcek', key: 'Milan/aa/bb', bytes: a, uploadedAt: T0, uploadedBy: 'admin:1', notAfter: T1 })
    expect(first).toEqual({ sha256: sha(a), replacedSha256: undefined })
    expect(await getCollateral(db, 'snp-vcek', 'Milan/aa/bb')).toEqual(a)
    // Same key, other kind: a different row.
    expect(await getCollateral(db, 'snp-vlek', 'Milan/aa/bb')).toBeUndefined()

    const second = await putCollateral(db, { kind: 'snp-vcek', key: 'Milan/aa/bb', bytes: b, uploadedAt: T1, uploadedBy: 'admin:2', notAfter: null })
    expect(second).toEqual({ sha256: sha(b), replacedSha256: sha(a) })
    expect(await getCollateral(db, 'snp-vcek', 'Milan/aa/bb')).toEqual(b)

    await putCollateral(db, { kind: 'snp-ark', key: 'Milan', bytes: a, uploadedAt: T0, uploadedBy: 'admin:1', notAfter: null })
    await putCollateral(db, { kind: 'snp-ask', key: 'Milan', bytes: a, uploadedAt: T0, uploadedBy: 'admin:1', notAfter: null })
    const all = await listCollateral(db)
    expect(all.map((r) => `${r.kind} ${r.key}`)).toEqual(['snp-ark Milan', 'snp-ask Milan', 'snp-vcek Milan/aa/bb'])
    expect(all[2]).toEqual({
      kind: 'snp-vcek',
      key: 'Milan/aa/bb',
      sha256: sha(b),
      size: 3,
      uploadedAt: T1,
      uploadedBy: 'admin:2',
      notAfter: null,
    })
    expect(Object.keys(all[0] ?? {})).not.toContain('bytes')
    expect((await listCollateral(db, 'snp-ask')).map((r) => r.key)).toEqual(['Milan'])

    expect(await deleteCollateral(db, 'snp-vcek', 'Milan/aa/bb')).toBe(sha(b))
    expect(await deleteCollateral(db, 'snp-vcek', 'Milan/aa/bb')).toBeUndefined()
    expect(await getCollateral(db, 'snp-vcek', 'Milan/aa/bb')).toBeUndefined()
  })

  it('refuses a malformed kind at the database (check constraint)', async () => {
    await expect(
      putCollateral(database.db, { kind: 'SNP VCEK', key: 'x', bytes: new Uint8Array(1), uploadedAt: T0, uploadedBy: 'a', notAfter: null }),
    ).rejects.toMatchObject({ code: 'internal' })
  })
})
