import { spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** The compiled CLI (`npm test` builds first). No KEYBROKER_* variables: bundle commands need none. */
const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const REPO = fileURLToPath(new URL('../../', import.meta.url))

function run(args: string[]) {
  const res = spawnSync(process.execPath, [BIN, 'bundle', ...args], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 60_000, cwd: REPO })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

describe('keybroker bundle sign | verify | fingerprint', () => {
  let dir: string
  const paths = { key: '', pub: '', otherPub: '', bundle: '', jws: '' }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keybroker-bundle-cli-'))
    const pair = generateKeyPairSync('ed25519')
    paths.key = join(dir, 'publisher.key')
    paths.pub = join(dir, 'publisher.pub.pem')
    paths.otherPub = join(dir, 'other.pub.pem')
    paths.bundle = join(dir, 'bundle.json')
    paths.jws = join(dir, 'bundle.jws')
    await writeFile(paths.key, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())
    await writeFile(paths.pub, pair.publicKey.export({ type: 'spki', format: 'pem' }).toString())
    await writeFile(paths.otherPub, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString())
    await writeFile(
      paths.bundle,
      JSON.stringify({
        format: 'keybroker-bundle/v1',
        name: 'cli-test',
        version: 2,
        issuedAt: '2026-01-01T00:00:00Z',
        expiresAt: '2027-01-01T00:00:00Z',
        referenceValues: [{ name: 'img', evidenceType: 'snp', expect: [{ claim: 'tcb.snp', atLeast: 8 }], values: [{ measurement: 'ab'.repeat(48) }] }],
      }),
    )
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('signs (EdDSA from an Ed25519 key) and verifies at a time inside the validity', async () => {
    const signed = run(['sign', '--key', paths.key, '--out', paths.jws, paths.bundle])
    expect(signed.status, signed.stderr).toBe(0)
    const fingerprint = run(['fingerprint', paths.pub])
    expect(fingerprint.status).toBe(0)
    expect(signed.stderr).toContain(fingerprint.stdout.trim())
    expect(run(['fingerprint', paths.key]).stdout).toBe(fingerprint.stdout)

    const verified = run(['verify', '--pub', paths.pub, '--at', '2026-06-01T00:00:00Z', paths.jws])
    expect(verified.status, verified.stderr).toBe(0)
    expect(JSON.parse(verified.stdout)).toMatchObject({
      verified: true,
      format: 'keybroker',
      signer: fingerprint.stdout.trim(),
      algorithm: 'EdDSA',
      name: 'cli-test',
      version: 2,
      referenceValues: [{ name: 'img', evidenceType: 'snp', values: 1, expect: 1 }],
    })
  })

  it('exits 1 with the problem type for an expired bundle, another signer, a changed byte', async () => {
    const expired = run(['verify', '--pub', paths.pub, '--at', '2027-01-01T00:00:01Z', paths.jws])
    expect(expired.status).toBe(1)
    expect(JSON.parse(expired.stdout)).toMatchObject({ code: 'bundle-expired', type: 'https://keybroker.dev/problems/bundle-expired' })
    const other = run(['verify', '--pub', paths.otherPub, '--at', '2026-06-01T00:00:00Z', paths.jws])
    expect(JSON.parse(other.stdout).code).toBe('bundle-signer-unknown')
    const jws = (await readFile(paths.jws, 'utf8')).trim()
    const [h, p, s] = jws.split('.') as [string, string, string]
    const changed = join(dir, 'changed.jws')
    await writeFile(changed, `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`)
    expect(JSON.parse(run(['verify', '--pub', paths.pub, '--at', '2026-06-01T00:00:00Z', changed]).stdout).code).toBe('bundle-signature-invalid')
  })

  it('verifies the examples in reference-values/, and Automata documents', () => {
    const example = run(['verify', '--pub', 'reference-values/bundles/example-publisher.pub.pem', '--at', '2026-12-01T00:00:00Z', 'reference-values/bundles/example-web.bundle.jws'])
    expect(example.status, example.stdout).toBe(0)
    expect(JSON.parse(example.stdout)).toMatchObject({ name: 'example-web', signer: 'ab8b402fc51794f926696a115e55650a70f8c0b4b7a9432a3e5c87cebed8df56' })
    const automata = run(['verify', '--format', 'automata', '--pub', 'reference-values/automata/example-automata-publisher.pub.pem', 'reference-values/automata/example-golden-measurement.signed.json'])
    expect(automata.status, automata.stdout).toBe(0)
    for (const [doc, pub] of [
      ['signed-golden-measurement.synthetic.ec-p256.json', 'json-sig-ec-p256.pub.pem'],
      ['signed-golden-measurement.synthetic.rsa2048.json', 'json-sig-rsa2048.pub.pem'],
    ]) {
      const r = run(['verify', '--format', 'automata', '--pub', `test/vectors/automata/${pub}`, `test/vectors/automata/${doc}`])
      expect(r.status, r.stdout).toBe(0)
    }
    const wrong = run(['verify', '--format', 'automata', '--pub', 'test/vectors/automata/json-sig-ec-p256.pub.pem', 'test/vectors/automata/signed-golden-measurement.synthetic.rsa2048.json'])
    expect(wrong.status).toBe(1)
    expect(JSON.parse(wrong.stdout).code).toBe('bundle-signature-invalid')
  })

  it('exits 2 on usage errors', () => {
    expect(run([]).status).toBe(2)
    expect(run(['sign', paths.bundle]).status).toBe(2)
    expect(run(['verify', paths.jws]).status).toBe(2)
    expect(run(['verify', '--pub', paths.pub, '--format', 'x', paths.jws]).status).toBe(2)
    expect(run(['verify', '--pub', paths.pub, join(dir, 'missing.jws')]).status).toBe(2)
    expect(run(['sign', '--key', paths.pub, paths.bundle]).status).toBe(1)
  })
})
