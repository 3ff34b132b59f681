import { createHash } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  findActiveAdminTokenByHash,
  insertAdminToken,
  listAdminTokens,
  revokeAdminToken,
  type Database,
} from '../../src/storage/index.js'
import { adminTokens } from '../../src/storage/schema.js'
import { testDatabases } from '../support/databases.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')
const T1 = new Date('2026-01-02T00:00:00.000Z')
const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex')

describe.each(testDatabases())('admin tokens on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  it('stores a token and finds it by hash while active', async () => {
    const info = await insertAdminToken(database.db, { id: 't1', tokenHash: hashOf('secret-1'), role: 'admin', label: 'ops', at: T0 })
    expect(info).toEqual({ id: 't1', role: 'admin', label: 'ops', createdAt: T0, expiresAt: null, revokedAt: null })
    expect(await findActiveAdminTokenByHash(database.db, hashOf('secret-1'), T1)).toEqual({ id: 't1', role: 'admin', label: 'ops' })
    expect(await findActiveAdminTokenByHash(database.db, hashOf('other'), T1)).toBeUndefined()
  })

  it('refuses a duplicate id or hash with conflict, leaving the transaction usable', async () => {
    await insertAdminToken(database.db, { id: 't2', tokenHash: hashOf('secret-2'), role: 'registrar', label: 'ci', at: T0 })
    await expect(
      insertAdminToken(database.db, { id: 't2', tokenHash: hashOf('secret-x'), role: 'admin', label: 'dup id', at: T0 }),
    ).rejects.toMatchObject({ code: 'conflict' })
    await database.db.transaction(async (tx) => {
      await expect(
        insertAdminToken(tx, { id: 't-dup-hash', tokenHash: hashOf('secret-2'), role: 'admin', label: 'dup hash', at: T0 }),
      ).rejects.toMatchObject({ code: 'conflict' })
      await insertAdminToken(tx, { id: 't3', tokenHash: hashOf('secret-3'), role: 'auditor', label: 'audit', at: T1 })
    })
    expect(await findActiveAdminTokenByHash(database.db, hashOf('secret-3'), T1)).toMatchObject({ id: 't3', role: 'auditor' })
  })

  it('refuses a hash that is not 64 lowercase hex digits', async () => {
    await expect(
      insertAdminToken(database.db, { id: 't-bad', tokenHash: hashOf('x').toUpperCase(), role: 'admin', label: 'bad', at: T0 }),
    ).rejects.toMatchObject({ code: 'bad-request' })
  })

  it('revokes once, keeps the first revocation time, and stops finding the token', async () => {
    expect(await revokeAdminToken(database.db, 't1', T1)).toBe(true)
    expect(await revokeAdminToken(database.db, 't1', new Date('2027-01-01T00:00:00Z'))).toBe(false)
    expect(await revokeAdminToken(database.db, 'no-such-token', T1)).toBe(false)
    expect(await findActiveAdminTokenByHash(database.db, hashOf('secret-1'), T1)).toBeUndefined()
  })

  it('stops finding a token at its expiry', async () => {
    await insertAdminToken(database.db, { id: 't-exp', tokenHash: hashOf('secret-exp'), role: 'admin', label: 'short', at: T0, expiresAt: T1 })
    expect(await findActiveAdminTokenByHash(database.db, hashOf('secret-exp'), T0)).toMatchObject({ id: 't-exp' })
    expect(await findActiveAdminTokenByHash(database.db, hashOf('secret-exp'), T1)).toBeUndefined()
    await database.db.delete(adminTokens).where(eq(adminTokens.id, 't-exp'))
  })

  it('lists every token without hashes, oldest first', async () => {
    const list = await listAdminTokens(database.db)
    expect(list.map((t) => t.id)).toEqual(['t1', 't2', 't3'])
    expect(list[0]).toEqual({ id: 't1', role: 'admin', label: 'ops', createdAt: T0, expiresAt: null, revokedAt: T1 })
    for (const t of list) expect(Object.keys(t)).not.toContain('tokenHash')
  })
})
