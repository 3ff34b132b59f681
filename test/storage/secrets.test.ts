import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  addSecretVersion,
  createSecret,
  deleteSecret,
  getCurrentSecretVersion,
  getCurrentSecretVersions,
  getSecretMeta,
  listSecretMeta,
  setSecretReferenceValues,
  setSecretState,
  type Database,
} from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')
const T1 = new Date('2026-01-02T00:00:00.000Z')
const T2 = new Date('2026-01-03T00:00:00.000Z')
const bytes = (...values: number[]): Uint8Array => new Uint8Array(values)

describe.each(testDatabases())('secrets on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  it('creates a secret at version 1, enabled, metadata without the envelope', async () => {
    const meta = await createSecret(database.db, {
      name: 'db-password',
      kind: 'opaque',
      referenceValues: ['web-v3', 'web-v4'],
      kekId: 'kek-1',
      envelope: bytes(1, 2, 3, 0, 255),
      at: T0,
    })
    const expected = {
      name: 'db-password',
      kind: 'opaque',
      state: 'enabled',
      currentVersion: 1,
      referenceValues: ['web-v3', 'web-v4'],
      policy: null,
      createdAt: T0,
      updatedAt: T0,
    }
    expect(meta).toEqual(expected)
    expect(await getSecretMeta(database.db, 'db-password')).toEqual(expected)
    expect(await getSecretMeta(database.db, 'nope')).toBeUndefined()
  })

  it('returns the current version with its envelope as a Uint8Array', async () => {
    const current = await getCurrentSecretVersion(database.db, 'db-password')
    expect(current?.version).toBe(1)
    expect(current?.kekId).toBe('kek-1')
    expect(current?.envelope).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(current?.envelope)).toBe(false)
    expect([...(current?.envelope ?? [])]).toEqual([1, 2, 3, 0, 255])
    expect(await getCurrentSecretVersion(database.db, 'nope')).toBeUndefined()
  })

  it('refuses a second secret of the same name with conflict, leaving the transaction usable', async () => {
    await database.db.transaction(async (tx) => {
      await expect(
        createSecret(tx, { name: 'db-password', kind: 'luks', referenceValues: [], kekId: 'k', envelope: bytes(9), at: T1 }),
      ).rejects.toMatchObject({ code: 'conflict' })
      await createSecret(tx, { name: 'luks-root', kind: 'luks', referenceValues: [], kekId: 'kek-1', envelope: bytes(7), at: T1 })
    })
    expect((await getCurrentSecretVersion(database.db, 'db-password'))?.meta.kind).toBe('opaque')
  })

  it('adds versions with consecutive numbers and makes the newest current', async () => {
    expect(await addSecretVersion(database.db, 'db-password', { kekId: 'kek-2', envelope: bytes(4, 5), at: T1 })).toBe(2)
    const versions = await Promise.all(
      [10, 11, 12].map((b) => addSecretVersion(database.db, 'db-password', { kekId: 'kek-2', envelope: bytes(b), at: T2 })),
    )
    expect(versions.sort()).toEqual([3, 4, 5])
    const current = await getCurrentSecretVersion(database.db, 'db-password')
    expect(current?.version).toBe(5)
    expect(current?.meta).toMatchObject({ currentVersion: 5, updatedAt: T2, createdAt: T0 })
    await expect(
      addSecretVersion(database.db, 'nope', { kekId: 'k', envelope: bytes(1), at: T1 }),
    ).rejects.toMatchObject({ code: 'not-found' })
  })

  it('disables and enables a secret; not-found when missing', async () => {
    expect(await setSecretState(database.db, 'luks-root', 'disabled', T2)).toMatchObject({ state: 'disabled', updatedAt: T2 })
    expect((await getCurrentSecretVersion(database.db, 'luks-root'))?.meta.state).toBe('disabled')
    expect(await setSecretState(database.db, 'luks-root', 'enabled', T2)).toMatchObject({ state: 'enabled' })
    await expect(setSecretState(database.db, 'nope', 'disabled', T2)).rejects.toMatchObject({ code: 'not-found' })
  })

  it('replaces the reference value sets of a secret; not-found when missing', async () => {
    const meta = await setSecretReferenceValues(database.db, 'luks-root', ['disk-v1'], T2)
    expect(meta).toMatchObject({ referenceValues: ['disk-v1'], updatedAt: T2, currentVersion: 1 })
    expect((await getSecretMeta(database.db, 'luks-root'))?.referenceValues).toEqual(['disk-v1'])
    await expect(setSecretReferenceValues(database.db, 'nope', [], T2)).rejects.toMatchObject({ code: 'not-found' })
  })

  it('gets several current versions in one call, skipping unknown names', async () => {
    const map = await getCurrentSecretVersions(database.db, ['db-password', 'luks-root', 'nope'])
    expect([...map.keys()].sort()).toEqual(['db-password', 'luks-root'])
    expect(map.get('luks-root')).toMatchObject({ version: 1, kekId: 'kek-1' })
    expect(map.get('db-password')).toMatchObject({ version: 5, kekId: 'kek-2', meta: { currentVersion: 5 } })
    expect((await getCurrentSecretVersions(database.db, [])).size).toBe(0)
  })

  it('lists metadata in byte order of name, never an envelope', async () => {
    const list = await listSecretMeta(database.db)
    expect(list.map((m) => m.name)).toEqual(['db-password', 'luks-root'])
    for (const meta of list) expect(Object.keys(meta)).not.toContain('envelope')
  })

  it('deletes a secret with all its versions', async () => {
    expect(await deleteSecret(database.db, 'db-password')).toBe(true)
    expect(await deleteSecret(database.db, 'db-password')).toBe(false)
    expect(await getCurrentSecretVersion(database.db, 'db-password')).toBeUndefined()
    const again = await createSecret(database.db, {
      name: 'db-password',
      kind: 'opaque',
      referenceValues: [],
      kekId: 'kek-3',
      envelope: bytes(42),
      at: T2,
    })
    expect(again.currentVersion).toBe(1)
    expect([...((await getCurrentSecretVersion(database.db, 'db-password'))?.envelope ?? [])]).toEqual([42])
  })
})
