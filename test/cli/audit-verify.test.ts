import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { eq, gt } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GENESIS_HASH, computeAuditHash } from '../../src/audit/index.js'
import { loadConfig } from '../../src/config/config.js'
import { createLogger } from '../../src/log/logger.js'
import { createAdminToken } from '../../src/services/admin-tokens.js'
import { listCheckpoints, writeAuditCheckpoint } from '../../src/services/audit-checkpoints.js'
import { createServices } from '../../src/services/services.js'
import { listAuditEntries, openDatabase } from '../../src/storage/index.js'
import { auditCheckpoints, auditHead, auditLog } from '../../src/storage/schema.js'

/** The compiled CLI, as `npm start` and the `keybroker` bin run it (`npm test` builds first). */
const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))

function run(args: string[], env: Record<string, string>) {
  const res = spawnSync(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

describe('keybroker audit verify --checkpoint (PGlite data directory)', () => {
  let dataDir: string
  let env: Record<string, string>

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keybroker-audit-cli-'))
    env = { KEYBROKER_DATA_DIR: dataDir, KEYBROKER_LOG_LEVEL: 'silent' }
  })
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true })
  })

  it('re-keys a chain written in the old format at start, and catches a truncation behind an exported checkpoint', async () => {
    const config = loadConfig(env)
    const database = await openDatabase({ dataDir: join(dataDir, 'pglite'), migrate: true })
    try {
      // Entries as an older keybroker wrote them: SHA-256 links, head format 1.
      let prev = GENESIS_HASH
      for (let id = 1; id <= 4; id++) {
        const e = { id, at: new Date(Date.UTC(2026, 0, 1, 0, 0, id)), actor: 'admin:old', action: 'secret.create', subject: `old-${id}`, outcome: 'ok', detail: { id } }
        const hash = computeAuditHash(prev, e)
        await database.db.insert(auditLog).values({ ...e, prevHash: prev, hash })
        prev = hash
      }
      await database.db.update(auditHead).set({ lastId: 4, lastHash: prev, format: 1 }).where(eq(auditHead.id, 1))

      const services = await createServices(config, createLogger('silent'), { database })
      const rekey = (await listAuditEntries(database.db, { limit: 100 })).at(-1)
      expect(rekey).toMatchObject({ id: 5, action: 'audit.rekey', detail: { entries: 4, legacyHeadHash: prev } })
      for (let i = 0; i < 3; i++) await createAdminToken(services, 'auditor', `t${i}`, 'test')
      await writeAuditCheckpoint(services)
      await writeFile(join(dataDir, 'checkpoints.json'), JSON.stringify(await listCheckpoints(services, undefined, 1000)))
      await createAdminToken(services, 'auditor', 'after', 'test')
    } finally {
      await database.close()
    }
    const intact = run(['audit', 'verify', '--checkpoint', join(dataDir, 'checkpoints.json')], env)
    expect({ status: intact.status, out: JSON.parse(intact.stdout) }).toMatchObject({ status: 0, out: { ok: true, keyed: true, entries: 9, checkpoints: { checked: 2, latestHeadId: '8' } } })

    // A database holder deletes the last three entries, moves the head back and drops the stored checkpoints.
    const tampered = await openDatabase({ dataDir: join(dataDir, 'pglite'), migrate: false })
    try {
      const six = (await listAuditEntries(tampered.db, { after: 5, limit: 1 }))[0]
      await tampered.db.delete(auditLog).where(gt(auditLog.id, 6))
      await tampered.db.update(auditHead).set({ lastId: 6, lastHash: six?.hash ?? '' }).where(eq(auditHead.id, 1))
      await tampered.db.delete(auditCheckpoints)
    } finally {
      await tampered.close()
    }
    // The database alone cannot tell…
    expect(run(['audit', 'verify'], env).status).toBe(0)
    // …the exported checkpoint can.
    const caught = run(['audit', 'verify', '--checkpoint', join(dataDir, 'checkpoints.json')], env)
    expect(caught.status).toBe(1)
    expect(JSON.parse(caught.stdout)).toMatchObject({ ok: false, reason: 'truncated', firstBadId: '7' })
  }, 300_000)
})
