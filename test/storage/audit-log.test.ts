import { eq, gt } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { GENESIS_HASH, auditKeyFromBytes, computeAuditHash, computeAuditMac } from '../../src/audit/index.js'
import {
  appendAuditEntry,
  consumeNonce,
  listAuditEntries,
  readAuditHead,
  rekeyAuditChain,
  verifyAuditChain,
  type Database,
  type NewAuditEntry,
} from '../../src/storage/index.js'
import { auditHead, auditLog } from '../../src/storage/schema.js'
import { testDatabases } from '../support/databases.js'

const KEY = auditKeyFromBytes(1, randomBytes(32))
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
    // A fresh database starts in the unkeyed format; start-up converts it (here: empty, no entry).
    expect(await rekeyAuditChain(database.db, KEY, () => entry(0))).toMatchObject({ status: 'rekeyed', entries: 0, entry: undefined })
  })
  afterAll(() => database.close())

  /** Runs `tamper`, checks what verification says, then restores the table and head exactly. */
  async function expectTamperDetected(tamper: () => Promise<unknown>, expected: Record<string, unknown>): Promise<void> {
    const rows = await database.db.select().from(auditLog)
    const heads = await database.db.select().from(auditHead)
    await tamper()
    expect(await verifyAuditChain(database.db, KEY, { pageSize: 2 })).toMatchObject({ ok: false, ...expected })
    await database.db.delete(auditLog)
    await database.db.insert(auditLog).values(rows)
    await database.db.delete(auditHead)
    await database.db.insert(auditHead).values(heads)
    expect((await verifyAuditChain(database.db, KEY)).ok).toBe(true)
  }

  it('verifies an empty log', async () => {
    expect(await verifyAuditChain(database.db, KEY)).toMatchObject({ ok: true, entries: 0 })
  })

  it('appends entries 1, 2, 3 linked by hash', async () => {
    const first = await appendAuditEntry(database.db, KEY, entry(1))
    const second = await appendAuditEntry(database.db, KEY, entry(2, { z: 1, a: { nested: ['x', 2.5, null, true] }, u: 'ünï\u2028' }))
    const third = await database.db.transaction((tx) => appendAuditEntry(tx, KEY, entry(3)))
    expect([first.id, second.id, third.id]).toEqual([1, 2, 3])
    const entries = await listAuditEntries(database.db, { limit: 10 })
    expect(entries.map((e) => e.id)).toEqual([1, 2, 3])
    expect(entries[0]).toMatchObject({ ...entry(1), prevHash: GENESIS_HASH, hash: first.hash })
    expect(entries[1]).toMatchObject({ prevHash: first.hash, hash: second.hash })
    expect(entries[1]?.detail).toEqual({ a: { nested: ['x', 2.5, null, true] }, u: 'ünï\u2028', z: 1 })
    expect(entries[2]?.prevHash).toBe(second.hash)
    expect(await verifyAuditChain(database.db, KEY)).toMatchObject({ ok: true, entries: 3 })
  })

  it('leaves no entry and no gap when the audited transaction rolls back', async () => {
    await expect(
      database.db.transaction(async (tx) => {
        await consumeNonce(tx, 'rolled-back', T0, T0)
        await appendAuditEntry(tx, KEY, entry(99))
        throw new Error('abort')
      }),
    ).rejects.toThrow('abort')
    expect((await listAuditEntries(database.db, { after: 3, limit: 10 })).length).toBe(0)
    expect((await appendAuditEntry(database.db, KEY, entry(4))).id).toBe(4)
    expect(await consumeNonce(database.db, 'rolled-back', T0, T0)).toBe(true)
  })

  it('pages with after (number or bigint) and limit, and validates them', async () => {
    await appendAuditEntry(database.db, KEY, entry(5))
    expect((await listAuditEntries(database.db, { after: 1, limit: 2 })).map((e) => e.id)).toEqual([2, 3])
    expect((await listAuditEntries(database.db, { after: 3n, limit: 100 })).map((e) => e.id)).toEqual([4, 5])
    await expect(listAuditEntries(database.db, { limit: 0 })).rejects.toMatchObject({ code: 'bad-request' })
    await expect(listAuditEntries(database.db, { after: -1, limit: 1 })).rejects.toMatchObject({ code: 'bad-request' })
    await expect(listAuditEntries(database.db, { after: 2n ** 60n, limit: 1 })).rejects.toMatchObject({ code: 'bad-request' })
    expect(await verifyAuditChain(database.db, KEY, { pageSize: 2 })).toMatchObject({ ok: true, entries: 5 })
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
    await expect(appendAuditEntry(database.db, KEY, entry(6))).rejects.toMatchObject({ code: 'internal' })
    await database.db.insert(auditHead).values(heads)
  })

  it('refuses a detail that is not JSON without writing anything', async () => {
    await expect(appendAuditEntry(database.db, KEY, entry(6, { bad: Number.NaN }))).rejects.toMatchObject({ code: 'internal' })
    expect(await verifyAuditChain(database.db, KEY)).toMatchObject({ ok: true, entries: 5 })
  })

  it('keeps one intact chain under 20 concurrent transactions', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        database.db.transaction(async (tx) => {
          await consumeNonce(tx, `concurrent-${i}`, T0, T0)
          return appendAuditEntry(tx, KEY, entry(100 + i))
        }),
      ),
    )
    expect(results.map((r) => r.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => 6 + i))
    expect(await verifyAuditChain(database.db, KEY, { pageSize: 7 })).toMatchObject({ ok: true, entries: 25 })
  })
  it('detects the issue-11 attack: row 4 edited, every later hash recomputed with the unkeyed function, the head moved', async () => {
    // Before the chain was keyed this passed: computeAuditHash is public and needs no key.
    for (const link of [
      (prev: string, row: Parameters<typeof computeAuditHash>[1]) => computeAuditHash(prev, row),
      // A writer guessing at a key fares no better.
      (prev: string, row: Parameters<typeof computeAuditHash>[1]) => computeAuditMac(auditKeyFromBytes(1, randomBytes(32)), prev, row),
    ]) {
      await expectTamperDetected(
        async () => {
          await database.db.update(auditLog).set({ outcome: 'denied', detail: { n: 4, forged: true } }).where(eq(auditLog.id, 4))
          const rows = await listAuditEntries(database.db, { limit: 1000 })
          let prev = GENESIS_HASH
          for (const row of rows) {
            const hash = row.id < 4 ? row.hash : link(prev, row)
            await database.db.update(auditLog).set({ prevHash: prev, hash }).where(eq(auditLog.id, row.id))
            prev = hash
          }
          await database.db.update(auditHead).set({ lastHash: prev }).where(eq(auditHead.id, 1))
        },
        { entries: 3, firstBadId: 4, reason: 'hash-mismatch' },
      )
    }
  })

  it('cannot see a tail deleted with the head moved back by itself (the checkpoints do: test/server/audit-checkpoints)', async () => {
    const rows = await database.db.select().from(auditLog)
    const heads = await database.db.select().from(auditHead)
    const five = rows.find((r) => r.id === 5)
    await database.db.delete(auditLog).where(gt(auditLog.id, 5))
    await database.db.update(auditHead).set({ lastId: 5, lastHash: five?.hash ?? '' }).where(eq(auditHead.id, 1))
    expect(await verifyAuditChain(database.db, KEY)).toMatchObject({ ok: true, entries: 5 })
    await database.db.delete(auditLog)
    await database.db.insert(auditLog).values(rows)
    await database.db.delete(auditHead)
    await database.db.insert(auditHead).values(heads)
  })
})

