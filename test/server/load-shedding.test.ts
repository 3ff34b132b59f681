/**
 * The bounds in front of the attestation bound (README, "Load shedding"): open connections
 * (KEYBROKER_MAX_CONNECTIONS: a connection beyond it is closed before its TLS handshake) and
 * challenges waiting for their attestation while attestations are shed
 * (KEYBROKER_MAX_PENDING_CHALLENGES: 503 `overloaded` with Retry-After). No timing is asserted:
 * each step waits for an observable state (a handshake done, a probe shed).
 */
import { request } from 'node:https'
import { connect, type TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClient } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { holdAttestationSlot } from '../support/held-slot.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

/** A TLS connection: the socket once its handshake is done, or 'refused' when the server closed it first. */
function openTls(kb: TestKeybroker): Promise<TLSSocket | 'refused'> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: kb.server.port, ca: kb.server.caPem, servername: 'localhost', rejectUnauthorized: false })
    let settled = false
    socket.once('secureConnect', () => {
      settled = true
      resolve(socket)
    })
    const refused = () => {
      if (settled) return
      settled = true
      socket.destroy()
      resolve('refused')
    }
    socket.once('error', refused)
    socket.once('close', refused)
  })
}

/** GET /healthz on a connection of its own (no keep-alive pool that could hold a slot). */
function healthz(kb: TestKeybroker): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${kb.url}/healthz`, { ca: kb.server.caPem, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

describe.each(testDatabases())('connection bound on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, { KEYBROKER_MAX_CONNECTIONS: '3' })
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('closes a connection beyond KEYBROKER_MAX_CONNECTIONS before its handshake, and accepts again once one closes', async () => {
    const open: TLSSocket[] = []
    for (let i = 0; i < 3; i++) {
      const socket = await openTls(kb)
      expect(socket, `connection ${i + 1} of 3`).not.toBe('refused')
      open.push(socket as TLSSocket)
    }
    expect(await openTls(kb)).toBe('refused')
    // A closed connection frees its place (the server notices the close a moment later).
    open.pop()?.destroy()
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await healthz(kb).catch(() => 0)
      if (status !== 200) await new Promise((r) => setTimeout(r, 20))
    }
    expect(status).toBe(200)
    for (const socket of open) socket.destroy()
  })

  it('the TypeScript client sends an attestation again when its connection was refused before the request left', async () => {
    const measurement = 'd7'.repeat(48)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'img', measurements: [measurement] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'app', value: toBase64Url(new Uint8Array([4, 5, 6])), referenceValues: ['img'] })).status).toBe(201)
    // Pinned: every request opens a connection of its own, so the attestation needs a new one.
    const client = new KeybrokerClient({ baseUrl: kb.url, pinSha256: kb.server.fingerprint ?? '' })
    const held: TLSSocket[] = []
    let refusedBefore = 0
    const { secrets } = await client.attestAndOpen(async (rd) => {
      // Between the challenge and the attestation: fill every place, then free them once the
      // attestation's connection has been refused.
      for (let i = 0; i < 10; i++) {
        const socket = await openTls(kb)
        if (socket === 'refused') break
        held.push(socket)
      }
      refusedBefore = kb.server.refusedConnections()
      void (async () => {
        for (let i = 0; i < 1000 && kb.server.refusedConnections() === refusedBefore; i++) await new Promise((r) => setTimeout(r, 20))
        for (const socket of held) socket.destroy()
      })()
      return { type: 'sample', measurement, reportData: toBase64Url(rd) }
    }, ['app'])
    expect(kb.server.refusedConnections()).toBeGreaterThan(refusedBefore)
    expect([...(secrets.app ?? [])]).toEqual([4, 5, 6])
  })
})

describe.each(testDatabases())('challenge bound on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, {
      KEYBROKER_MAX_IN_FLIGHT_ATTESTATIONS: '1',
      KEYBROKER_MAX_PENDING_CHALLENGES: '1',
      KEYBROKER_OVERLOAD_RETRY_AFTER_SECONDS: '3',
    })
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  const challenge = () => kb.raw('POST', '/v1/challenge', '{}', { 'Content-Type': 'application/json' })
  const attest = () => kb.raw('POST', '/v1/attest', '{}', { 'Content-Type': 'application/json' })

  /** Holds the one attestation slot with a half-sent upload until `release` is called. */
  async function holdSlot(): Promise<{ release: () => Promise<void> }> {
    const { finish, done } = await holdAttestationSlot(kb)
    return {
      release: async () => {
        finish()
        await done
      },
    }
  }

  it('never refuses a challenge while attestations have room (challenges alone cannot lock clients out)', async () => {
    for (let i = 0; i < 5; i++) expect((await challenge()).status).toBe(200)
  })

  it('while attestations are shed, refuses challenges beyond KEYBROKER_MAX_PENDING_CHALLENGES with 503 overloaded and Retry-After; an attestation settles one', async () => {
    const { release } = await holdSlot()
    // The shed probes settled every pending challenge: one place is free.
    expect((await challenge()).status).toBe(200)
    const refused = await challenge()
    expect(refused.status).toBe(503)
    expect(refused.headers['retry-after']).toBe('3')
    expect(JSON.parse(refused.body)).toMatchObject({ type: expect.stringMatching(/\/overloaded$/), status: 503 })
    // An arriving attestation (shed here, the slot still held) spends its round's nonce.
    expect((await attest()).status).toBe(503)
    expect((await challenge()).status).toBe(200)
    expect((await challenge()).status).toBe(503)
    await release()
  })
})
