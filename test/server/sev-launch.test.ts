/**
 * keybroker as the SEV guest owner, through HTTP, on both databases. The platform is synthetic
 * (test/generators/sev.ts): a chain whose PDH private key the software PSP holds, so that the
 * PSP's side of LAUNCH_START / LAUNCH_MEASURE / LAUNCH_SECRET can run; its ARK is pinned as a
 * test root beside AMD's. The real Naples chain (no private key exists for it) shows the session
 * step on a real platform.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClientError, type SevSessionAnswer } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'
import { FakePsp, diskPassphraseOf, digestHex, syntheticSev, type PspGuest, type SyntheticSev } from '../generators/sev.js'

const PASSPHRASE = 'correct horse battery staple'
/** Stand-ins for aleph's OVMF.fd (with GRUB): the registered one and an unregistered one. */
const OVMF = new Uint8Array(Buffer.from('OVMF.fd with GRUB, build 1'))
const OTHER_OVMF = new Uint8Array(Buffer.from('OVMF.fd with GRUB, build 2'))
const FIRMWARE = digestHex(OVMF)
const NAPLES_CHAIN = Buffer.concat(['pdh', 'pek', 'oca', 'cek'].map((n) => readFileSync(new URL(`../vectors/sev/naples/${n}.cert`, import.meta.url))))

async function problemOf(p: Promise<unknown>): Promise<{ status: number; code: string; problem: Record<string, unknown> }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(KeybrokerClientError)
  const e = err as KeybrokerClientError
  return { status: e.status, code: e.code, problem: e.problem }
}

