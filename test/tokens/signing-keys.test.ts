import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { calculateJwkThumbprint } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { isKeybrokerError, type ErrorCode } from '../../src/errors.js'
import {
  CURRENT_SIGNING_KEY_FILE,
  generateSigner,
  loadOrCreateSigningKey,
  loadOrCreateSigningKeys,
  signerFromPem,
} from '../../src/tokens/index.js'

async function asyncCodeOf(fn: () => Promise<unknown>): Promise<ErrorCode | 'no-error' | 'foreign-error'> {
  try {
    await fn()
    return 'no-error'
  } catch (err) {
    return isKeybrokerError(err) ? err.code : 'foreign-error'
  }
}

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kb-sign-'))
  dirs.push(dir)
  return dir
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

describe('signing keys', () => {
  it('generates signers whose kid is the RFC 7638 thumbprint', async () => {
    for (const alg of ['ES256', 'ES384'] as const) {
      const signer = await generateSigner(alg)
      const { kid: _kid, alg: _alg, use: _use, ...bare } = signer.publicJwk
      expect(signer.kid).toBe(await calculateJwkThumbprint(bare, 'sha256'))
      expect(signer.publicJwk).toMatchObject({ kty: 'EC', crv: alg === 'ES256' ? 'P-256' : 'P-384', alg, use: 'sig', kid: signer.kid })
      expect('d' in signer.publicJwk).toBe(false)
    }
  })

  it('loads a signer from PEM and refuses the wrong curve or garbage', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const pem = String(privateKey.export({ type: 'pkcs8', format: 'pem' }))
    expect((await signerFromPem(pem, 'ES256')).alg).toBe('ES256')
    expect(await asyncCodeOf(() => signerFromPem(pem, 'ES384'))).toBe('internal')
    expect(await asyncCodeOf(() => signerFromPem('not a pem', 'ES256'))).toBe('internal')
    const rsa = String(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
    expect(await asyncCodeOf(() => signerFromPem(rsa, 'ES256'))).toBe('internal')
  })

  it('creates a 0600 PKCS#8 key once and reloads the same kid', async () => {
    const dir = join(await tempDir(), 'keys')
    const first = await loadOrCreateSigningKey(dir, 'ES256')
    const second = await loadOrCreateSigningKey(dir, 'ES256')
    expect(second.current.kid).toBe(first.current.kid)
    const path = join(dir, CURRENT_SIGNING_KEY_FILE)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readdir(dir)).toEqual([CURRENT_SIGNING_KEY_FILE])
    expect(first.jwks().keys.map((k) => k.kid)).toEqual([first.current.kid])
    for (const k of first.jwks().keys) expect(Object.keys(k).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'])
  })

  it('concurrent creators agree on one key', async () => {
    const dir = await tempDir()
    const sets = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateSigningKey(dir, 'ES384')))
    expect(new Set(sets.map((s) => s.current.kid)).size).toBe(1)
  })

  it('rotation: old files verify, the new current key signs', async () => {
    const dir = await tempDir()
    const before = await loadOrCreateSigningKey(dir, 'ES256')
    await rename(join(dir, CURRENT_SIGNING_KEY_FILE), join(dir, 'token-signing-2026-01-01.pem'))
    const after = await loadOrCreateSigningKey(dir, 'ES256')
    expect(after.current.kid).not.toBe(before.current.kid)
    expect(after.verificationKeys.map((k) => k.kid).sort()).toEqual([before.current.kid, after.current.kid].sort())
    expect(after.jwks().keys).toHaveLength(2)
  })

  it('a directory of old keys without a current file gets a new current key', async () => {
    const dir = await tempDir()
    const pem = String(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
    await writeFile(join(dir, 'token-signing-old.pem'), pem, { mode: 0o600 })
    const set = await loadOrCreateSigningKey(dir, 'ES256')
    const old = await signerFromPem(pem, 'ES384')
    expect(set.current.kid).not.toBe(old.kid)
    expect(set.verificationKeys.find((k) => k.kid === old.kid)?.alg).toBe('ES384')
    expect((await readdir(dir)).sort()).toEqual([CURRENT_SIGNING_KEY_FILE, 'token-signing-old.pem'])
  })

  it('uses an operator-provided key file and refuses a curve mismatch', async () => {
    const dir = await tempDir()
    const file = join(dir, 'operator.pem')
    const pem = String(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
    await writeFile(file, pem, { mode: 0o600 })
    const set = await loadOrCreateSigningKeys(join(dir, 'keys'), 'ES384', file)
    expect(set.current.kid).toBe((await signerFromPem(pem, 'ES384')).kid)
    expect(await asyncCodeOf(() => loadOrCreateSigningKeys(join(dir, 'keys'), 'ES256', file))).toBe('internal')
    expect(await asyncCodeOf(() => loadOrCreateSigningKeys(join(dir, 'keys'), 'ES384', join(dir, 'missing.pem')))).toBe('internal')
    expect(await asyncCodeOf(() => loadOrCreateSigningKey(dir, 'ES256'))).toBe('no-error')
  })

  it('adds the public keys of KEYBROKER_TOKEN_PREVIOUS_KEYS_FILE to the verification keys and the JWKS', async () => {
    const dir = await tempDir()
    const older = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const oldest = generateKeyPairSync('ec', { namedCurve: 'P-384' })
    const file = join(dir, 'previous.pem')
    // One SPKI public key and one private key (only its public half is kept), with text between.
    await writeFile(
      file,
      `retired 2026-11-01\n${String(older.publicKey.export({ type: 'spki', format: 'pem' }))}\n${String(oldest.privateKey.export({ type: 'pkcs8', format: 'pem' }))}`,
    )
    const set = await loadOrCreateSigningKeys(join(dir, 'keys'), 'ES256', undefined, file)
    const { kty, crv, x, y } = older.publicKey.export({ format: 'jwk' })
    const olderKid = await calculateJwkThumbprint({ kty, crv, x, y }, 'sha256')
    expect(set.verificationKeys.map((k) => k.kid)).toContain(olderKid)
    expect(set.verificationKeys).toHaveLength(3)
    expect(set.verificationKeys.find((k) => k.alg === 'ES384')?.key.type).toBe('public')
    const jwks = set.jwks().keys
    expect(jwks.map((k) => k.kid)).toEqual([set.current.kid, ...set.verificationKeys.slice(1).map((k) => k.kid)])
    for (const k of jwks) expect('d' in k).toBe(false)

    await writeFile(file, 'no key here')
    expect(await asyncCodeOf(() => loadOrCreateSigningKeys(join(dir, 'keys'), 'ES256', undefined, file))).toBe('internal')
    const rsa = String(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }))
    await writeFile(file, rsa)
    expect(await asyncCodeOf(() => loadOrCreateSigningKeys(join(dir, 'keys'), 'ES256', undefined, file))).toBe('internal')
    expect(await asyncCodeOf(() => loadOrCreateSigningKeys(join(dir, 'keys'), 'ES256', undefined, join(dir, 'missing.pem')))).toBe('internal')
  })

  it('refuses a corrupt key file', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, CURRENT_SIGNING_KEY_FILE), 'garbage', { mode: 0o600 })
    expect(await asyncCodeOf(() => loadOrCreateSigningKey(dir, 'ES256'))).toBe('internal')
  })
})
