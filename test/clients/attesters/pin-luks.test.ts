/**
 * The keybroker pin on a kernel without configfs-tsm: `evidence: snp` (and `auto`) fall back to
 * keybroker-snp-report, which gets its report from /dev/sev-guest — here the LD_PRELOAD shim and
 * the emulated driver with synthetic reports (driver.ts; CI has no SEV-SNP guest). With the real
 * clevis, cryptsetup on a LUKS2 image file and a keybroker service on 127.0.0.1 that pins the
 * synthetic ARK: `clevis luks bind` then `clevis luks pass` opens the key slot; an unknown image
 * is refused; keybroker-unlock releases a `luks` secret the same way; configfs-tsm, when present,
 * wins over the ioctl.
 */
import type { JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../../src/storage/index.js'
import type { SnpPki } from '../../generators/snp.js'
import { testDatabases } from '../../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../../support/keybroker.js'
import { CLEVIS_DIR, luksImage, run } from '../clevis/tools.js'
import { DriverEmulator, SNP_GET_EXT_REPORT, sevGuest, shimEnv, useSnpGuest, type BuiltAttesters, type SnpGuest } from './driver.js'

const MEASUREMENT = 'a1'.repeat(48) // the generator's default MEASUREMENT

const guest = useSnpGuest('kb-pin-ioctl-')
let tmp: SnpGuest['tmp']
let built: BuiltAttesters
let driver: DriverEmulator
let pki: SnpPki
let hostCerts: Uint8Array

beforeAll(async () => {
  ;({ tmp, built, driver, pki, hostCerts } = guest)
})

/** The pin and keybroker-unlock find keybroker-snp-report on PATH; no configfs-tsm on this host. */
const env = (extra: Record<string, string> = {}) => ({
  PATH: `${CLEVIS_DIR}:${built.dir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
  ...shimEnv(built, driver),
  KEYBROKER_TSM_ROOT: `${tmp.dir}/no-configfs-tsm`,
  ...extra,
})

describe.each(testDatabases())('the pin through /dev/sev-guest (kernels before 6.7) on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let ca: string
  let thp: string

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, {}, undefined, { snpArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }] })
    ca = await tmp.file(`ca-${engine.kind}.pem`, kb.server.caPem ?? '')
    thp = (JSON.parse((await kb.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }).keys[0]?.kid ?? ''
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'snp-image', measurements: [MEASUREMENT] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'snp-root', referenceValues: ['snp-image'] })).status).toBe(201)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('clevis luks bind with evidence snp; clevis luks pass opens the LUKS2 key slot with a report from the ioctl; an unknown image is refused', async () => {
    driver.reset(sevGuest({ pki, hostCerts }))
    const image = `${tmp.dir}/disk-${engine.kind}.img`
    const keyFile = await tmp.file(`initial-${engine.kind}.key`, 'initial passphrase')
    await luksImage(image, keyFile)
    const cfg = JSON.stringify({ url: kb.url, key: 'snp-root', thp, cacert: ca, evidence: 'snp' })
    const bound = await run('clevis', ['luks', 'bind', '-y', '-d', image, '-k', keyFile, 'keybroker', cfg], { env: env(), timeoutMs: 120_000 })
    expect(bound.code, bound.stderr).toBe(0)

    const pass = await run('clevis', ['luks', 'pass', '-d', image, '-s', '1'], { env: env(), timeoutMs: 120_000 })
    expect(pass.stderr).toBe('')
    expect(pass.code).toBe(0)
    const opened = await run('cryptsetup', ['open', '--test-passphrase', '--key-file=-', image], { input: pass.stdout })
    expect(opened.code).toBe(0)
    // The report came from the ioctl, with the binding the pin computed as its report data.
    const ioctls = driver.ioctls()
    expect(ioctls.map((c) => c.request)).toEqual([SNP_GET_EXT_REPORT])
    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const entry = audit.body.entries.filter((e: { action: string }) => e.action === 'recover').at(-1)
    expect(entry).toMatchObject({ outcome: 'ok', detail: { evidenceType: 'snp', measurement: MEASUREMENT } })

    driver.reset(sevGuest({ pki, hostCerts, report: { measurement: new Uint8Array(48).fill(0x77) } }))
    const refused = await run('clevis', ['luks', 'pass', '-d', image, '-s', '1'], { env: env(), timeoutMs: 120_000 })
    expect(refused.code).not.toBe(0)
    expect(refused.stdout.byteLength).toBe(0)
  }, 600_000) // luksFormat, bind and two unlocks: minutes on a loaded machine

  it('keybroker-unlock with evidence auto chooses the ioctl attester and releases a luks secret; configfs-tsm, when present, wins', async () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef')
    const secret = await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'luks-snp', kind: 'luks', value: key.toString('base64url'), referenceValues: ['snp-image'] })
    expect(secret.status).toBe(201)
    const cfg = JSON.stringify({ url: kb.url, secret: 'luks-snp', cacert: ca })
    driver.reset(sevGuest({ pki, hostCerts }))
    const printed = await run('keybroker-unlock', ['--print', cfg], { env: env(), timeoutMs: 120_000 })
    expect(printed.stderr).toBe('')
    expect(printed.code).toBe(0)
    expect(printed.stdout.equals(key)).toBe(true)
    // auto probed the device (open) before asking for the report.
    expect(driver.calls.map((c) => c.kind)).toEqual(['open', 'open', 'ioctl'])

    driver.reset(sevGuest({ pki, hostCerts, report: { measurement: new Uint8Array(48).fill(0x77) } }))
    const refused = await run('keybroker-unlock', ['--print', cfg], { env: env(), timeoutMs: 120_000 })
    expect(refused.code).toBe(1)
    expect(refused.stdout.byteLength).toBe(0)
    expect(refused.stderr).toContain('measurement-in-reference-values')

    // A configfs-tsm directory (here an empty stand-in: no report comes out of it) is tried first.
    driver.reset(sevGuest({ pki, hostCerts }))
    await run('mkdir', ['-p', `${tmp.dir}/tsm-report`])
    const tsm = await run('keybroker-unlock', ['--print', cfg], { env: env({ KEYBROKER_TSM_ROOT: `${tmp.dir}/tsm-report`, KEYBROKER_RETRIES: '1' }) })
    expect(tsm.code).toBe(1)
    expect(tsm.stderr).toMatch(/configfs-tsm did not produce a report/)
    expect(driver.calls).toHaveLength(0)
  }, 600_000)
})
