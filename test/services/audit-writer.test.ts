import { describe, expect, it } from 'vitest'
import { AuditWriter } from '../../src/services/audit-writer.js'
import { randomBytes } from 'node:crypto'
import { auditKeyFromBytes } from '../../src/audit/index.js'
import { listAuditEntries, rekeyAuditChain, verifyAuditChain } from '../../src/storage/index.js'
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