describe.each(testDatabases())('SEV guest owner on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let sev: SyntheticSev
  let psp: FakePsp

  beforeAll(async () => {
    sev = syntheticSev()
    psp = new FakePsp(sev.keys.pdh.privateKey)
    database = await engine.open()
    kb = await startKeybroker(database, {}, undefined, { sevRoots: [sev.root] })
    const sets = [
      { name: 'aleph-ovmf', evidenceType: 'sev', measurements: [FIRMWARE] },
      { name: 'aleph-ovmf-debug', evidenceType: 'sev', measurements: [FIRMWARE], allowDebug: true },
      { name: 'aleph-ovmf-new-psp', evidenceType: 'sev', measurements: [FIRMWARE], expect: [{ claim: 'build', atLeast: 30 }] },
    ]
    for (const set of sets) expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', set)).status).toBe(201)
    for (const [name, rvs] of [
      ['vm-disk', ['aleph-ovmf']],
      ['debug-disk', ['aleph-ovmf-debug']],
      ['new-psp-disk', ['aleph-ovmf-new-psp']],
      ['disabled-disk', ['aleph-ovmf']],
    ] as const) {
      expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name, value: toBase64Url(Buffer.from(PASSPHRASE)), referenceValues: rvs })).status).toBe(201)
    }
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/disabled-disk/disable')).status).toBe(200)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  const session = (body: Partial<{ platformCertificates: string; policy: number; secret: string; vm: string }> = {}) =>
    kb.client.sevSession({ platformCertificates: Buffer.from(sev.chain).toString('base64'), policy: 1, secret: 'vm-disk', vm: 'vm1', ...body })

  /** The host's part: LAUNCH_START with the blobs, then LAUNCH_MEASURE over `firmware`. */
  function launch(s: SevSessionAnswer, policy = 1, firmware = OVMF): { guest: PspGuest; measurement: { sev_info: Record<string, unknown>; launch_measure: string } } {
    const guest = psp.launchStart(Buffer.from(s.godh, 'base64'), Buffer.from(s.session, 'base64'), policy)
    const blob = psp.launchMeasure(guest, new Uint8Array(Buffer.from(digestHex(firmware), 'hex')))
    return {
      guest,
      measurement: {
        sev_info: { enabled: true, api_major: 1, api_minor: 55, build_id: 24, policy, state: 'launch-secret', handle: 1 },
        launch_measure: Buffer.from(blob).toString('base64'),
      },
    }
  }

  /** The PSP's part of LAUNCH_SECRET: check the packet, decrypt the table, read the passphrase as GRUB does. */
  function inject(guest: PspGuest, measurement: { launch_measure: string }, packet: { packet_header: string; secret: string }): string | undefined {
    const measure = Buffer.from(measurement.launch_measure, 'base64').subarray(0, 32)
    const table = psp.launchSecret(guest, measure, Buffer.from(packet.packet_header, 'base64'), Buffer.from(packet.secret, 'base64'))
    return diskPassphraseOf(table)
  }

  it('session → LAUNCH_START → measurement → secret: the PSP decrypts the passphrase', async () => {
    const s = await session()
    expect(s.platform.product).toBe('Synthetic')
    expect(Buffer.from(s.godh, 'base64').byteLength).toBe(0x824)
    expect(Buffer.from(s.session, 'base64').byteLength).toBe(0x80)
    const { guest, measurement } = launch(s)
    // The state is sealed: neither key is readable in it.
    const stateBytes = Buffer.from(s.state.split('.').slice(2).join(''), 'base64url')
    expect(stateBytes.includes(Buffer.from(guest.tik))).toBe(false)
    expect(stateBytes.includes(Buffer.from(guest.tek))).toBe(false)
    const packet = await kb.client.sevLaunch({ state: s.state, measurement, vm: 'vm1' })
    expect(Buffer.from(packet.packet_header, 'base64').byteLength).toBe(52)
    expect(inject(guest, measurement, packet)).toBe(PASSPHRASE)
  })

  it('sevctl table format on request', async () => {
    const s = await session()
    const { guest, measurement } = launch(s)
    const packet = await kb.client.sevLaunch({ state: s.state, measurement, vm: 'vm1', format: 'sevctl' })
    const measure = Buffer.from(measurement.launch_measure, 'base64').subarray(0, 32)
    const table = psp.launchSecret(guest, measure, Buffer.from(packet.packet_header, 'base64'), Buffer.from(packet.secret, 'base64'))
    expect(Buffer.from(table).readUInt32LE(16)).toBe(16 + 4 + 16 + 4 + PASSPHRASE.length) // unpadded, no NUL
    expect(diskPassphraseOf(table)).toBe(PASSPHRASE)
  })

  it('wrong firmware: an unregistered OVMF is measurement-unknown (403)', async () => {
    const s = await session()
    const { measurement } = launch(s, 1, OTHER_OVMF)
    expect(await problemOf(kb.client.sevLaunch({ state: s.state, measurement, vm: 'vm1' }))).toMatchObject({ status: 403, code: 'measurement-unknown' })
  })

  it('wrong policy: a reported policy other than the session\'s is policy-violation (403)', async () => {
    const s = await session()
    const { measurement } = launch(s)
    const forged = { ...measurement, sev_info: { ...measurement.sev_info, policy: 0 } }
    expect(await problemOf(kb.client.sevLaunch({ state: s.state, measurement: forged, vm: 'vm1' }))).toMatchObject({ status: 403, code: 'policy-violation' })
  })

  it('a forged platform build is not authenticated by MEASURE: measurement-unknown', async () => {
    const s = await session()
    const { measurement } = launch(s)
    const forged = { ...measurement, sev_info: { ...measurement.sev_info, build_id: 99 } }
    expect(await problemOf(kb.client.sevLaunch({ state: s.state, measurement: forged, vm: 'vm1' }))).toMatchObject({ status: 403, code: 'measurement-unknown' })
  })

  it('expired state: token-invalid (401) once the session TTL has passed', async () => {
    const s = await session()
    const { measurement } = launch(s)
    kb.clock.advance(kb.config.sev.stateTtlSeconds + 1)
    try {
      expect(await problemOf(kb.client.sevLaunch({ state: s.state, measurement, vm: 'vm1' }))).toMatchObject({ status: 401, code: 'token-invalid' })
    } finally {
      kb.clock.reset()
    }
  })

  it('an altered state is token-invalid', async () => {
    const s = await session()
    const { measurement } = launch(s)
    const parts = s.state.split('.')
    const sealed = Buffer.from(parts[3]!, 'base64url')
    sealed[0]! ^= 1
    const altered = [...parts.slice(0, 3), sealed.toString('base64url')].join('.')
    expect(await problemOf(kb.client.sevLaunch({ state: altered, measurement, vm: 'vm1' }))).toMatchObject({ status: 401, code: 'token-invalid' })
  })

  describe('a state token replayed on another VM', () => {
    it('naming the other VM: binding-mismatch (403)', async () => {
      const s = await session({ vm: 'vm1' })
      const { measurement } = launch(s)
      expect(await problemOf(kb.client.sevLaunch({ state: s.state, measurement, vm: 'vm2' }))).toMatchObject({ status: 403, code: 'binding-mismatch' })
    })

    it("with the other VM's measurement (another session's TIK): measurement-unknown (403)", async () => {
      const a = await session({ vm: 'vm1' })
      const b = await session({ vm: 'vm1' })
      launch(a)
      const { measurement: fromB } = launch(b)
      expect(await problemOf(kb.client.sevLaunch({ state: a.state, measurement: fromB, vm: 'vm1' }))).toMatchObject({ status: 403, code: 'measurement-unknown' })
    })

    it('after a successful launch, for a second VM the host started with the same blobs: nonce-reused (409)', async () => {
      const s = await session({ vm: 'vm1' })
      const first = launch(s)
      expect(inject(first.guest, first.measurement, await kb.client.sevLaunch({ state: s.state, measurement: first.measurement, vm: 'vm1' }))).toBe(PASSPHRASE)
      const second = launch(s) // same GODH and session blobs, a fresh MNONCE: a valid MEASURE
      expect(await problemOf(kb.client.sevLaunch({ state: s.state, measurement: second.measurement, vm: 'vm1' }))).toMatchObject({ status: 409, code: 'nonce-reused' })
    })
  })

  it('debug policies are refused at the session unless every set of the secret allows debug', async () => {
    expect(await problemOf(session({ policy: 0 }))).toMatchObject({ status: 403, code: 'debug-enabled' })
    const s = await session({ policy: 0, secret: 'debug-disk' })
    const { guest, measurement } = launch(s, 0)
    expect(inject(guest, measurement, await kb.client.sevLaunch({ state: s.state, measurement, vm: 'vm1' }))).toBe(PASSPHRASE)
  })

  it('the release policy decides as for /v1/attest: a disabled secret, a PSP build below the set\'s minimum', async () => {
    const disabled = await session({ secret: 'disabled-disk' })
    const d = await problemOf(kb.client.sevLaunch({ state: disabled.state, measurement: launch(disabled).measurement, vm: 'vm1' }))
    expect(d).toMatchObject({ status: 403, code: 'policy-denied' })
    expect((d.problem['failedRules'] as { rule: string }[]).map((r) => r.rule)).toContain('secret-enabled')
    const old = await session({ secret: 'new-psp-disk' })
    const o = await problemOf(kb.client.sevLaunch({ state: old.state, measurement: launch(old).measurement, vm: 'vm1' }))
    expect(o).toMatchObject({ status: 403, code: 'policy-denied' })
    expect((o.problem['failedRules'] as { rule: string }[]).map((r) => r.rule)).toContain('measurement-in-reference-values')
  })

  it('a revoked firmware digest is denied from the next launch on', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'revocable', evidenceType: 'sev', measurements: [digestHex(OTHER_OVMF)] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'revocable-disk', value: toBase64Url(Buffer.from(PASSPHRASE)), referenceValues: ['revocable'] })).status).toBe(201)
    const ok = await session({ secret: 'revocable-disk' })
    const okLaunch = launch(ok, 1, OTHER_OVMF)
    expect(inject(okLaunch.guest, okLaunch.measurement, await kb.client.sevLaunch({ state: ok.state, measurement: okLaunch.measurement, vm: 'vm1' }))).toBe(PASSPHRASE)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values/revocable/revoke', { measurement: digestHex(OTHER_OVMF), reason: 'CVE' })).status).toBe(200)
    const again = await session({ secret: 'revocable-disk' })
    const denied = await problemOf(kb.client.sevLaunch({ state: again.state, measurement: launch(again, 1, OTHER_OVMF).measurement, vm: 'vm1' }))
    expect(denied).toMatchObject({ status: 403, code: 'policy-denied' })
  })

  it('the real Naples chain opens a session with the default roots; a chain that does not verify is a named 4xx', async () => {
    const naples = await kb.client.sevSession({ platformCertificates: NAPLES_CHAIN.toString('base64'), secret: 'vm-disk' })
    expect(naples.platform.product).toBe('Naples')
    const foreign = syntheticSev()
    expect(await problemOf(session({ platformCertificates: Buffer.from(foreign.chain).toString('base64') }))).toMatchObject({ status: 403, code: 'chain-untrusted' })
    expect(await problemOf(session({ platformCertificates: Buffer.from(sev.chain.subarray(0, 5000)).toString('base64') }))).toMatchObject({ status: 400, code: 'evidence-malformed' })
    expect(await problemOf(session({ platformCertificates: 'not base64!' }))).toMatchObject({ status: 400 })
    expect(await problemOf(session({ secret: 'no-such-secret' }))).toMatchObject({ status: 404, code: 'not-found' })
    expect(await problemOf(session({ policy: 0x40 }))).toMatchObject({ status: 400, code: 'bad-request' })
  })

  it('arbitrary platform chains and measurements get only named 4xx answers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 12_000 }), fc.uint8Array({ minLength: 8336, maxLength: 8336 })), async (bytes) => {
        const r = await problemOf(session({ platformCertificates: Buffer.from(bytes).toString('base64') }))
        expect([400, 403]).toContain(r.status)
        expect(['evidence-malformed', 'evidence-unsupported', 'chain-untrusted', 'bad-request']).toContain(r.code)
      }),
      { numRuns: 25 },
    )
    const s = await session()
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 60 }), fc.nat(0xffff_ffff), async (blob, policy) => {
        const measurement = { sev_info: { api_major: 1, api_minor: 55, build_id: 24, policy }, launch_measure: Buffer.from(blob).toString('base64') }
        const r = await problemOf(kb.client.sevLaunch({ state: s.state, measurement, vm: 'vm1' }))
        expect([400, 403, 409]).toContain(r.status)
      }),
      { numRuns: 25 },
    )
  })

  it('audits sessions and launches with the firmware digest and the outcome', async () => {
    const page = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const entries = page.body.entries as { action: string; outcome: string; subject: string; detail: Record<string, unknown> }[]
    const launches = entries.filter((e) => e.action === 'sev.launch')
    expect(launches.some((e) => e.outcome === 'ok' && e.detail['firmwareDigest'] === FIRMWARE && e.subject === 'vm-disk')).toBe(true)
    expect(launches.some((e) => e.outcome === 'denied' && e.detail['reason'] === 'measurement-unknown')).toBe(true)
    expect(launches.some((e) => e.outcome === 'denied' && e.detail['reason'] === 'policy-denied' && e.detail['firmwareDigest'] === FIRMWARE)).toBe(true)
    expect(launches.some((e) => e.outcome === 'denied' && e.detail['reason'] === 'state-reused')).toBe(true)
    const sessions = entries.filter((e) => e.action === 'sev.session')
    expect(sessions.some((e) => e.outcome === 'ok' && e.detail['product'] === 'Naples')).toBe(true)
    expect(sessions.some((e) => e.outcome === 'denied' && e.detail['reason'] === 'chain-untrusted')).toBe(true)
    // Nothing secret in the log.
    const text = JSON.stringify(entries)
    expect(text).not.toContain(PASSPHRASE)
    expect(text).not.toMatch(/"(tik|tek)"/)
    const verified = await adminCall(kb, 'GET', '/admin/v1/audit/verify', undefined, kb.tokens.auditor)
    expect(verified.body.ok).toBe(true)
  })
})
