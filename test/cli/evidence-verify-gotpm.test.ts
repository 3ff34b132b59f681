/**
 * `keybroker evidence verify --type gotpm` (the compiled CLI) on the real go-tpm-tools vectors:
 * the contract shape `FILE [--certs FILE]… [--at TIME] [--nonce HEX]`.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const V = (p: string): string => fileURLToPath(new URL(`../vectors/${p}`, import.meta.url))
const GCE = V('gotpm/gce-cos-85-nonce9009.pb')
const ROOT = V('gotpm/ca-certs/tpm_ek_root_1.cer')
const INTERMEDIATE = V('gotpm/ca-certs/tpm_ek_intermediate_2.crt')

let dir: string
function kb(args: string[]) {
  const res = spawnSync(process.execPath, [BIN, 'evidence', 'verify', ...args], {
    env: { PATH: process.env.PATH ?? '', KEYBROKER_DATA_DIR: join(dir, 'data'), KEYBROKER_COLLATERAL_DIR: join(dir, 'none') },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}
const code = (stdout: string): string => (JSON.parse(stdout) as { code: string }).code

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kb-evidence-gotpm-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('keybroker evidence verify --type gotpm', { timeout: 240_000 }, () => {
  it('prints the claims of the real GCE attestation with Google root 1 and intermediate 2 as --certs (DER)', () => {
    const ok = kb(['--type', 'gotpm', GCE, '--certs', ROOT, '--certs', INTERMEDIATE, '--at', '2026-11-23T00:00:00Z', '--nonce', '9009'])
    expect(ok.stderr).toBe('')
    expect(ok.status).toBe(0)
    const claims = JSON.parse(ok.stdout)
    expect(claims).toMatchObject({
      evidenceType: 'gotpm',
      platform: 'vtpm',
      reportData: '9009',
      measurement: '048937cbaaf28af85a5b0c0997e725097a0d94e05fcda104a82ee3fb6b2e1808',
      measurements: { pcr0: '0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf' },
    })
    expect(claims.raw.ak.trust).toBe('certificate')
  })

  it('without --nonce the nonce is not checked; another --nonce is binding-mismatch', () => {
    expect(kb(['--type', 'gotpm', GCE, '--certs', ROOT, '--certs', INTERMEDIATE]).status).toBe(0)
    const wrong = kb(['--type', 'gotpm', GCE, '--certs', ROOT, '--certs', INTERMEDIATE, '--nonce', '9010'])
    expect(wrong.status).toBe(1)
    expect(code(wrong.stdout)).toBe('binding-mismatch')
  })

  it('without the CAs: chain-untrusted; a JSON evidence file with the base64 attestation works the same', async () => {
    expect(code(kb(['--type', 'gotpm', GCE]).stdout)).toBe('chain-untrusted')
    const { readFile } = await import('node:fs/promises')
    const json = join(dir, 'gce.json')
    await writeFile(json, JSON.stringify({ type: 'gotpm', attestation: (await readFile(GCE)).toString('base64') }))
    const ok = kb(['--type', 'gotpm', json, '--certs', ROOT, '--certs', INTERMEDIATE])
    expect(ok.status).toBe(0)
    expect(JSON.parse(ok.stdout).reportData).toBe('9009')
  })

  it('garbage is evidence-malformed, a bad --nonce a usage error', async () => {
    const bad = join(dir, 'bad.pb')
    await writeFile(bad, Buffer.from([0xff, 0xff, 0xff]))
    expect(code(kb(['--type', 'gotpm', bad]).stdout)).toBe('evidence-malformed')
    expect(kb(['--type', 'gotpm', GCE, '--nonce', 'xyz']).status).toBe(2)
  })
})
