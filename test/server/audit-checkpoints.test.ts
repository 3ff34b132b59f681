import { generateKeyPairSync } from 'node:crypto'
import { CompactSign } from 'jose'
import { eq, gt } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GENESIS_HASH, computeAuditMac } from '../../src/audit/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { verifyAudit } from '../../src/services/audit.js'
import { CHECKPOINT_TYP } from '../../src/services/audit-checkpoints.js'
import { scheduleMaintenance } from '../../src/services/maintenance.js'
import { listAuditEntries, type Database } from '../../src/storage/index.js'
import { auditCheckpoints, auditHead, auditLog } from '../../src/storage/schema.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

describe.each(testDatabases())('signed audit checkpoints on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let exported: string[]

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, { KEYBROKER_AUDIT_CHECKPOINT_SECONDS: '1' })
    for (let i = 0; i < 6; i++) {
      expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: `cp-${i}`, value: toBase64Url(Buffer.from(`v${i}`)), referenceValues: [] })).status).toBe(201)
    }
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  /** Snapshot of the log, its head and the stored checkpoints, restored after each attack. */
  async function withRestore(attack: () => Promise<void>): Promise<void> {
    const rows = await database.db.select().from(auditLog)
    const heads = await database.db.select().from(auditHead)
    const cps = await database.db.select().from(auditCheckpoints)
    try {
      await attack()
    } finally {
      await database.db.delete(auditLog)
      await database.db.insert(auditLog).values(rows)
      await database.db.delete(auditHead)
      await database.db.insert(auditHead).values(heads)
      await database.db.delete(auditCheckpoints)
      await database.db.insert(auditCheckpoints).overridingSystemValue().values(cps)
    }
    expect(await verifyAudit(kb.services, exported)).toMatchObject({ ok: true })
  }

  it('writes a checkpoint on demand (admin only, audited) and exports it to auditors', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/audit/checkpoints', undefined, kb.tokens.auditor)).status).toBe(403)
    const made = await adminCall(kb, 'POST', '/admin/v1/audit/checkpoints')
    expect(made.status).toBe(201)
    const entries = await listAuditEntries(database.db, { limit: 1000 })
    // The checkpoint covers the head before it; its own audit entry follows.
    expect(entries.at(-1)).toMatchObject({ action: 'audit.checkpoint', subject: made.body.id, detail: { headId: made.body.headId } })
    expect(Number(made.body.headId)).toBe(entries.length - 1)
    expect(made.body.headHash).toBe(entries.at(-2)?.hash)
    const list = await adminCall(kb, 'GET', '/admin/v1/audit/checkpoints', undefined, kb.tokens.auditor)
    expect(list.status).toBe(200)
    expect(list.body.checkpoints.at(-1)).toEqual(made.body)
    exported = list.body.checkpoints.map((c: { jws: string }) => c.jws)
    const verified = await adminCall(kb, 'GET', '/admin/v1/audit/verify', undefined, kb.tokens.auditor)
    expect(verified.body).toMatchObject({ ok: true, keyed: true, checkpoints: { checked: 1, latestHeadId: made.body.headId } })
    // Entries after the checkpoint are fine.
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'after-cp', generate: { bytes: 16 }, referenceValues: [] })).status).toBe(201)
    expect(await verifyAudit(kb.services, exported)).toMatchObject({ ok: true })
  })

  it('detects a deleted tail with the head moved back, behind an exported checkpoint, even with the stored checkpoints gone', async () => {
    await withRestore(async () => {
      const keep = 3
      const kept = (await listAuditEntries(database.db, { limit: 1000 })).find((e) => e.id === keep)
      await database.db.delete(auditLog).where(gt(auditLog.id, keep))
      await database.db.update(auditHead).set({ lastId: keep, lastHash: kept?.hash ?? '' }).where(eq(auditHead.id, 1))
      // With the stored checkpoints, the database alone shows it.
      expect(await verifyAudit(kb.services)).toMatchObject({ ok: false, reason: 'truncated' })
      // A database holder deletes those too: the chain alone now looks intact…
      await database.db.delete(auditCheckpoints)
      expect(await verifyAudit(kb.services)).toMatchObject({ ok: true, entries: keep })
      // …but not against the checkpoint exported before.
      expect(await verifyAudit(kb.services, exported)).toMatchObject({ ok: false, reason: 'truncated', firstBadId: String(keep + 1) })
    })
  })

  it('detects a rewrite by someone holding the audit key, behind an exported checkpoint', async () => {
    await withRestore(async () => {
      await database.db.update(auditLog).set({ subject: 'rewritten' }).where(eq(auditLog.id, 2))
      const rows = await listAuditEntries(database.db, { limit: 1000 })
      let prev = GENESIS_HASH
      for (const row of rows) {
        const hash = computeAuditMac(kb.services.auditKey, prev, row)
        await database.db.update(auditLog).set({ prevHash: prev, hash }).where(eq(auditLog.id, row.id))
        prev = hash
      }
      await database.db.update(auditHead).set({ lastHash: prev }).where(eq(auditHead.id, 1))
      await database.db.delete(auditCheckpoints)
      expect(await verifyAudit(kb.services)).toMatchObject({ ok: true })
      expect(await verifyAudit(kb.services, exported)).toMatchObject({ ok: false, reason: 'checkpoint-mismatch' })
    })
  })

  it('refuses a checkpoint not signed by the token key', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const forged = await new CompactSign(new TextEncoder().encode(JSON.stringify({ iss: kb.config.issuer, headId: 1, headHash: 'a'.repeat(64), at: new Date().toISOString(), format: 2 })))
      .setProtectedHeader({ alg: 'ES256', kid: kb.services.keys.current.kid, typ: CHECKPOINT_TYP })
      .sign(privateKey)
    expect(await verifyAudit(kb.services, [forged])).toMatchObject({ ok: false, reason: 'checkpoint-invalid' })
    // An EAR token is no checkpoint either.
    const { token } = await kb.client.attestAndOpen((rd) => ({ type: 'sample', measurement: 'ab'.repeat(48), reportData: toBase64Url(rd), debug: false }), [])
    expect(await verifyAudit(kb.services, [token])).toMatchObject({ ok: false, reason: 'checkpoint-invalid' })
  })

  it('writes checkpoints periodically when the head moved', async () => {
    const before = (await database.db.select().from(auditCheckpoints)).length
    const maintenance = scheduleMaintenance(kb.services)
    try {
      expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'periodic', generate: { bytes: 16 }, referenceValues: [] })).status).toBe(201)
      const deadline = Date.now() + 20_000
      while ((await database.db.select().from(auditCheckpoints)).length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    } finally {
      maintenance.stop()
    }
    const rows = await database.db.select().from(auditCheckpoints)
    expect(rows.length).toBe(before + 1)
    const head = (await database.db.select().from(auditHead))[0]
    expect(rows.at(-1)).toMatchObject({ headId: head?.lastId, headHash: head?.lastHash })
  })
})
