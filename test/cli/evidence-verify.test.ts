/**
 * `keybroker evidence verify` (the compiled CLI, as admins run it) with the real SNP vectors at
 * their pinned times (test/vectors/snp/README.md), in every input form it takes.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildCertTable, CERT_TABLE_GUIDS } from '../../src/evidence/snp/index.js'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const VECTORS = fileURLToPath(new URL('../vectors/snp/', import.meta.url))
const AMD = fileURLToPath(new URL('../../reference-values/amd/', import.meta.url))
const vec = (p: string) => join(VECTORS, p)

const TODAY = '2026-11-23T00:00:00Z'
const MILAN_REPORT = vec('trustee-milan-vcek/test-report.bin')
const MILAN_VCEK = vec('trustee-milan-vcek/test-vcek.der')
const HWID =
  'c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e'

let dir: string

function kb(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [BIN, 'evidence', 'verify', ...args], {
    env: { PATH: process.env.PATH ?? '', KEYBROKER_DATA_DIR: join(dir, 'data'), ...env },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

function problemCode(stdout: string): string {
  const problem = JSON.parse(stdout) as { code: string; type: string; detail: string }
  expect(problem.type).toBe(`https://keybroker.dev/problems/${problem.code}`)
  expect(problem.detail).toBeTypeOf('string')
  return problem.code
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kb-evidence-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('keybroker evidence verify --type snp', () => {
  it('verifies a raw report with --certs at the pinned time and prints the claims (binary as hex)', () => {
    const res = kb(['--type', 'snp', MILAN_REPORT, '--certs', MILAN_VCEK, '--at', TODAY])
    expect(res.status).toBe(0)
    const claims = JSON.parse(res.stdout)
    expect(claims).toMatchObject({
      evidenceType: 'snp',
      platform: 'amd-sev-snp',
      measurement: 'a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c',
      instanceId: HWID,
      tcb: { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
      debug: false,
      raw: { product: 'Milan', version: 2, vmpl: 0, signingKey: 'vcek' },
    })
    expect(claims.reportData).toBe('ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2' + '00'.repeat(32))
  })

  it('fails with the problem and exit 1: no VCEK, a changed byte, outside the VCEK validity', () => {
    const missing = kb(['--type', 'snp', MILAN_REPORT, '--at', TODAY])
    expect(missing.status).toBe(1)
    expect(problemCode(missing.stdout)).toBe('collateral-missing')
    expect(missing.stderr).toContain('collateral-missing')

    const report = new Uint8Array(readFileSync(MILAN_REPORT))
    report[0x90] = (report[0x90] ?? 0) ^ 1
    const tampered = join(dir, 'tampered.bin')
    return writeFile(tampered, report).then(() => {
      const bad = kb(['--type', 'snp', tampered, '--certs', MILAN_VCEK, '--at', TODAY])
      expect(bad.status).toBe(1)
      expect(problemCode(bad.stdout)).toBe('signature-invalid')
      const early = kb(['--type', 'snp', MILAN_REPORT, '--certs', MILAN_VCEK, '--at', '2023-01-24T17:58:25Z'])
      expect(problemCode(early.stdout)).toBe('chain-untrusted')
    })
  })

  it('finds the VCEK in a KDS-layout --collateral directory', async () => {
    const cache = join(dir, 'kds')
    await mkdir(join(cache, 'vcek/v1/Milan'), { recursive: true })
    await writeFile(join(cache, `vcek/v1/Milan/${HWID}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115`), readFileSync(MILAN_VCEK))
    const res = kb(['--type', 'snp', MILAN_REPORT, '--collateral', cache, '--at', TODAY])
    expect(res.status).toBe(0)
    expect(JSON.parse(res.stdout).instanceId).toBe(HWID)
    // KEYBROKER_COLLATERAL_DIR is the default directory.
    expect(kb(['--type', 'snp', MILAN_REPORT, '--at', TODAY], { KEYBROKER_COLLATERAL_DIR: cache }).status).toBe(0)
  })

  it('applies the service settings: the AWS VLEK report (VMPL 1) needs KEYBROKER_SNP_MAX_VMPL=1 and its pinned date', () => {
    const args = ['--type', 'snp', vec('trustee-milan-vlek-aws/test-vlek-report.bin'), '--certs', vec('trustee-milan-vlek-aws/test-vlek.der')]
    expect(problemCode(kb([...args, '--at', '2025-06-01T00:00:00Z']).stdout)).toBe('policy-violation')
    const ok = kb([...args, '--at', '2025-06-01T00:00:00Z'], { KEYBROKER_SNP_MAX_VMPL: '1' })
    expect(ok.status).toBe(0)
    expect(JSON.parse(ok.stdout).raw).toMatchObject({ signingKey: 'vlek', vmpl: 1, cspId: 'CN=cc-us-east-2.amazonaws.com' })
    const today = kb([...args, '--at', TODAY], { KEYBROKER_SNP_MAX_VMPL: '1' })
    expect(problemCode(today.stdout)).toBe('chain-untrusted')
    // The floor of the configuration holds too (the report's SNP SPL is 24).
    const floor = kb([...args, '--at', '2025-06-01T00:00:00Z'], { KEYBROKER_SNP_MAX_VMPL: '1', KEYBROKER_SNP_MIN_TCB: '{"milan":{"snp":25}}' })
    expect(problemCode(floor.stdout)).toBe('tcb-below-minimum')
  })

  it('takes PEM certificate files (Azure report with its VCEK, ASK, ARK) and a configfs-tsm auxblob', async () => {
    const az = new Uint8Array(readFileSync(vec('cosmian-tee-tools/az_sev_report_with_chain.bin')))
    const report = join(dir, 'az-report.bin')
    const pem = join(dir, 'az-chain.pem')
    await writeFile(report, az.subarray(0, 1184))
    await writeFile(pem, az.subarray(1184))
    const res = kb(['--type', 'snp', report, '--certs', pem, '--at', TODAY])
    expect(res.status).toBe(0)
    expect(JSON.parse(res.stdout).raw.product).toBe('Milan')

    const der = (p: string) => new Uint8Array(Buffer.from(readFileSync(join(AMD, p), 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'))
    const auxblob = buildCertTable(
      [
        { guid: CERT_TABLE_GUIDS.vcek, data: new Uint8Array(readFileSync(MILAN_VCEK)) },
        { guid: CERT_TABLE_GUIDS.ask, data: der('milan/ask-milan.pem') },
        { guid: CERT_TABLE_GUIDS.ark, data: der('milan/ark-milan.pem') },
      ],
      16 * 1024,
    )
    const aux = join(dir, 'auxblob')
    await writeFile(aux, auxblob)
    expect(kb(['--type', 'snp', MILAN_REPORT, '--certs', aux, '--at', TODAY]).status).toBe(0)
    // A table must be the only --certs file.
    expect(problemCode(kb(['--type', 'snp', MILAN_REPORT, '--certs', aux, '--certs', MILAN_VCEK, '--at', TODAY]).stdout)).toBe('evidence-malformed')
  })

  it('takes wire-form JSON evidence, or an attest request body holding it', async () => {
    const evidence = {
      type: 'snp',
      report: readFileSync(MILAN_REPORT).toString('base64'),
      certs: [readFileSync(MILAN_VCEK).toString('base64')],
    }
    const file = join(dir, 'evidence.json')
    await writeFile(file, JSON.stringify(evidence))
    expect(kb(['--type', 'snp', file, '--at', TODAY]).status).toBe(0)
    await writeFile(file, JSON.stringify({ nonce: 'x', evidence, publicKey: {}, release: [] }))
    expect(kb(['--type', 'snp', file, '--at', TODAY]).status).toBe(0)
    await writeFile(file, JSON.stringify({ ...evidence, report: 'not base64!' }))
    expect(problemCode(kb(['--type', 'snp', file, '--at', TODAY]).stdout)).toBe('evidence-malformed')
    await writeFile(file, JSON.stringify({ ...evidence, type: 'tdx' }))
    expect(problemCode(kb(['--type', 'snp', file, '--at', TODAY]).stdout)).toBe('evidence-malformed')
    expect(kb(['--type', 'snp', file, '--certs', MILAN_VCEK]).status).toBe(2)
  })

  it('usage errors exit 2; an unknown type is evidence-unsupported', () => {
    expect(kb([MILAN_REPORT]).status).toBe(2)
    expect(kb(['--type', 'snp']).status).toBe(2)
    expect(kb(['--type', 'snp', MILAN_REPORT, '--at', 'yesterday']).status).toBe(2)
    expect(kb(['--type', 'snp', MILAN_REPORT, '--bogus']).status).toBe(2)
    expect(kb(['--type', 'snp', join(dir, 'no-such-file')]).status).toBe(2)
    const unknown = kb(['--type', 'nitro', MILAN_REPORT])
    expect(unknown.status).toBe(1)
    expect(problemCode(unknown.stdout)).toBe('evidence-unsupported')
    expect(problemCode(kb(['--type', 'sample', MILAN_REPORT]).stdout)).toBe('evidence-unsupported')
  })
})
