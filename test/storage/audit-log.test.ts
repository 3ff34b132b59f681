import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GENESIS_HASH } from '../../src/audit/index.js'
import {
  appendAuditEntry,
  consumeNonce,
  listAuditEntries,
  verifyAuditChain,
  type Database,
  type NewAuditEntry,
} from '../../src/storage/index.js'
import { auditHead, auditLog } from '../../src/storage/schema.js'
import { testDatabases } from '../support/databases.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')
const entry = (n: number, detail: NewAuditEntry['detail'] = { n }): NewAuditEntry => ({
  at: new Date(T0.getTime() + n),
  actor: 'admin:t1',
  action: 'secret.create',
  subject: `s-${n}`,
  outcome: 'success',
  detail,
})

describe.each(testDatabases())('audit log on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  /** Runs `tamper`, checks what verification says, then restores the table and head exactly. */
  async function expectTamperDetected(tamper: () => Promise<unknown>, expected: Record<string, unknown>): Promise<void> {
    const rows = await database.db.select().from(auditLog)
    const heads = await database.db.select().from(auditHead)
    await tamper()
    expect(await verifyAuditChain(database.db, { pageSize: 2 })).toEqual({ ok: false, ...expected })
    await database.db.delete(auditLog)
    await database.db.insert(auditLog).values(rows)
    await database.db.delete(auditHead)
    await database.db.insert(auditHead).values(heads)
    expect((await verifyAuditChain(database.db)).ok).toBe(true)
  }

  it('verifies an empty log', async () => {
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, entries: 0 })
  })

  it('appends entries 1, 2, 3 linked by hash', async () => {
    const first = await appendAuditEntry(database.db, entry(1))
    const second = await appendAuditEntry(database.db, entry(2, { z: 1, a: { nested: ['x', 2.5, null, true] }, u: 'ünï\u2028' }))
    const third = await database.db.transaction((tx) => appendAuditEntry(tx, entry(3)))
    expect([first.id, second.id, third.id]).toEqual([1, 2, 3])
    const entries = await listAuditEntries(database.db, { limit: 10 })
    expect(entries.map((e) => e.id)).toEqual([1, 2, 3])
    expect(entries[0]).toMatchObject({ ...entry(1), prevHash: GENESIS_HASH, hash: first.hash })
    expect(entries[1]).toMatchObject({ prevHash: first.hash, hash: second.hash })
    expect(entries[1]?.detail).toEqual({ a: { nested: ['x', 2.5, null, true] }, u: 'ünï\u2028', z: 1 })
    expect(entries[2]?.prevHash).toBe(second.hash)
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, entries: 3 })
  })

  it('leaves no entry and no gap when the audited transaction rolls back', async () => {
    await expect(
      database.db.transaction(async (tx) => {
        await consumeNonce(tx, 'rolled-back', T0, T0)
        await appendAuditEntry(tx, entry(99))
        throw new Error('abort')
      }),
    ).rejects.toThrow('abort')
    expect((await listAuditEntries(database.db, { after: 3, limit: 10 })).length).toBe(0)
    expect((await appendAuditEntry(database.db, entry(4))).id).toBe(4)
    expect(await consumeNonce(database.db, 'rolled-back', T0, T0)).toBe(true)
  })

  it('pages with after (number or bigint) and limit, and validates them', async () => {
    await appendAuditEntry(database.db, entry(5))
    expect((await listAuditEntries(database.db, { after: 1, limit: 2 })).map((e) => e.id)).toEqual([2, 3])
    expect((await listAuditEntries(database.db, { after: 3n, limit: 100 })).map((e) => e.id)).toEqual([4, 5])
    await expect(listAuditEntries(database.db, { limit: 0 })).rejects.toMatchObject({ code: 'bad-request' })
    await expect(listAuditEntries(database.db, { after: -1, limit: 1 })).rejects.toMatchObject({ code: 'bad-request' })
    await expect(listAuditEntries(database.db, { after: 2n ** 60n, limit: 1 })).rejects.toMatchObject({ code: 'bad-request' })
    expect(await verifyAuditChain(database.db, { pageSize: 2 })).toEqual({ ok: true, entries: 5 })
  })

  it('detects an UPDATE of a row', async () => {
    await expectTamperDetected(
      () => database.db.update(auditLog).set({ detail: { n: 666 } }).where(eq(auditLog.id, 3)),
      { entries: 2, firstBadId: 3, reason: 'hash-mismatch' },
    )
    await expectTamperDetected(
      () => database.db.update(auditLog).set({ outcome: 'denied' }).where(eq(auditLog.id, 1)),
      { entries: 0, firstBadId: 1, reason: 'hash-mismatch' },
    )
  })

  it('detects a DELETE of a middle row', async () => {
    await expectTamperDetected(() => database.db.delete(auditLog).where(eq(auditLog.id, 3)), {
      entries: 2,
      firstBadId: 3,
      reason: 'missing-entry',
    })
  })

  it('detects a deleted row whose successor was renumbered (broken link)', async () => {
    await expectTamperDetected(
      async () => {
        await database.db.delete(auditLog).where(eq(auditLog.id, 3))
        await database.db.update(auditLog).set({ id: 3 }).where(eq(auditLog.id, 4))
      },
      { entries: 2, firstBadId: 3, reason: 'broken-link' },
    )
  })

  it('detects a DELETE of the last row, and a missing head', async () => {
    await expectTamperDetected(() => database.db.delete(auditLog).where(eq(auditLog.id, 5)), {
      entries: 4,
      firstBadId: 5,
      reason: 'head-mismatch',
    })
    await expectTamperDetected(() => database.db.delete(auditHead), { entries: 0, firstBadId: 1, reason: 'head-mismatch' })
  })

  it('refuses to append without a head row', async () => {
    const heads = await database.db.select().from(auditHead)
    await database.db.delete(auditHead)
    await expect(appendAuditEntry(database.db, entry(6))).rejects.toMatchObject({ code: 'internal' })
    await database.db.insert(auditHead).values(heads)
  })

  it('refuses a detail that is not JSON without writing anything', async () => {
    await expect(appendAuditEntry(database.db, entry(6, { bad: Number.NaN }))).rejects.toMatchObject({ code: 'internal' })
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, entries: 5 })
  })

  it('keeps one intact chain under 20 concurrent transactions', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        database.db.transaction(async (tx) => {
          await consumeNonce(tx, `concurrent-${i}`, T0, T0)
          return appendAuditEntry(tx, entry(100 + i))
        }),
      ),
    )
    expect(results.map((r) => r.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => 6 + i))
    expect(await verifyAuditChain(database.db, { pageSize: 7 })).toEqual({ ok: true, entries: 25 })
  })
})
