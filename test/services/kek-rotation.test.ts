/**
 * KEK rotation over every stored envelope (secret versions, sealing-key versions, CA keys), on
 * both databases: a start with a KEK that opens none of them is refused, naming the setting;
 * with the earlier KEK in KEYBROKER_KEK_PREVIOUS everything works; `rewrap` re-seals in audited
 * batches, survives an interruption and continues; afterwards the earlier KEK can be dropped.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { createLogger } from '../../src/log/logger.js'
import { createKekRing, kekFromBase64, openAtRest } from '../../src/secrets/index.js'
import { envelopeAad, kekStatus, rewrapEnvelopes } from '../../src/services/envelope-store.js'
import { createServices, openAuditKey } from '../../src/services/services.js'
import { ENVELOPE_KINDS, listAuditEntries, verifyAuditChain, selectEnvelopesNotUnder, type Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const M = 'a7'.repeat(48)
const sample = (reportData: Uint8Array) => ({ type: 'sample', measurement: M, reportData: toBase64Url(reportData), debug: false })
const KEK_A = randomBytes(32).toString('base64')
const KEK_B = randomBytes(32).toString('base64')
const silent = createLogger('silent')

function configWith(env: Record<string, string>) {
  return loadConfig({ KEYBROKER_DATA_DIR: '/nonexistent-keybroker-test', KEYBROKER_LOG_LEVEL: 'silent', ...env })
}

async function startError(database: Database, env: Record<string, string>): Promise<unknown> {
  return createServices(configWith(env), silent, { database }).then(
    () => undefined,
    (err: unknown) => err,
  )
}

describe.each(testDatabases())('KEK rotation on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker | undefined
  const secrets = ['s1', 's2', 's3']

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, { KEYBROKER_KEK: KEK_A })
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'img', measurements: [M] })).status).toBe(201)
    for (const name of secrets) {
      expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name, generate: { bytes: 32 }, referenceValues: ['img'] })).status).toBe(201)
    }
    expect((await adminCall(kb, 'PUT', '/admin/v1/secrets/s1', { generate: { bytes: 32 } })).status).toBe(200)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'disks', referenceValues: ['img'] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/cas', { name: 'workloads', keyType: 'P-256' })).status).toBe(201)
    await kb.close()
    kb = undefined
  }, 300_000)

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('refuses to start with a KEK that opens none of the stored envelopes, naming the setting', async () => {
    const err = await startError(database, { KEYBROKER_KEK: KEK_B })
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).setting).toBe('KEYBROKER_KEK_PREVIOUS')
    const a = kekFromBase64(KEK_A)
    expect((err as ConfigError).message).toContain(a.id)
    expect((err as ConfigError).message).not.toContain(KEK_A)
    expect((err as ConfigError).message).not.toContain(KEK_B)
  })

  it('opens envelopes sealed under an earlier KEK given in KEYBROKER_KEK_PREVIOUS, and seals new ones under the current KEK', async () => {
    kb = await startKeybroker(database, { KEYBROKER_KEK: KEK_B, KEYBROKER_KEK_PREVIOUS: KEK_A })
    const released = await kb.client.attestAndOpen(sample, secrets)
    for (const name of secrets) expect(released.secrets[name]?.byteLength).toBe(32)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 's4', generate: { bytes: 16 }, referenceValues: ['img'] })).status).toBe(201)
    const status = await kekStatus(kb.services)
    const a = kekFromBase64(KEK_A).id
    const b = kekFromBase64(KEK_B).id
    expect(status).toMatchObject({ current: b, previous: [a], unknown: [], unused: [] })
    // 3 secrets + one more version of s1 under A, s4 under B; one sealing-key version, one CA key, the audit key.
    expect(status.envelopes).toEqual(
      expect.arrayContaining([
        { kind: 'secret-version', kekId: a, count: 4, known: true },
        { kind: 'secret-version', kekId: b, count: 1, known: true },
        { kind: 'sealing-key-version', kekId: a, count: 1, known: true },
        { kind: 'ca-key', kekId: a, count: 1, known: true },
        { kind: 'audit-key', kekId: a, count: 1, known: true },
      ]),
    )
    expect(status.pending).toBe(7)
    await kb.close()
    kb = undefined
  })

  it('rewraps in audited batches; an interrupted run continues where it stopped; then the earlier KEK can be dropped', async () => {
    const keks = createKekRing(kekFromBase64(KEK_B), [kekFromBase64(KEK_A)])
    const both = { database, keks, now: () => new Date(), auditKey: await openAuditKey(database, keks, new Date()) }
    // Interrupted: the process dies after its second batch committed (here: the callback throws).
    let seen = 0
    await expect(
      rewrapEnvelopes(both, {
        batchSize: 2,
        onBatch: () => {
          seen += 1
          if (seen === 2) throw new Error('killed')
        },
      }),
    ).rejects.toThrow('killed')
    expect((await kekStatus(both)).pending).toBe(3)
    // Still refused without A: two envelopes need it.
    expect(await startError(database, { KEYBROKER_KEK: KEK_B })).toBeInstanceOf(ConfigError)

    const limited = await rewrapEnvelopes(both, { batchSize: 1, maxBatches: 1 })
    expect(limited).toMatchObject({ rewrapped: 1, batches: 1, remaining: 2, complete: false, failed: [] })
    const rest = await rewrapEnvelopes(both, { batchSize: 100 })
    expect(rest).toMatchObject({ rewrapped: 2, remaining: 0, complete: true, failed: [] })
    expect(await rewrapEnvelopes(both)).toMatchObject({ rewrapped: 0, batches: 0, complete: true })
    const status = await kekStatus(both)
    expect(status.unused).toEqual([kekFromBase64(KEK_A).id])

    // Every envelope opens with B alone, bound to its own row.
    const onlyB = createKekRing(kekFromBase64(KEK_B))
    let opened = 0
    for (const kind of ENVELOPE_KINDS) {
      for (const row of await selectEnvelopesNotUnder(database.db, kind, 'none', 1000)) {
        expect(row.kekId).toBe(onlyB.current.id)
        openAtRest(onlyB, row.envelope, envelopeAad(row)).fill(0)
        opened += 1
      }
    }
    expect(opened).toBe(8)

    // Audited: one entry per committed batch, the chain intact.
    const entries = (await listAuditEntries(database.db, { limit: 1000 })).filter((e) => e.action === 'kek.rewrap')
    expect(entries.reduce((n, e) => n + Number((e.detail as { rewrapped: number }).rewrapped), 0)).toBe(7)
    expect(new Set(entries.map((e) => e.subject))).toEqual(new Set(['secret-version', 'sealing-key-version', 'ca-key', 'audit-key']))
    expect(entries.every((e) => (e.detail as { to: string }).to === onlyB.current.id)).toBe(true)
    expect((await verifyAuditChain(database.db, both.auditKey)).ok).toBe(true)

    // The earlier KEK dropped: the service starts and releases.
    kb = await startKeybroker(database, { KEYBROKER_KEK: KEK_B })
    const released = await kb.client.attestAndOpen(sample, [...secrets, 's4'])
    expect(released.secrets.s4?.byteLength).toBe(16)
    expect((await kb.raw('GET', '/v1/ca/workloads/crl')).status).toBe(200)
  }, 180_000)
})
