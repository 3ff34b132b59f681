/**
 * `POST /admin/v1/bundles {"cosmianSnapshot": …, "name": …}` over HTTPS on both databases: the
 * snapshot of test/vectors/cosmian becomes a `cosmian` set with its provenance, the same snapshot
 * again is `unchanged`, a changed one a new version, and bad input a named 400.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const SNAPSHOT = JSON.parse(readFileSync(new URL('../vectors/cosmian/snapshot.derived.json', import.meta.url), 'utf8')) as Record<string, any>

describe.each(testDatabases())('Cosmian snapshot import on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  const registrar = (body: unknown) => adminCall(kb, 'POST', '/admin/v1/bundles', body, kb.tokens.registrar)

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, { KEYBROKER_BODY_LIMIT_BYTES: String(4 * 1024 * 1024) })
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('imports the snapshot as a cosmian set with its provenance; again: unchanged; changed: a new version', async () => {
    const first = await registrar({ cosmianSnapshot: SNAPSHOT, name: 'cvm-web' })
    expect(first.status).toBe(200)
    expect(first.body).toMatchObject({ format: 'cosmian-snapshot', status: 'imported', signer: null })
    expect(first.body.referenceValues[0]).toMatchObject({
      name: 'cvm-web',
      evidenceType: 'cosmian',
      provenance: { source: 'cosmian-snapshot', cloudType: null, files: 439, documentDigest: first.body.digest },
    })
    expect(first.body.fields).toContainEqual({ field: 'tee_policy.Sev.report_data', to: ['volatile (not expected)'] })
    expect((await registrar({ cosmianSnapshot: SNAPSHOT, name: 'cvm-web' })).body.status).toBe('unchanged')
    const rebooted = { ...SNAPSHOT, tpm_policy: { reset_count: 26, restart_count: 0 } }
    const second = await registrar({ cosmianSnapshot: rebooted, name: 'cvm-web' })
    expect(second.body.status).toBe('imported')
    expect(second.body.referenceValues[0].version).toBeGreaterThan(first.body.referenceValues[0].version)
    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=50')
    expect(JSON.stringify(audit.body.entries)).toContain('cosmian-snapshot')
  })

  it('an unknown key is a 400 bundle-malformed naming it; the auditor may not import', async () => {
    const bad = await registrar({ cosmianSnapshot: { ...SNAPSHOT, tee_policy: { Sev: { ...SNAPSHOT['tee_policy'].Sev, vmpl: 1 } } }, name: 'cvm-bad' })
    expect(bad.status).toBe(400)
    expect(bad.body.type).toMatch(/bundle-malformed$/)
    expect(bad.body.detail).toContain('tee_policy.Sev.vmpl')
    expect((await registrar({ cosmianSnapshot: SNAPSHOT, name: 'cvm-x', extra: 1 })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/bundles', { cosmianSnapshot: SNAPSHOT, name: 'cvm-y' }, kb.tokens.auditor)).status).toBe(403)
  })
})
