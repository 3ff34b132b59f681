import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deleteTpmAk, deleteTpmCa, getTpmAk, insertTpmAk, insertTpmCa, listTpmAks, listTpmCas, type Database, type TpmAk, type TpmCa } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')
const hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

function ak(overrides: Partial<TpmAk> = {}): TpmAk {
  const spki = new Uint8Array(randomBytes(91))
  return { id: hex(spki), name: 'ak', source: 'registered', spki, tpmPublic: null, ekCertificateSha256: null, createdAt: T0, createdBy: 'token:t1', ...overrides }
}

function ca(name: string, purpose: 'ek' | 'ak'): TpmCa {
  const certificate = new Uint8Array(randomBytes(300))
  return { name, purpose, certificate, sha256: hex(certificate), subject: `CN=${name}`, notAfter: new Date('2040-01-01T00:00:00Z'), createdAt: T0, createdBy: 'token:t1' }
}

describe.each(testDatabases())('TPM trust registry on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  it('stores an AK with its bytes; a second insert of the same id keeps the first', async () => {
    const first = ak({ name: 'first', tpmPublic: new Uint8Array([0, 1, 0, 11]), source: 'enrolled', ekCertificateSha256: 'ab'.repeat(32) })
    expect(await insertTpmAk(database.db, first)).toEqual({ inserted: true, ak: first })
    const again = await insertTpmAk(database.db, { ...first, name: 'second', source: 'registered' })
    expect(again).toEqual({ inserted: false, ak: first })
    expect(await getTpmAk(database.db, first.id)).toEqual(first)
    expect(await getTpmAk(database.db, 'ff'.repeat(32))).toBeUndefined()
  })

  it('lists by id and deletes once', async () => {
    const a = ak()
    await insertTpmAk(database.db, a)
    const ids = (await listTpmAks(database.db)).map((x) => x.id)
    expect(ids).toEqual([...ids].sort())
    expect(ids).toContain(a.id)
    expect(await deleteTpmAk(database.db, a.id)).toBe(true)
    expect(await deleteTpmAk(database.db, a.id)).toBe(false)
  })

  it('refuses ids that are not a SHA-256 hex and unknown sources (CHECK constraints)', async () => {
    await expect(insertTpmAk(database.db, ak({ id: 'not-hex' }))).rejects.toMatchObject({ code: 'internal' })
  })

  it('CAs: conflict on a taken name (transaction stays usable), listed by purpose and name, deleted once', async () => {
    await insertTpmCa(database.db, ca('vendor-b', 'ek'))
    await insertTpmCa(database.db, ca('vendor-a', 'ek'))
    await insertTpmCa(database.db, ca('cloud', 'ak'))
    await database.db.transaction(async (tx) => {
      await expect(insertTpmCa(tx, ca('vendor-a', 'ak'))).rejects.toMatchObject({ code: 'conflict' })
      await insertTpmCa(tx, ca('vendor-c', 'ek'))
    })
    expect((await listTpmCas(database.db, 'ek')).map((c) => c.name)).toEqual(['vendor-a', 'vendor-b', 'vendor-c'])
    expect((await listTpmCas(database.db, 'ak')).map((c) => c.name)).toEqual(['cloud'])
    expect((await listTpmCas(database.db)).length).toBe(4)
    const stored = (await listTpmCas(database.db, 'ak'))[0]!
    expect(stored.sha256).toBe(hex(stored.certificate))
    expect(await deleteTpmCa(database.db, 'cloud')).toBe(true)
    expect(await deleteTpmCa(database.db, 'cloud')).toBe(false)
  })
})
