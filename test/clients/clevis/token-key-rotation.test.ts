/**
 * Token-key rotation with the real clients, on both databases. Replicas share the token key
 * through KEYBROKER_TOKEN_KEY_FILE; the rotation restarts keybroker on a new key file with the
 * old public key in KEYBROKER_TOKEN_PREVIOUS_KEYS_FILE, then without it.
 *
 * - A disk bound before the rotation (`clevis encrypt` and `clevis luks bind`) still unlocks
 *   after it, and after the old key is gone: `thp` is checked when binding, never at unlock.
 * - A new binding that pins the old `thp` is refused (the advertisement is signed by the new
 *   key only); with the new `thp` it binds and unlocks.
 * - A result token (EAR) issued before the rotation keeps working while the old public key is
 *   configured (it is in the JWKS), and is refused once it is removed.
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toBase64Url } from '../../../src/evidence/reader.js'
import type { Database } from '../../../src/storage/index.js'
import { testDatabases } from '../../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../../support/keybroker.js'
import { luksImage, run, SAMPLE_ATTESTER, scratch } from './tools.js'

const GOOD = 'c7'.repeat(48)
const sample = (reportData: Uint8Array) => ({ type: 'sample', measurement: GOOD, reportData: toBase64Url(reportData), debug: false })

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** The token key's `kid` in the JWKS: the RFC 7638 thumbprint of its public key. */
function kidOf(pem: string): Promise<string> {
  const { kty, crv, x, y } = createPublicKey(pem).export({ format: 'jwk' })
  return calculateJwkThumbprint({ kty, crv, x, y }, 'sha256')
}

