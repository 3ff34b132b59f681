/**
 * The keybroker clevis pin with the real tools (Debian clevis, clevis-luks, jose, cryptsetup)
 * against a real keybroker over HTTPS on 127.0.0.1, on both databases: bind offline, unlock
 * after attestation (sample evidence from the test attester), every refusal exits non-zero with
 * nothing on stdout and the failed rule on stderr; `clevis luks bind` on a LUKS2 image file and
 * `clevis luks pass` + `cryptsetup --test-passphrase` prove the recovered passphrase opens the
 * key slot.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadOrCreateDevCertificate } from '../../../src/server/dev-certificate.js'
import type { Database } from '../../../src/storage/index.js'
import { testDatabases } from '../../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../../support/keybroker.js'
import { jweHeader, luksImage, missingTools, pinPath, run, SAMPLE_ATTESTER, scratch } from './tools.js'

const GOOD = 'c1'.repeat(48)
const BAD = 'e3'.repeat(48)

describe('client tools', () => {
  it('are installed (apt-get line in .ci/run and the README)', () => {
    expect(missingTools()).toEqual([])
  })
})

describe.each(testDatabases())('clevis pin keybroker on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let tmp: Awaited<ReturnType<typeof scratch>>
  let caFile: string
  let thp: string

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
    tmp = await scratch('kb-pin-')
    caFile = await tmp.file('ca.pem', kb.server.caPem ?? '')
    const jwks = JSON.parse((await kb.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }
    thp = jwks.keys[0]?.kid ?? ''
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'vm-image', measurements: [GOOD] })).status).toBe(201)
    for (const name of ['root', 'other']) {
      expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name, referenceValues: ['vm-image'] })).status).toBe(201)
    }
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
    await tmp?.remove()
  })

  const config = (over: Record<string, unknown> = {}) =>
    JSON.stringify({ url: kb.url, key: 'root', thp, cacert: caFile, evidence: 'command', attester: SAMPLE_ATTESTER, ...over })

  const encrypt = (plaintext: string | Buffer, cfg = config(), extra: string[] = []) =>
    run('clevis', ['encrypt', 'keybroker', cfg, ...extra], { input: plaintext })

  const decrypt = (jwe: string, measurement = GOOD, env: Record<string, string> = {}) =>
    run('clevis', ['decrypt'], { input: jwe, env: { KB_TEST_MEASUREMENT: measurement, ...env } })

  async function bind(key = 'root'): Promise<string> {
    const r = await encrypt('the disk passphrase', config({ key }))
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    return r.stdout.toString()
  }

  async function expectRefused(jwe: string, measurement: string, rule: string): Promise<void> {
    const r = await decrypt(jwe, measurement)
    expect(r.code).toBe(1)
    expect(r.stdout.byteLength).toBe(0)
    expect(r.stderr).toContain(rule)
    expect(r.stderr).not.toContain('the disk passphrase')
  }

  it('follows the pin contract: --summary, usage on exit 2', async () => {
    const summary = await run('clevis-encrypt-keybroker', ['--summary'])
    expect(summary.code).toBe(0)
    expect(summary.stdout.toString()).toMatch(/keybroker/)
    expect((await run('clevis-decrypt-keybroker', ['--summary'])).code).toBe(2)
    const usage = await run('clevis-encrypt-keybroker', [])
    expect(usage.code).toBe(2)
    expect(usage.stdout.byteLength).toBe(0)
  })

  it('binds offline to the advertised exchange key and unlocks after attestation (clevis encrypt | clevis decrypt)', async () => {
    const enc = await encrypt('the disk passphrase')
    expect(enc.code).toBe(0)
    const jwe = enc.stdout.toString()
    expect(jwe.split('.')).toHaveLength(5)

    const header = jweHeader(jwe)
    const meta = (await adminCall(kb, 'GET', '/admin/v1/sealing-keys/root')).body
    expect(header).toMatchObject({ alg: 'ECDH-ES', enc: 'A256GCM', kid: meta.versions[0].kid, clevis: { pin: 'keybroker' } })
    expect(header.clevis.keybroker).toMatchObject({ url: kb.url, key: 'root', thp, jwk: meta.versions[0].publicJwk, attester: SAMPLE_ATTESTER })
    expect(header.clevis.keybroker.ca).toContain('BEGIN CERTIFICATE')
    expect(header.epk).toMatchObject({ kty: 'EC', crv: 'P-256' })

    const dec = await decrypt(jwe)
    expect(dec.stderr).toBe('')
    expect(dec.code).toBe(0)
    expect(dec.stdout.toString()).toBe('the disk passphrase')

    // The audit names the disk by the thumbprint of C; the server never saw C itself.
    const disk = await calculateJwkThumbprint({ kty: 'EC', crv: header.epk.crv, x: header.epk.x, y: header.epk.y })
    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const entry = audit.body.entries.filter((e: { action: string }) => e.action === 'recover').at(-1)
    expect(entry).toMatchObject({ subject: 'root', outcome: 'ok', detail: { disk, kid: meta.versions[0].kid } })
    expect(JSON.stringify(audit.body)).not.toContain(header.epk.x)
    // The pin asks for no EAR ("token": false): none was signed for this recovery.
    expect(entry.detail).not.toHaveProperty('tokenId')
  })

  it.skipIf(missingTools(['strace']).length > 0)(
    'sends the challenge and the attestation over one TLS connection; with mkfifo failing, as two requests (strace counts the connects)',
    async () => {
      const jwe = await bind()
      const port = new URL(kb.url).port
      const connects = async (path: string) => {
        const trace = join(tmp.dir, `connects-${randomUUID()}.txt`)
        const r = await run('strace', ['-f', '-qq', '-e', 'trace=connect', '-o', trace, 'clevis', 'decrypt'], {
          input: jwe,
          env: { KB_TEST_MEASUREMENT: GOOD, PATH: path },
        })
        expect(r.stderr).toBe('')
        expect(r.code).toBe(0)
        expect(r.stdout.toString()).toBe('the disk passphrase')
        return (await readFile(trace, 'utf8')).split('\n').filter((l) => l.includes(`sin_port=htons(${port})`)).length
      }
      expect(await connects(pinPath())).toBe(1)
      // A mkfifo that fails (as where there is none): the pin falls back to two requests.
      const bin = join(tmp.dir, 'failing-mkfifo')
      await mkdir(bin, { recursive: true })
      await writeFile(join(bin, 'mkfifo'), '#!/bin/sh\nexit 1\n', { mode: 0o755 })
      expect(await connects(`${bin}:${pinPath()}`)).toBe(2)
    },
  )

  it('asks a keybroker from before "token": false once more without it (400 unknown key) and unlocks', async () => {
    // An older keybroker in front of this one: its strict schema refused the unknown member with
    // exactly this problem; every other request goes through.
    const attests: string[] = []
    const tls = await loadOrCreateDevCertificate(join(tmp.dir, 'old-keybroker'), '127.0.0.1')
    const old = createHttpsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        if (req.url === '/v1/attest') attests.push(body.toString())
        if (req.url === '/v1/attest' && body.toString().includes('"token"')) {
          res.writeHead(400, { 'Content-Type': 'application/problem+json' })
          res.end(JSON.stringify({
            type: 'https://keybroker.dev/problems/bad-request',
            title: 'Bad request',
            status: 400,
            detail: 'body invalid: (root): Unrecognized key: "token"',
            errors: [{ path: '', message: 'Unrecognized key: "token"' }],
          }))
          return
        }
        const headers = { ...req.headers, host: new URL(kb.url).host, 'content-length': String(body.byteLength) }
        delete headers['transfer-encoding']
        const forward = httpsRequest(new URL(req.url ?? '/', kb.url), { method: req.method, headers, ca: kb.server.caPem }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(res)
        })
        forward.on('error', () => res.destroy())
        forward.end(body)
      })
    })
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve))
    try {
      const url = `https://127.0.0.1:${(old.address() as AddressInfo).port}`
      const enc = await encrypt('the disk passphrase', config({ url, cacert: await tmp.file('old-ca.pem', tls.cert) }))
      expect(enc.code, enc.stderr).toBe(0)
      const dec = await decrypt(enc.stdout.toString())
      expect(dec.code, dec.stderr).toBe(0)
      expect(dec.stdout.toString()).toBe('the disk passphrase')
      expect(attests).toHaveLength(2)
      expect(JSON.parse(attests[0] ?? '{}')).toMatchObject({ token: false })
      expect(JSON.parse(attests[1] ?? '{}')).not.toHaveProperty('token')
      expect(JSON.parse(attests[1] ?? '{}')).toHaveProperty('recover')
    } finally {
      await new Promise<void>((resolve) => old.close(() => resolve()))
    }
  })

  it('round-trips binary plaintext and P-521 sealing keys', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'big', curve: 'P-521', referenceValues: ['vm-image'] })).status).toBe(201)
    const secret = Buffer.from([0, 1, 2, 255, 0, 10, 13, 0x22, 0x5c])
    const enc = await encrypt(secret, config({ key: 'big' }))
    expect(enc.code).toBe(0)
    expect(jweHeader(enc.stdout.toString()).epk.crv).toBe('P-521')
    const dec = await decrypt(enc.stdout.toString())
    expect(dec.code).toBe(0)
    expect(dec.stdout.equals(secret)).toBe(true)
  })

  it('binds from a stored advertisement without reaching keybroker (-y, no thp)', async () => {
    const adv = await tmp.file('adv.jws', (await kb.raw('GET', '/v1/sealing-keys/root')).body)
    const cfg = JSON.stringify({ url: 'https://127.0.0.1:1', key: 'root', adv, evidence: 'command', attester: SAMPLE_ATTESTER })
    const enc = await encrypt('offline', cfg, ['-y'])
    expect(enc.stderr).toBe('')
    expect(enc.code).toBe(0)
    expect(jweHeader(enc.stdout.toString()).clevis.keybroker.thp).toBe(thp)

    // Nobody answers at that URL: bounded retries with back-off, then a non-zero exit.
    const dec = await decrypt(enc.stdout.toString(), GOOD, { KEYBROKER_RETRIES: '2', KEYBROKER_TIMEOUT: '20' })
    expect(dec.code).toBe(1)
    expect(dec.stdout.byteLength).toBe(0)
    expect(dec.stderr).toMatch(/giving up after 2 attempt/)
    expect(dec.ms).toBeLessThan(20_000)
  })

  it('refuses to bind to an advertisement not signed by the pinned key, for another key, or tampered', async () => {
    const wrongThp = await encrypt('x', config({ thp: 'A'.repeat(43) }))
    expect(wrongThp.code).toBe(1)
    expect(wrongThp.stdout.byteLength).toBe(0)
    expect(wrongThp.stderr).toMatch(/did not sign the advertisement/)

    const otherAdv = await tmp.file('other.jws', (await kb.raw('GET', '/v1/sealing-keys/other')).body)
    const swapped = await encrypt('x', config({ adv: otherAdv }))
    expect(swapped.code).toBe(1)
    expect(swapped.stdout.byteLength).toBe(0)
    expect(swapped.stderr).toMatch(/for sealing key 'other'/)

    const jws = JSON.parse((await kb.raw('GET', '/v1/sealing-keys/root')).body)
    const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString())
    payload.keys[0].x = payload.keys[1].x // an attacker's exchange key, same signature
    const tampered = await encrypt('x', config({ adv: { ...jws, payload: Buffer.from(JSON.stringify(payload)).toString('base64url') } }))
    expect(tampered.code).toBe(1)
    expect(tampered.stdout.byteLength).toBe(0)
    expect(tampered.stderr).toMatch(/signature is invalid/)

    const unknown = await encrypt('x', config({ key: 'no-such-key' }))
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/not-found/)
  })

  it('refuses an unapproved image, naming the rule, and prints nothing on stdout', async () => {
    await expectRefused(await bind(), BAD, 'measurement-in-reference-values')
  })

  it('refuses a revoked measurement from the next attempt on', async () => {
    const M = 'f4'.repeat(48)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'old-image', measurements: [M] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'revocable', referenceValues: ['old-image'] })).status).toBe(201)
    const jwe = await bind('revocable')
    expect((await decrypt(jwe, M)).code).toBe(0)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values/old-image/revoke', { measurement: M, reason: 'CVE' })).status).toBe(200)
    await expectRefused(jwe, M, 'measurement-in-reference-values')
  })

  it('refuses a deny-listed (stolen) disk on its next attempt; other disks still unlock', async () => {
    const stolen = await bind()
    const other = await bind()
    const epk = jweHeader(stolen).epk
    const disk = await calculateJwkThumbprint({ kty: 'EC', crv: epk.crv, x: epk.x, y: epk.y })
    expect((await decrypt(stolen)).code).toBe(0)
    expect((await adminCall(kb, 'POST', '/admin/v1/denied-disks', { disk, reason: 'stolen' })).status).toBe(201)
    await expectRefused(stolen, GOOD, 'disk-not-denied')
    expect((await decrypt(other)).stdout.toString()).toBe('the disk passphrase')
  })

  it('refuses when the sealing key is disabled or the bound version retired', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'lifecycle', referenceValues: ['vm-image'] })).status).toBe(201)
    const v1 = await bind('lifecycle')
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys/lifecycle/rotate')).status).toBe(200)
    const v2 = await bind('lifecycle')
    expect(jweHeader(v2).kid).not.toBe(jweHeader(v1).kid)
    expect((await decrypt(v1)).code).toBe(0)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys/lifecycle/versions/1/retire')).status).toBe(200)
    await expectRefused(v1, GOOD, 'exchange-key-active')
    expect((await decrypt(v2)).code).toBe(0)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys/lifecycle/disable')).status).toBe(200)
    await expectRefused(v2, GOOD, 'sealing-key-enabled')
  })

  it('clevis luks bind on a LUKS2 image: the recovered passphrase opens the key slot (clevis luks pass, cryptsetup --test-passphrase)', async () => {
    const image = `${tmp.dir}/disk.img`
    const keyFile = await tmp.file('initial.key', 'initial passphrase')
    await luksImage(image, keyFile)
    const bound = await run('clevis', ['luks', 'bind', '-y', '-d', image, '-k', keyFile, 'keybroker', config()], {
      env: { KB_TEST_MEASUREMENT: GOOD },
    })
    expect(bound.stderr).not.toMatch(/error/i)
    expect(bound.code).toBe(0)
    const dump = await run('cryptsetup', ['luksDump', image])
    expect(dump.stdout.toString()).toMatch(/Tokens:\s+0: clevis\s+Keyslot:\s+1/)

    const pass = await run('clevis', ['luks', 'pass', '-d', image, '-s', '1'], { env: { KB_TEST_MEASUREMENT: GOOD } })
    expect(pass.code).toBe(0)
    expect(pass.stdout.byteLength).toBeGreaterThan(20)
    const opened = await run('cryptsetup', ['open', '--test-passphrase', '--key-file=-', image], { input: pass.stdout })
    expect(opened.code).toBe(0)
    const wrong = await run('cryptsetup', ['open', '--test-passphrase', '--key-file=-', image], { input: Buffer.from('not it') })
    expect(wrong.code).not.toBe(0)

    const refused = await run('clevis', ['luks', 'pass', '-d', image, '-s', '1'], { env: { KB_TEST_MEASUREMENT: BAD } })
    expect(refused.code).not.toBe(0)
    expect(refused.stdout.byteLength).toBe(0)
  })

  it('simple mode: a LUKS key stored as a secret (kind luks) released by name opens the disk (keybroker-unlock)', async () => {
    const key = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) % 256)) // NUL and high bytes included
    expect(
      (await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'luks-root', kind: 'luks', value: key.toString('base64url'), referenceValues: ['vm-image'] }))
        .status,
    ).toBe(201)
    const image = `${tmp.dir}/simple.img`
    await luksImage(image, await tmp.file('simple.key', key))
    const cfg = await tmp.file(
      'unlock.json',
      JSON.stringify({ url: kb.url, secret: 'luks-root', cacert: caFile, evidence: 'command', attester: SAMPLE_ATTESTER }),
    )

    const ok = await run('keybroker-unlock', ['--test-passphrase', cfg, image], { env: { KB_TEST_MEASUREMENT: GOOD } })
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    const printed = await run('keybroker-unlock', ['--print', cfg], { env: { KB_TEST_MEASUREMENT: GOOD } })
    expect(printed.stdout.equals(key)).toBe(true)
    // keybroker-unlock asks for no EAR ("token": false) either.
    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const release = audit.body.entries.filter((e: { action: string; subject: string }) => e.action === 'release' && e.subject === 'luks-root').at(-1)
    expect(release).toMatchObject({ outcome: 'ok' })
    expect(release.detail).not.toHaveProperty('tokenId')
    const opened = await run('cryptsetup', ['open', '--test-passphrase', '--key-file=-', image], { input: printed.stdout })
    expect(opened.code).toBe(0)

    const refused = await run('keybroker-unlock', ['--print', cfg], { env: { KB_TEST_MEASUREMENT: BAD } })
    expect(refused.code).toBe(1)
    expect(refused.stdout.byteLength).toBe(0)
    expect(refused.stderr).toContain('measurement-in-reference-values')
    expect((await run('keybroker-unlock', [cfg])).code).toBe(2)
  })
})