describe.each(testDatabases())('re-keying a chain written in the unkeyed format on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  /** Writes entries exactly as keybroker did before the audit key: SHA-256 links, head format 1. */
  async function writeLegacyChain(n: number): Promise<string> {
    let prev = GENESIS_HASH
    for (let id = 1; id <= n; id++) {
      const e = { ...entry(id), id }
      const hash = computeAuditHash(prev, e)
      await database.db.insert(auditLog).values({ ...e, prevHash: prev, hash })
      prev = hash
    }
    await database.db.update(auditHead).set({ lastId: n, lastHash: prev, format: 1 }).where(eq(auditHead.id, 1))
    return prev
  }

  it('verifies the old chain as it is, converts it once with an audited entry, then verifies it keyed', async () => {
    const legacyHead = await writeLegacyChain(6)
    expect(await verifyAuditChain(database.db, KEY)).toMatchObject({ ok: true, entries: 6, head: { format: 1 } })
    await expect(appendAuditEntry(database.db, KEY, entry(7))).rejects.toMatchObject({ code: 'internal' })
    const at = new Date('2026-12-05T00:00:00Z')
    const result = await rekeyAuditChain(
      database.db,
      KEY,
      (c) => ({ at, actor: 'keybroker', action: 'audit.rekey', subject: 'audit-log', outcome: 'ok', detail: { ...c } }),
      { pageSize: 4 },
    )
    expect(result).toMatchObject({ status: 'rekeyed', entries: 6, legacyHeadHash: legacyHead, entry: { id: 7 } })
    expect(await verifyAuditChain(database.db, KEY, { pageSize: 3 })).toMatchObject({ ok: true, entries: 7, head: { format: 2 } })
    const rows = await listAuditEntries(database.db, { limit: 100 })
    expect(rows.at(-1)).toMatchObject({ action: 'audit.rekey', detail: { entries: 6, legacyHeadHash: legacyHead } })
    // Every link is now the HMAC; the old hashes are gone, the fields unchanged.
    expect(rows[0]).toMatchObject({ ...entry(1), hash: computeAuditMac(KEY, GENESIS_HASH, rows[0] ?? { ...entry(1), id: 1 }) })
    expect(await rekeyAuditChain(database.db, KEY, () => entry(0))).toEqual({ status: 'keyed' })
    expect((await appendAuditEntry(database.db, KEY, entry(8))).id).toBe(8)
    // With another key the converted chain does not verify.
    expect(await verifyAuditChain(database.db, auditKeyFromBytes(1, randomBytes(32)))).toMatchObject({ ok: false, firstBadId: 1, reason: 'hash-mismatch' })
  })

  it('leaves a broken old chain untouched and reports where it breaks', async () => {
    const fresh = await engine.open()
    try {
      let prev = GENESIS_HASH
      for (let id = 1; id <= 3; id++) {
        const e = { ...entry(id), id }
        const hash = computeAuditHash(prev, e)
        await fresh.db.insert(auditLog).values({ ...e, prevHash: prev, hash })
        prev = hash
      }
      await fresh.db.update(auditHead).set({ lastId: 3, lastHash: prev, format: 1 }).where(eq(auditHead.id, 1))
      await fresh.db.update(auditLog).set({ subject: 'edited' }).where(eq(auditLog.id, 2))
      const result = await rekeyAuditChain(fresh.db, KEY, () => entry(0))
      expect(result).toMatchObject({ status: 'broken', verification: { ok: false, firstBadId: 2, reason: 'hash-mismatch' } })
      expect(await readAuditHead(fresh.db)).toMatchObject({ format: 1, lastId: 3 })
    } finally {
      await fresh.close()
    }
  })
})