describe.each(testDatabases())('token-key rotation with the clevis pin on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker | undefined
  let tmp: Awaited<ReturnType<typeof scratch>>
  const kek = randomBytes(32).toString('base64')
  const pems: { private1: string; private2: string; public1: string } = { private1: '', private2: '', public1: '' }
  const files = { key1: '', key2: '', previous: '', ca: '', tlsKey: '' }

  let port = 0
  // A binding names keybroker's URL and TLS certificate: the restarts keep both (and the KEK).
  async function restart(env: Record<string, string>): Promise<TestKeybroker> {
    await kb?.close()
    kb = await startKeybroker(database, {
      KEYBROKER_KEK: kek,
      KEYBROKER_LISTEN: `127.0.0.1:${port}`,
      KEYBROKER_TLS_CERT: files.ca,
      KEYBROKER_TLS_KEY: files.tlsKey,
      ...env,
    })
    return kb
  }

  const config = (k: TestKeybroker, thp: string) =>
    JSON.stringify({ url: k.url, key: 'root', thp, cacert: files.ca, evidence: 'command', attester: SAMPLE_ATTESTER })
  const decrypt = (jwe: string) => run('clevis', ['decrypt'], { input: jwe, env: { KB_TEST_MEASUREMENT: GOOD } })

  beforeAll(async () => {
    database = await engine.open()
    tmp = await scratch('kb-token-rotation-')
    const k1 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const k2 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    pems.private1 = String(k1.privateKey.export({ type: 'pkcs8', format: 'pem' }))
    pems.private2 = String(k2.privateKey.export({ type: 'pkcs8', format: 'pem' }))
    pems.public1 = String(k1.publicKey.export({ type: 'spki', format: 'pem' }))
    files.key1 = await tmp.file('token-1.pem', pems.private1)
    files.key2 = await tmp.file('token-2.pem', pems.private2)
    files.previous = await tmp.file('token-previous.pem', pems.public1)
    files.ca = `${tmp.dir}/tls.pem`
    files.tlsKey = `${tmp.dir}/tls.key`
    const cert = await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', files.tlsKey, '-out', files.ca,
    ])
    expect(cert.code).toBe(0)
    port = await freePort()
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
    await tmp?.remove()
  })

  it('old bindings unlock across the rotation and after the old key is dropped; new bindings need the new thp', async () => {
    const thp1 = await kidOf(pems.private1)
    const thp2 = await kidOf(pems.private2)
    expect(thp1).not.toBe(thp2)

    // Before: keybroker signs with key 1.
    let k = await restart({ KEYBROKER_TOKEN_KEY_FILE: files.key1 })
    expect(((JSON.parse((await k.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }).keys).map((j) => j.kid)).toEqual([thp1])
    expect((await adminCall(k, 'POST', '/admin/v1/reference-values', { name: 'img', measurements: [GOOD] })).status).toBe(201)
    expect((await adminCall(k, 'POST', '/admin/v1/sealing-keys', { name: 'root', referenceValues: ['img'] })).status).toBe(201)
    expect((await adminCall(k, 'POST', '/admin/v1/secrets', { name: 'app', generate: { bytes: 32 }, referenceValues: ['img'] })).status).toBe(201)

    const bound = await run('clevis', ['encrypt', 'keybroker', config(k, thp1)], { input: 'the disk passphrase' })
    expect(bound.stderr).toBe('')
    expect(bound.code).toBe(0)
    const jwe = bound.stdout.toString()
    const image = `${tmp.dir}/disk.img`
    const keyFile = await tmp.file('initial.key', 'initial passphrase')
    await luksImage(image, keyFile)
    const luks = await run('clevis', ['luks', 'bind', '-y', '-d', image, '-k', keyFile, 'keybroker', config(k, thp1)], { env: { KB_TEST_MEASUREMENT: GOOD } })
    expect(luks.code).toBe(0)
    const { token: ear } = await k.client.attestAndOpen(sample, ['app'])

    // Rotation: key 2 signs; key 1's public key stays in the JWKS.
    k = await restart({ KEYBROKER_TOKEN_KEY_FILE: files.key2, KEYBROKER_TOKEN_PREVIOUS_KEYS_FILE: files.previous })
    const kids = ((JSON.parse((await k.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }).keys).map((j) => j.kid)
    expect(kids).toEqual([thp2, thp1])
    const adv = JSON.parse((await k.raw('GET', '/v1/sealing-keys/root')).body) as { protected: string }
    expect(JSON.parse(Buffer.from(adv.protected, 'base64url').toString()).kid).toBe(thp2)

    // The EAR issued under key 1 still fetches secrets.
    expect((await k.raw('GET', '/v1/secrets/app', undefined, { Authorization: `Bearer ${ear}` })).status).toBe(200)

    // The disk bound under key 1 unlocks (clevis decrypt, clevis luks pass + cryptsetup).
    const dec = await decrypt(jwe)
    expect(dec.stderr).toBe('')
    expect(dec.stdout.toString()).toBe('the disk passphrase')
    const pass = await run('clevis', ['luks', 'pass', '-d', image, '-s', '1'], { env: { KB_TEST_MEASUREMENT: GOOD } })
    expect(pass.code).toBe(0)
    expect((await run('cryptsetup', ['open', '--test-passphrase', '--key-file=-', image], { input: pass.stdout })).code).toBe(0)

    // New bindings: the old thp no longer signs the advertisement; the new one does.
    const stale = await run('clevis', ['encrypt', 'keybroker', config(k, thp1)], { input: 'x' })
    expect(stale.code).toBe(1)
    expect(stale.stderr).toMatch(/did not sign the advertisement/)
    const fresh = await run('clevis', ['encrypt', 'keybroker', config(k, thp2)], { input: 'rebound' })
    expect(fresh.code).toBe(0)
    expect((await decrypt(fresh.stdout.toString())).stdout.toString()).toBe('rebound')

    // After the longest token lifetime, key 1 is dropped: old EARs are refused, old disks still unlock.
    k = await restart({ KEYBROKER_TOKEN_KEY_FILE: files.key2 })
    expect(((JSON.parse((await k.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }).keys).map((j) => j.kid)).toEqual([thp2])
    expect((await k.raw('GET', '/v1/secrets/app', undefined, { Authorization: `Bearer ${ear}` })).status).toBe(401)
    expect((await decrypt(jwe)).stdout.toString()).toBe('the disk passphrase')
    const passAfter = await run('clevis', ['luks', 'pass', '-d', image, '-s', '1'], { env: { KB_TEST_MEASUREMENT: GOOD } })
    expect(passAfter.code).toBe(0)
    expect(passAfter.stdout.equals(pass.stdout)).toBe(true)
    // Three restarts and a dozen clevis runs (each a few processes): bounded, but above the default.
  }, 300_000)
})
