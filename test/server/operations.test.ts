import { describe, expect, it } from 'vitest'
import { toBase64Url } from '../../src/evidence/reader.js'
import { createLogger } from '../../src/log/logger.js'
import { openTestDatabase } from '../support/databases.js'
import { adminCall, startKeybroker } from '../support/keybroker.js'

describe('operations', () => {
  it('reports not ready (503 problem) once the database is gone, while staying alive', async () => {
    const database = await openTestDatabase('pglite')
    const kb = await startKeybroker(database)
    try {
      expect((await kb.raw('GET', '/readyz')).status).toBe(200)
      await database.close()
      const res = await kb.raw('GET', '/readyz')
      expect(res.status).toBe(503)
      expect(JSON.parse(res.body).type).toBe('https://keybroker.dev/problems/not-ready')
      expect((await kb.raw('GET', '/healthz')).status).toBe(200)
      // A request that needs the database fails cleanly too: a problem, not a hang or a crash.
      const admin = await adminCall(kb, 'GET', '/admin/v1/secrets')
      expect(admin.status).toBe(503)
      expect(admin.body.type).toBe('https://keybroker.dev/problems/not-ready')
    } finally {
      await kb.close()
    }
  })

  it('never logs secret values, tokens, keys, nonces or evidence during a full flow', async () => {
    const lines: string[] = []
    const database = await openTestDatabase('pglite')
    const kb = await startKeybroker(database, { KEYBROKER_LOG_LEVEL: 'debug' }, createLogger('debug', (l) => lines.push(l)))
    const value = Buffer.from('the-secret-value-that-must-not-leak')
    try {
      const M = 'ee'.repeat(48)
      expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'log-test', measurements: [M] })).status).toBe(201)
      expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'log-secret', value: toBase64Url(value), referenceValues: ['log-test'] })).status).toBe(201)
      let reportData = ''
      const { token, secrets } = await kb.client.attestAndOpen((rd) => {
        reportData = toBase64Url(rd)
        return { type: 'sample', measurement: M, reportData }
      }, ['log-secret'])
      expect(Buffer.from(secrets['log-secret'] ?? []).equals(value)).toBe(true)
      await kb.client.attestAndOpen((rd) => ({ type: 'sample', measurement: 'ff', reportData: toBase64Url(rd) }), ['log-secret']).catch(() => undefined)
      await kb.raw('POST', '/v1/attest', '{"broken', { 'Content-Type': 'application/json' })

      const log = lines.join('')
      expect(lines.length).toBeGreaterThan(5)
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow()
      for (const forbidden of [value.toString(), toBase64Url(value), token, token.split('.')[1] ?? 'x', kb.tokens.admin, reportData]) {
        expect(log).not.toContain(forbidden)
      }
      expect(log).toContain('"code":"policy-denied"')
    } finally {
      await kb.close()
      await database.close()
    }
  })
})

describe('maintenance', () => {
  it('purges the rows of expired nonces only', async () => {
    const { purgeExpiredNonces } = await import('../../src/services/maintenance.js')
    const database = await openTestDatabase('pglite')
    const kb = await startKeybroker(database)
    try {
      await kb.client.attestAndOpen((rd) => ({ type: 'sample', measurement: 'aa', reportData: toBase64Url(rd) }), [])
      expect(await purgeExpiredNonces(kb.services)).toBe(0)
      kb.clock.advance(kb.config.nonceTtlSeconds + 1)
      expect(await purgeExpiredNonces(kb.services)).toBe(1)
      expect(await purgeExpiredNonces(kb.services)).toBe(0)
    } finally {
      await kb.close()
      await database.close()
    }
  })
})
