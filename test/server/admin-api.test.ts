import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { auditLog, secrets, secretVersions } from '../../src/storage/schema.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const M1 = '11'.repeat(48)
const M2 = '22'.repeat(48)
const PLAINTEXT = Buffer.from('top-secret-value-0123456789abcdef')

describe.each(testDatabases())('admin API on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('manages reference-value sets: create, read, list, replace, revoke, delete', async () => {
    const created = await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'img', measurements: [M1.toUpperCase()] }, kb.tokens.registrar)
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ name: 'img', version: 1, allowDebug: false, measurements: [{ value: M1, revokedAt: null }] })
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'img', measurements: [M1] })).status).toBe(409)

    const replaced = await adminCall(kb, 'PUT', '/admin/v1/reference-values/img', { measurements: [M1, M2], allowDebug: true })
    expect(replaced.status).toBe(200)
    expect(replaced.body.version).toBe(2)
    expect(replaced.body.measurements.map((m: { value: string }) => m.value)).toEqual([M1, M2])

    const revoked = await adminCall(kb, 'POST', '/admin/v1/reference-values/img/revoke', { measurement: M1, reason: 'vulnerable firmware' })
    expect(revoked.status).toBe(200)
    expect(revoked.body.measurements[0]).toMatchObject({ value: M1, revokeReason: 'vulnerable firmware' })
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values/img/revoke', { measurement: 'ff'.repeat(48), reason: 'x' })).status).toBe(404)

    const list = await adminCall(kb, 'GET', '/admin/v1/reference-values', undefined, kb.tokens.auditor)
    expect(list.body.referenceValues.map((s: { name: string }) => s.name)).toContain('img')
    expect((await adminCall(kb, 'GET', '/admin/v1/reference-values/img', undefined, kb.tokens.auditor)).body.version).toBe(3)

    expect((await adminCall(kb, 'DELETE', '/admin/v1/reference-values/img')).status).toBe(204)
    expect((await adminCall(kb, 'GET', '/admin/v1/reference-values/img')).status).toBe(404)
    expect((await adminCall(kb, 'DELETE', '/admin/v1/reference-values/img')).status).toBe(404)
  })

  it('manages secrets: create, metadata only, versions, rotate, disable, delete', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'app', measurements: [M1] })).status).toBe(201)
    const created = await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'app-key', value: toBase64Url(PLAINTEXT), referenceValues: ['app'] })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ name: 'app-key', kind: 'opaque', version: 1, state: 'enabled', referenceValues: ['app'] })
    expect(Object.keys(created.body).sort()).toEqual(['createdAt', 'kind', 'name', 'policy', 'referenceValues', 'state', 'updatedAt', 'version'])
    expect(created.body.policy).toBeNull()
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'app-key', generate: { bytes: 32 }, referenceValues: [] })).status).toBe(409)

    const luks = await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'luks-root', kind: 'luks', generate: { bytes: 64 }, referenceValues: ['app'] })
    expect(luks.status).toBe(201)
    expect(luks.body.kind).toBe('luks')

    const updated = await adminCall(kb, 'PUT', '/admin/v1/secrets/app-key', { value: toBase64Url(Buffer.from('v2')), referenceValues: [] })
    expect(updated.body).toMatchObject({ version: 2, referenceValues: [] })
    const rotated = await adminCall(kb, 'POST', '/admin/v1/secrets/luks-root/rotate')
    expect(rotated.body.version).toBe(2)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/luks-root/disable')).body.state).toBe('disabled')
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/luks-root/enable')).body.state).toBe('enabled')
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/nope/rotate')).status).toBe(404)
    expect((await adminCall(kb, 'PUT', '/admin/v1/secrets/nope', { generate: { bytes: 16 } })).status).toBe(404)

    const list = await adminCall(kb, 'GET', '/admin/v1/secrets', undefined, kb.tokens.auditor)
    expect(list.status).toBe(200)
    expect(list.body.secrets.map((s: { name: string }) => s.name)).toEqual(['app-key', 'luks-root'])
    expect(JSON.stringify(list.body)).not.toContain(toBase64Url(PLAINTEXT))

    expect((await adminCall(kb, 'DELETE', '/admin/v1/secrets/luks-root')).status).toBe(204)
    expect((await adminCall(kb, 'GET', '/admin/v1/secrets/luks-root')).status).toBe(404)
  })

  it('rotation releases new bytes of the same length', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'rot', measurements: [M2] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'rot-key', generate: { bytes: 48 }, referenceValues: ['rot'] })).status).toBe(201)
    const sample = (reportData: Uint8Array) => ({ type: 'sample', measurement: M2, reportData: toBase64Url(reportData) })
    const before = (await kb.client.attestAndOpen(sample, ['rot-key'])).secrets['rot-key']
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/rot-key/rotate')).status).toBe(200)
    const after = (await kb.client.attestAndOpen(sample, ['rot-key'])).secrets['rot-key']
    expect(after?.byteLength).toBe(48)
    expect(Buffer.from(after ?? []).equals(Buffer.from(before ?? []))).toBe(false)
  })

  it('stores no plaintext at rest: the raw rows hold only envelopes', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'raw-check', value: toBase64Url(PLAINTEXT), referenceValues: [] })).status).toBe(201)
    const rows = await database.db.select().from(secretVersions).where(eq(secretVersions.secretName, 'raw-check'))
    expect(rows).toHaveLength(1)
    const row = rows[0]!
    const raw = Buffer.from(row.envelope)
    expect(raw.byteLength).toBeGreaterThan(PLAINTEXT.byteLength)
    expect(raw.includes(PLAINTEXT)).toBe(false)
    expect(raw.includes(PLAINTEXT.subarray(0, 8))).toBe(false)
    expect(row.kekId).toBe(kb.services.keks.current.id)
    // The metadata row has no trace of the value either.
    expect(JSON.stringify(await database.db.select().from(secrets))).not.toContain(PLAINTEXT.toString())
  })

  it('audits every admin change with the token id, never the token or the value', async () => {
    const page = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const entries = page.body.entries as { action: string; actor: string; detail: unknown }[]
    const actions = entries.map((e) => e.action)
    for (const a of ['reference-values.create', 'reference-values.replace', 'reference-values.revoke', 'reference-values.delete', 'secret.create', 'secret.update', 'secret.rotate', 'secret.disable', 'secret.enable', 'secret.delete']) {
      expect(actions).toContain(a)
    }
    const text = JSON.stringify(page.body)
    expect(text).not.toContain(kb.tokens.admin)
    expect(text).not.toContain(toBase64Url(PLAINTEXT))
    expect(entries.find((e) => e.action === 'secret.create')?.actor).toMatch(/^admin-token:/)
    // Paging: `after` and `next` walk the whole log.
    const first = await adminCall(kb, 'GET', '/admin/v1/audit?limit=2', undefined, kb.tokens.auditor)
    expect(first.body.entries).toHaveLength(2)
    const second = await adminCall(kb, 'GET', `/admin/v1/audit?limit=2&after=${first.body.next}`, undefined, kb.tokens.auditor)
    expect(Number(second.body.entries[0].id)).toBeGreaterThan(Number(first.body.next))
  })

  it('detects a tampered audit entry through the API', async () => {
    expect((await adminCall(kb, 'GET', '/admin/v1/audit/verify', undefined, kb.tokens.auditor)).body.ok).toBe(true)
    const [second] = await database.db.select({ id: auditLog.id }).from(auditLog).orderBy(auditLog.id).offset(1).limit(1)
    await database.db.update(auditLog).set({ subject: 'forged' }).where(eq(auditLog.id, second!.id))
    const verified = await adminCall(kb, 'GET', '/admin/v1/audit/verify', undefined, kb.tokens.auditor)
    expect(verified.body).toMatchObject({ ok: false, reason: 'hash-mismatch' })
  })

  it('answers health and readiness', async () => {
    expect((await kb.raw('GET', '/healthz')).status).toBe(200)
    expect(JSON.parse((await kb.raw('GET', '/readyz')).body)).toEqual({ status: 'ready' })
    const discovery = JSON.parse((await kb.raw('GET', '/.well-known/openid-configuration')).body)
    expect(discovery).toMatchObject({ issuer: 'https://keybroker.test', jwks_uri: 'https://keybroker.test/.well-known/jwks.json' })
    expect(discovery.evidence_types_supported).toContain('sample')
  })
})
