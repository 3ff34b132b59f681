import { describe, expect, it } from 'vitest'
import { AuditWriter } from '../../src/services/audit-writer.js'
import { randomBytes } from 'node:crypto'
import { auditKeyFromBytes } from '../../src/audit/index.js'
import { appendAuditEntriesAtHead, appendAuditEntry, listAuditEntries, readAuditHead, rekeyAuditChain, verifyAuditChain } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'

const KEY = auditKeyFromBytes(1, randomBytes(32))

describe.each(testDatabases())('AuditWriter (group commit) on %s', (engine) => {
  it('commits every entry of concurrent callers, in one intact chain, before resolving', async () => {
    const database = await engine.open()
    try {
      await rekeyAuditChain(database.db, KEY, () => ({ at: new Date(), actor: 'test', action: 'audit.rekey', subject: '-', outcome: 'ok', detail: {} }))
      const writer = new AuditWriter(database, KEY)
      const at = new Date('2026-11-23T12:00:00Z')
      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          writer.append({ at, actor: 'attester', action: 'release', subject: `s${i}`, outcome: 'ok', detail: { i } }),
        ),
      )
      const entries = await listAuditEntries(database.db, { limit: 1000 })
      expect(entries).toHaveLength(60)
      expect(new Set(entries.map((e) => e.subject)).size).toBe(60)
      expect(entries.map((e) => e.id)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1))
      expect(await verifyAuditChain(database.db, KEY)).toMatchObject({ ok: true, entries: 60 })
      // Entries appended afterwards continue the same chain.
      await writer.append({ at, actor: 'attester', action: 'attest', subject: '-', outcome: 'denied', detail: {} })
      expect(await verifyAuditChain(database.db, KEY)).toMatchObject({ ok: true, entries: 61 })
    } finally {
      await database.close()
    }
  })

  it('keeps one chain when two writers (two replicas) and an admin transaction append to the same head', async () => {
    const database = await engine.open()
    try {
      await rekeyAuditChain(database.db, KEY, () => ({ at: new Date(), actor: 'test', action: 'audit.rekey', subject: '-', outcome: 'ok', detail: {} }))
      const one = new AuditWriter(database, KEY)
      const two = new AuditWriter(database, KEY)
      const at = new Date('2026-11-23T12:00:00Z')
      // Awkward detail text: quotes, backslashes, braces, non-ASCII, nesting. Stored and hashed alike.
      const detail = { q: 'a"b\\c{d}', u: 'é☃', n: { a: [1, 2.5, null, true] } }
      for (let round = 0; round < 4; round++) {
        await Promise.all([
          ...Array.from({ length: 10 }, (_, i) => one.append({ at, actor: 'one', action: 'release', subject: `r${round}-${i}`, outcome: 'ok', detail })),
          ...Array.from({ length: 10 }, (_, i) => two.append({ at, actor: 'two', action: 'release', subject: `r${round}-${i}`, outcome: 'ok', detail })),
          appendAuditEntry(database.db, KEY, { at, actor: 'admin', action: 'secret.update', subject: `r${round}`, outcome: 'ok', detail: {} }),
        ])
      }
      expect(await verifyAuditChain(database.db, KEY)).toMatchObject({ ok: true, entries: 84 })
      const entries = await listAuditEntries(database.db, { limit: 1000 })
      expect(entries.filter((e) => e.actor === 'one')[0]?.detail).toEqual(detail)
    } finally {
      await database.close()
    }
  })

  it('an append at a head that has moved writes nothing and says so', async () => {
    const database = await engine.open()
    try {
      await rekeyAuditChain(database.db, KEY, () => ({ at: new Date(), actor: 'test', action: 'audit.rekey', subject: '-', outcome: 'ok', detail: {} }))
      const entry = { at: new Date(), actor: 'a', action: 'b', subject: 'c', outcome: 'ok', detail: {} }
      const head = await readAuditHead(database.db)
      if (head === undefined) throw new Error('no head')
      const first = await appendAuditEntriesAtHead(database.db, KEY, head, [entry, entry])
      expect(first?.head.lastId).toBe(head.lastId + 2)
      // The same (now stale) head again: nothing written, the chain unchanged.
      expect(await appendAuditEntriesAtHead(database.db, KEY, head, [entry])).toBeUndefined()
      expect(await verifyAuditChain(database.db, KEY)).toMatchObject({ ok: true, entries: 2 })
      // A head with the right id but another hash does not match either.
      expect(await appendAuditEntriesAtHead(database.db, KEY, { lastId: head.lastId + 2, lastHash: head.lastHash }, [entry])).toBeUndefined()
      expect(await verifyAuditChain(database.db, KEY)).toMatchObject({ ok: true, entries: 2 })
    } finally {
      await database.close()
    }
  })

  it('rejects every waiting caller when the batch cannot be written (no hang, nothing half-written)', async () => {
    const database = await engine.open()
    const writer = new AuditWriter(database, KEY)
    await database.close()
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => writer.append({ at: new Date(), actor: 'a', action: 'b', subject: 'c', outcome: 'ok', detail: {} })),
    )
    expect(results.map((r) => r.status)).toEqual(Array(5).fill('rejected'))
  })
})
