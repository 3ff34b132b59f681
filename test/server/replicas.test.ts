import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAttestationKey, KeybrokerClientError, reportDataFor } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { openDatabase, type Database } from '../../src/storage/index.js'
import { lastTokenDenialRules } from '../support/audit.js'
import { postgresTestUrl, testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const M = 'e7'.repeat(48)
const sample = (measurement: string) => (reportData: Uint8Array) => ({ type: 'sample', measurement, reportData: toBase64Url(reportData), debug: false })

async function deniedRules(p: Promise<unknown>): Promise<string[]> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof KeybrokerClientError) || err.code !== 'policy-denied') throw new Error(`expected policy-denied, got ${String(err)}`)
  return (err.problem.failedRules as { rule: string }[]).map((r) => r.rule)
}

async function problemCode(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof KeybrokerClientError)) throw new Error(`expected a problem, got ${String(err)}`)
  return err.code
}

/**
 * Two service instances on one database (docs/architecture.md, "Stateless": replicas behind a load balancer share one
 * PostgreSQL, the KEK and the token key). On PostgreSQL each instance has its own connection
 * pool to the same database; on PGlite (single process) they share the embedded instance.
 */
describe.each(testDatabases())('two instances sharing one database on %s', (engine) => {
  const databases: Database[] = []
  let a: TestKeybroker
  let b: TestKeybroker
  let keyDir: string
  let dropScratch: (() => Promise<void>) | undefined

  beforeAll(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'keybroker-replicas-'))
    const tokenKey = join(keyDir, 'token.pem')
    await writeFile(tokenKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 })
    const env = { KEYBROKER_KEK: randomBytes(32).toString('base64'), KEYBROKER_TOKEN_KEY_FILE: tokenKey }
    const adminUrl = postgresTestUrl()
    if (engine.kind === 'postgres' && adminUrl !== undefined) {
      const name = `kb_replicas_${process.pid}_${randomBytes(4).toString('hex')}`
      const admin = new pg.Client({ connectionString: adminUrl })
      await admin.connect()
      await admin.query(`CREATE DATABASE "${name}"`)
      await admin.end()
      dropScratch = async () => {
        const c = new pg.Client({ connectionString: adminUrl })
        await c.connect()
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
        await c.end()
      }
      const url = new URL(adminUrl)
      url.pathname = `/${name}`
      databases.push(await openDatabase({ databaseUrl: url.toString(), migrate: true }))
      databases.push(await openDatabase({ databaseUrl: url.toString(), migrate: false }))
    } else {
      const shared = await engine.open()
      databases.push(shared, shared)
    }
    a = await startKeybroker(databases[0]!, env)
    b = await startKeybroker(databases[1]!, env)
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    for (const d of new Set(databases)) await d.close()
    await dropScratch?.()
    await rm(keyDir, { recursive: true, force: true })
  })

  it('a revocation made on one instance holds on the other from the next request on', async () => {
    expect((await adminCall(a, 'POST', '/admin/v1/reference-values', { name: 'shared', measurements: [M] })).status).toBe(201)
    expect((await adminCall(a, 'POST', '/admin/v1/secrets', { name: 'shared-secret', generate: { bytes: 32 }, referenceValues: ['shared'] })).status).toBe(201)

    const fromB = await b.client.attestAndOpen(sample(M), ['shared-secret'])
    expect(fromB.secrets['shared-secret']?.byteLength).toBe(32)
    // A token issued by B is good at A (same token key) and vice versa.
    expect((await a.client.secret('shared-secret', fromB)).name).toBe('shared-secret')

    expect((await adminCall(a, 'POST', '/admin/v1/reference-values/shared/revoke', { measurement: M, reason: 'CVE-2026-0002' })).status).toBe(200)

    expect(await deniedRules(b.client.attestAndOpen(sample(M), ['shared-secret']))).toContain('measurement-in-reference-values')
    // The token path answers every refusal alike; the audit entry names the failed rule.
    await expect(b.client.secret('shared-secret', fromB)).rejects.toMatchObject({ code: 'policy-denied' })
    expect(await lastTokenDenialRules(b, 'shared-secret')).toContain('measurement-in-reference-values')
    await expect(a.client.secret('shared-secret', fromB)).rejects.toMatchObject({ code: 'policy-denied' })
    expect(await lastTokenDenialRules(a, 'shared-secret')).toContain('measurement-in-reference-values')
  })

  it('a new policy version written on one instance decides on the other at once', async () => {
    expect((await adminCall(a, 'POST', '/admin/v1/reference-values', { name: 'shared-2', measurements: ['e8'.repeat(48)] })).status).toBe(201)
    expect((await adminCall(a, 'POST', '/admin/v1/policies', { name: 'flip', rules: [{ name: 'open', expr: 'true' }] })).status).toBe(201)
    expect((await adminCall(a, 'POST', '/admin/v1/secrets', { name: 'flip-secret', generate: { bytes: 16 }, referenceValues: ['shared-2'], policy: 'flip' })).status).toBe(201)
    expect((await b.client.attestAndOpen(sample('e8'.repeat(48)), ['flip-secret'])).secrets['flip-secret']?.byteLength).toBe(16)
    expect((await adminCall(a, 'PUT', '/admin/v1/policies/flip', { rules: [{ name: 'closed', expr: 'false' }] })).body.version).toBe(2)
    expect(await deniedRules(b.client.attestAndOpen(sample('e8'.repeat(48)), ['flip-secret']))).toEqual(['closed'])
  })
  it('a nonce from one instance is accepted once by either, and its replay refused by both', async () => {
    expect((await adminCall(a, 'POST', '/admin/v1/reference-values', { name: 'shared-3', measurements: ['e9'.repeat(48)] })).status).toBe(201)
    const key = await generateAttestationKey()
    const { nonce } = await a.client.challenge()
    const body = { nonce, evidence: sample('e9'.repeat(48))(await reportDataFor(nonce, key)), publicKey: key.publicJwk }
    // Stateless nonce: B checks A's MAC and consumes it in the shared database.
    expect((await b.client.attest(body)).token).toBeTypeOf('string')
    expect(await problemCode(a.client.attest(body))).toBe('nonce-reused')
    expect(await problemCode(b.client.attest(body))).toBe('nonce-reused')

    // Concurrent: one fresh nonce posted to both at once is accepted exactly once.
    for (let round = 0; round < 5; round++) {
      const fresh = await b.client.challenge()
      const replayed = { nonce: fresh.nonce, evidence: sample('e9'.repeat(48))(await reportDataFor(fresh.nonce, key)), publicKey: key.publicJwk }
      const outcomes = await Promise.all([a, b, a, b].map((kb) => kb.client.attest(replayed).then(() => 'ok', (e: unknown) => problemCode(Promise.reject(e)))))
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1)
      expect(outcomes.filter((o) => o !== 'ok')).toEqual(['nonce-reused', 'nonce-reused', 'nonce-reused'])
    }
  })
})
