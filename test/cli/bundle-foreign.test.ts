/**
 * `keybroker bundle verify --format corim|gosevguest|gotdxguest` (the compiled CLI) on the real
 * veraison CoRIM test cases and Cocos policies (test/vectors/corim, test/vectors/cocos).
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const V = (p: string): string => fileURLToPath(new URL(`../vectors/${p}`, import.meta.url))
function run(args: string[]) {
  const res = spawnSync(process.execPath, [BIN, 'bundle', 'verify', ...args], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 60_000 })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, json: res.stdout.trim().startsWith('{') ? JSON.parse(res.stdout) : undefined }
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybroker-bundle-foreign-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('bundle verify --format corim', { timeout: 240_000 }, () => {
  const signed = V('corim/signed-good-corim.cbor')
  const pub = V('corim/ec-p256.pub.pem')

  it('verifies the signed veraison CoRIM inside its validity; its PSA triples are reported as not importable', () => {
    const ok = run(['--format', 'corim', '--pub', pub, '--at', '2025-06-01T00:00:00Z', signed])
    expect(ok.status).toBe(0)
    expect(ok.json).toMatchObject({ verified: true, signed: true, signerName: 'ACME Ltd signing key', signatureValidity: { notAfter: '2025-12-31T00:00:00.000Z' }, id: 'test corim id' })
    expect(ok.json.mapping).toMatchObject({ importable: false, code: 'bundle-malformed' })
  })

  it('enforces the validity window, the key and the signature', async () => {
    expect(run(['--format', 'corim', '--pub', pub, '--at', '2026-11-23T00:00:00Z', signed]).json.code).toBe('bundle-expired')
    const other = join(dir, 'other.pem')
    const { generateKeyPairSync } = await import('node:crypto')
    await writeFile(other, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString())
    expect(run(['--format', 'corim', '--pub', other, '--at', '2025-06-01T00:00:00Z', signed]).json.code).toBe('bundle-signature-invalid')
    const bytes = new Uint8Array(await readFile(signed))
    bytes[bytes.byteLength - 3] = (bytes[bytes.byteLength - 3] ?? 0) ^ 1
    const tampered = join(dir, 'tampered.cbor')
    await writeFile(tampered, bytes)
    const bad = run(['--format', 'corim', '--pub', pub, '--at', '2025-06-01T00:00:00Z', tampered])
    expect(bad.status).toBe(1)
    expect(bad.json.code).toBe('bundle-signature-invalid')
    expect(run(['--format', 'corim', '--at', '2025-06-01T00:00:00Z', signed]).status).toBe(2)
  })

  it('parses the unsigned examples without --pub', () => {
    for (const f of ['unsigned-good-corim.cbor', 'corim-1.cbor']) {
      const r = run(['--format', 'corim', V(`corim/${f}`)])
      expect(r.status).toBe(0)
      expect(r.json).toMatchObject({ verified: true, signed: false })
    }
  })
})

describe('bundle verify --format gosevguest|gotdxguest', { timeout: 240_000 }, () => {
  it('prints the set the Cocos SEV-SNP policy maps to', () => {
    const r = run(['--format', 'gosevguest', V('cocos/attestation_policy.json')])
    expect(r.status).toBe(0)
    expect(r.json).toMatchObject({ signed: false, evidenceType: 'gotpm' })
    expect(r.json.expect).toContainEqual({ claim: 'vmpl', equals: 2 })
  })

  it('names the fields the Cocos TDX policy has beyond go-tdx-guest, and maps it with --ignore', () => {
    const refused = run(['--format', 'gotdxguest', V('cocos/attestation_policy_tdx.json')])
    expect(refused.status).toBe(1)
    expect(refused.json.detail).toContain('"policy" is unknown')
    const ok = run(['--format', 'gotdxguest', '--ignore', 'policy.tdQuoteBodyPolicy.policy', '--ignore', 'policy.tdQuoteBodyPolicy.eat_validation', V('cocos/attestation_policy_tdx.json')])
    expect(ok.status).toBe(0)
    expect(ok.json).toMatchObject({ evidenceType: 'tdx', ignored: ['policy.tdQuoteBodyPolicy.policy', 'policy.tdQuoteBodyPolicy.eat_validation'] })
  })
})
