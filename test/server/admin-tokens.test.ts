/**
 * Admin credentials over HTTPS on both databases: create with role, label and expiry; list
 * without secrets; revoke; expired and revoked tokens get 401; the last admin token is kept
 * unless forced; the bootstrap token can be revoked and is not registered again at the next
 * start; with no admin token, start-up logs exactly one line saying how to create one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/log/logger.js'
import { NO_ADMIN_TOKEN_MESSAGE, prepareAdminAccess } from '../../src/services/admin-tokens.js'
import type { Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const BOOTSTRAP = 'bootstrap-admin-token-for-tests-0123456789'

function capture() {
  const lines: { level: string; msg: string }[] = []
  return { lines, log: createLogger('info', (l) => lines.push(JSON.parse(l) as { level: string; msg: string })) }
}

describe.each(testDatabases())('admin tokens API on %s', (engine) => {
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

  it('creates a token shown once, lists tokens without secrets or hashes, and audits both changes', async () => {
    const created = await adminCall(kb, 'POST', '/admin/v1/tokens', { role: 'registrar', label: 'publisher ci' })
    expect(created.status).toBe(201)
    expect(Object.keys(created.body).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'label', 'role', 'token'])
    expect(created.body).toMatchObject({ role: 'registrar', label: 'publisher ci', expiresAt: null })
    expect(created.body.token).toMatch(/^kb_admin_[A-Za-z0-9_-]{43}$/)
    // The new token works for its role, and only for it.
    expect((await adminCall(kb, 'GET', '/admin/v1/reference-values', undefined, created.body.token)).status).toBe(200)
    expect((await adminCall(kb, 'GET', '/admin/v1/tokens', undefined, created.body.token)).status).toBe(403)
    expect((await adminCall(kb, 'GET', '/admin/v1/tokens', undefined, kb.tokens.auditor)).status).toBe(403)

    const list = await adminCall(kb, 'GET', '/admin/v1/tokens')
    expect(list.status).toBe(200)
    const mine = list.body.tokens.find((t: { id: string }) => t.id === created.body.id)
    expect(mine).toEqual({ id: created.body.id, role: 'registrar', label: 'publisher ci', createdAt: created.body.createdAt, expiresAt: null, revokedAt: null })
    expect(JSON.stringify(list.body)).not.toContain(created.body.token)
    expect(JSON.stringify(list.body)).not.toMatch(/[0-9a-f]{64}/)

    expect((await adminCall(kb, 'DELETE', `/admin/v1/tokens/${created.body.id}`)).status).toBe(204)
    expect((await adminCall(kb, 'GET', '/admin/v1/reference-values', undefined, created.body.token)).status).toBe(401)
    expect((await adminCall(kb, 'DELETE', `/admin/v1/tokens/${created.body.id}`)).status).toBe(204)
    const after = (await adminCall(kb, 'GET', '/admin/v1/tokens')).body.tokens.find((t: { id: string }) => t.id === created.body.id)
    expect(after.revokedAt).not.toBeNull()

    const audit = (await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)).body.entries
    const about = audit.filter((e: { subject: string }) => e.subject === created.body.id).map((e: { action: string }) => e.action)
    expect(about).toEqual(['admin-token.create', 'admin-token.revoke'])
    expect(JSON.stringify(audit)).not.toContain(created.body.token)
  })

  it('refuses an expired token with 401 from its expiry on', async () => {
    const expiresAt = new Date(kb.clock.now().getTime() + 60_000).toISOString()
    const created = await adminCall(kb, 'POST', '/admin/v1/tokens', { role: 'auditor', label: 'one minute', expiresAt })
    expect(created.status).toBe(201)
    expect(created.body.expiresAt).toBe(expiresAt)
    expect((await adminCall(kb, 'GET', '/admin/v1/audit', undefined, created.body.token)).status).toBe(200)
    kb.clock.advance(61)
    try {
      const r = await adminCall(kb, 'GET', '/admin/v1/audit', undefined, created.body.token)
      expect(r.status).toBe(401)
      expect(r.body.type).toMatch(/unauthorized$/)
    } finally {
      kb.clock.reset()
    }
  })

  it.each([
    [{ role: 'root', label: 'x' }],
    [{ role: 'admin' }],
    [{ role: 'admin', label: 'x', expiresAt: 'tomorrow' }],
    [{ role: 'admin', label: 'x', expiresAt: '2001-01-01T00:00:00Z' }],
    [{ role: 'admin', label: 'x'.repeat(201) }],
    [{ role: 'admin', label: 'x', extra: 1 }],
  ])('answers 400 problem+json to %j', async (body) => {
    const r = await adminCall(kb, 'POST', '/admin/v1/tokens', body)
    expect(r.status).toBe(400)
    expect(r.headers['content-type']).toMatch(/problem\+json/)
  })

  it('answers 404 for an unknown id and 401 without a token', async () => {
    const r = await adminCall(kb, 'DELETE', '/admin/v1/tokens/00000000-0000-0000-0000-000000000000')
    expect(r.status).toBe(404)
    expect((await kb.raw('GET', '/admin/v1/tokens')).status).toBe(401)
  })

  it('keeps the last active admin token unless forced; the bootstrap token, once revoked, is not registered again', async () => {
    const s = kb.services
    const first = capture()
    await prepareAdminAccess({ ...s, log: first.log }, BOOTSTRAP)
    expect(first.lines.map((l) => l.msg)).toEqual(['bootstrap admin token registered'])
    const tokens = (await adminCall(kb, 'GET', '/admin/v1/tokens')).body.tokens as { id: string; role: string; label: string; revokedAt: string | null }[]
    const bootstrap = tokens.find((t) => t.label.startsWith('bootstrap'))!
    const testAdmin = tokens.find((t) => t.label === 'test admin')!

    // Two active admin tokens: the bootstrap one can go.
    expect((await adminCall(kb, 'DELETE', `/admin/v1/tokens/${bootstrap.id}`)).status).toBe(204)
    expect((await adminCall(kb, 'GET', '/admin/v1/tokens', undefined, BOOTSTRAP)).status).toBe(401)
    // The next start does not bring it back.
    const restart = capture()
    await prepareAdminAccess({ ...s, log: restart.log }, BOOTSTRAP)
    expect((await adminCall(kb, 'GET', '/admin/v1/tokens', undefined, BOOTSTRAP)).status).toBe(401)
    expect(restart.lines.filter((l) => l.msg === NO_ADMIN_TOKEN_MESSAGE)).toHaveLength(0)

    // The last one: 409 unless forced.
    const last = await adminCall(kb, 'DELETE', `/admin/v1/tokens/${testAdmin.id}`)
    expect(last.status).toBe(409)
    expect(last.body.type).toMatch(/conflict$/)
    expect((await adminCall(kb, 'GET', '/admin/v1/tokens')).status).toBe(200)
    expect((await adminCall(kb, 'DELETE', `/admin/v1/tokens/${testAdmin.id}?force=true`)).status).toBe(204)
    expect((await adminCall(kb, 'GET', '/admin/v1/tokens')).status).toBe(401)

    // No admin token left: exactly one line says how to create the first.
    const empty = capture()
    await prepareAdminAccess({ ...s, log: empty.log }, BOOTSTRAP)
    expect(empty.lines.filter((l) => l.level === 'warn')).toEqual([expect.objectContaining({ msg: NO_ADMIN_TOKEN_MESSAGE })])
    expect(NO_ADMIN_TOKEN_MESSAGE).toContain('keybroker admin token create --offline --role admin')
    const none = capture()
    await prepareAdminAccess({ ...s, log: none.log }, undefined)
    expect(none.lines).toEqual([expect.objectContaining({ level: 'warn', msg: NO_ADMIN_TOKEN_MESSAGE })])
  })
})
