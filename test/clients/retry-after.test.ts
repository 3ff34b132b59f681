/**
 * Clients honour Retry-After (README, "Load shedding"): against a real keybroker that sheds
 * (one attestation at a time, the slot held by a slow upload), the TypeScript client, the clevis
 * pin and keybroker-unlock each get 503 `overloaded` once, wait the Retry-After the server gave
 * (plus jitter) instead of their own shorter back-off, and then succeed. The slot is freed as
 * soon as the first client request has been shed, so the checks are that each client was shed
 * exactly once and came back no sooner than the 2 s Retry-After.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClient, KeybrokerClientError } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { createLogger } from '../../src/log/logger.js'
import type { Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { holdAttestationSlot } from '../support/held-slot.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'
import { run, SAMPLE_ATTESTER, scratch } from './clevis/tools.js'

const GOOD = 'f5'.repeat(48)
const RETRY_AFTER_SECONDS = 2
/** Bound on how long a slot is held when no client comes to be shed (then the test fails). */
const HOLD_BOUND_MS = 60_000

describe.each(testDatabases())('clients honour Retry-After from a shedding keybroker on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let tmp: Awaited<ReturnType<typeof scratch>>
  let caFile: string
  /** Access-log lines of /v1/attest answered 503. */
  let shed: { at: number; type: string }[]

  beforeAll(async () => {
    database = await engine.open()
    shed = []
    const log = createLogger('info', (line) => {
      // Only attestations are bounded: every POST answered 503 here was shed.
      const entry = JSON.parse(line) as { msg: string; method?: string; status?: number }
      if (entry.msg === 'request' && entry.method === 'POST' && entry.status === 503) shed.push({ at: Date.now(), type: 'overloaded' })
    })
    kb = await startKeybroker(
      database,
      { KEYBROKER_MAX_IN_FLIGHT_ATTESTATIONS: '1', KEYBROKER_OVERLOAD_RETRY_AFTER_SECONDS: String(RETRY_AFTER_SECONDS), KEYBROKER_LOG_LEVEL: 'info' },
      log,
    )
    tmp = await scratch('kb-retry-')
    caFile = await tmp.file('ca.pem', kb.server.caPem ?? '')
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'img', measurements: [GOOD] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'app', value: toBase64Url(new Uint8Array([1, 2, 3])), referenceValues: ['img'] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'luks', kind: 'luks', value: toBase64Url(Buffer.from('the luks key')), referenceValues: ['img'] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'root', referenceValues: ['img'] })).status).toBe(201)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
    await tmp?.remove()
  })

  /**
   * Occupies the one attestation slot with an upload that completes right after the first client
   * request is shed (at most HOLD_BOUND_MS): however slow the machine, the client meets a full
   * slot once, and a free one when it comes back after Retry-After.
   */
  async function holdSlot(): Promise<{ released: Promise<void> }> {
    const { probe, finish, done } = await holdAttestationSlot(kb)
    expect(probe.headers['retry-after']).toBe(String(RETRY_AFTER_SECONDS))
    expect(JSON.parse(probe.body)).toMatchObject({ type: expect.stringMatching(/\/overloaded$/), status: 503 })
    shed.length = 0
    void (async () => {
      const by = Date.now() + HOLD_BOUND_MS
      while (shed.length === 0 && Date.now() < by) await new Promise((r) => setTimeout(r, 10))
      finish()
    })()
    // Wrapped: an async function returning the promise itself would wait for it.
    return { released: done }
  }

  /** The client was shed exactly once, and came back no sooner than Retry-After. */
  function expectShedOnce(startedAt: number, finishedAt: number): void {
    expect(shed).toHaveLength(1)
    expect(finishedAt - startedAt).toBeGreaterThanOrEqual(RETRY_AFTER_SECONDS * 1000)
  }

  it('the TypeScript client', async () => {
    const { released } = await holdSlot()
    const client = new KeybrokerClient({ baseUrl: kb.url, ca: kb.server.caPem ?? '' })
    const started = Date.now()
    const { secrets } = await client.attestAndOpen((rd) => ({ type: 'sample', measurement: GOOD, reportData: toBase64Url(rd) }), ['app'])
    expectShedOnce(started, Date.now())
    expect([...(secrets.app ?? [])]).toEqual([1, 2, 3])
    await released
    // Without retries the shed answer is the caller's to handle.
    const { released: releasedAgain } = await holdSlot()
    const noRetry = new KeybrokerClient({ baseUrl: kb.url, ca: kb.server.caPem ?? '', retries: 0 })
    const err = await noRetry.attestAndOpen((rd) => ({ type: 'sample', measurement: GOOD, reportData: toBase64Url(rd) }), ['app']).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KeybrokerClientError)
    expect((err as KeybrokerClientError).code).toBe('overloaded')
    await releasedAgain
  })

  it('keybroker-unlock', async () => {
    const cfg = await tmp.file('unlock.json', JSON.stringify({ url: kb.url, secret: 'luks', cacert: caFile, evidence: 'command', attester: SAMPLE_ATTESTER }))
    const { released } = await holdSlot()
    const started = Date.now()
    const res = await run('keybroker-unlock', ['--print', cfg], { env: { KB_TEST_MEASUREMENT: GOOD } })
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout.toString()).toBe('the luks key')
    expect(res.stderr).toContain(`Retry-After ${RETRY_AFTER_SECONDS}s`)
    expectShedOnce(started, Date.now())
    await released
  })

  it('the clevis pin (clevis decrypt)', async () => {
    const jwks = JSON.parse((await kb.raw('GET', '/.well-known/jwks.json')).body) as { keys: { kid: string }[] }
    const config = JSON.stringify({ url: kb.url, key: 'root', thp: jwks.keys[0]?.kid ?? '', cacert: caFile, evidence: 'command', attester: SAMPLE_ATTESTER })
    const enc = await run('clevis', ['encrypt', 'keybroker', config], { input: 'the disk passphrase' })
    expect(enc.code, enc.stderr).toBe(0)
    const { released } = await holdSlot()
    const started = Date.now()
    const dec = await run('clevis', ['decrypt'], { input: enc.stdout, env: { KB_TEST_MEASUREMENT: GOOD } })
    expect(dec.code, dec.stderr).toBe(0)
    expect(dec.stdout.toString()).toBe('the disk passphrase')
    expectShedOnce(started, Date.now())
    await released
  })
})
