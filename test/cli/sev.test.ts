import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** The compiled CLI (`npm test` builds first). No KEYBROKER_* variables: the sev tools need none. */
const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const VECTORS = fileURLToPath(new URL('../vectors/', import.meta.url))
const json = <T>(path: string) => JSON.parse(readFileSync(join(VECTORS, path), 'utf8')) as T
const hexOf = (path: string) => readFileSync(join(VECTORS, path)).toString('hex')

function run(args: string[]) {
  const res = spawnSync(process.execPath, [BIN, 'sev', ...args], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 60_000 })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

describe('keybroker sev (offline guest-owner tools)', () => {
  let dir: string
  const chain = () => join(dir, 'naples-chain.bin')
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keybroker-sev-cli-'))
    await writeFile(chain(), Buffer.concat(['pdh', 'pek', 'oca', 'cek'].map((n) => readFileSync(join(VECTORS, `sev/naples/${n}.cert`)))))
    await writeFile(join(dir, 'garbage.bin'), readFileSync(join(VECTORS, 'sev/naples/pdh.cert')).subarray(0, 2000))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  describe('verify-chain FILE', () => {
    it('the real Naples chain: exit 0 with the built-in roots, exit 1 with the others and the reason on stderr', () => {
      const ok = run(['verify-chain', chain()])
      expect(ok.status, ok.stderr).toBe(0)
      expect(JSON.parse(ok.stdout)).toMatchObject({ verified: true, product: 'Naples', pdhSha256: '34b11563c32bd17b4e2b4b8205301af64e7bd06a85e2a6ada789bc9d5dfd9932' })
      const refused = run(['verify-chain', '--products', 'rome,milan,genoa,turin', chain()])
      expect(refused.status).toBe(1)
      expect(refused.stdout).toBe('')
      expect(refused.stderr).toContain('chain-untrusted')
    })

    it('a malformed file is exit 1 (evidence-malformed); a usage error exit 2', () => {
      const bad = run(['verify-chain', join(dir, 'garbage.bin')])
      expect(bad.status).toBe(1)
      expect(bad.stderr).toContain('evidence-malformed')
      expect(run(['verify-chain']).status).toBe(2)
      expect(run(['verify-chain', '--products', 'venice', chain()]).status).toBe(2)
      expect(run(['verify-chain', join(dir, 'missing.bin')]).status).toBe(2)
    })
  })

  describe('measure', () => {
    /** test/vectors/aleph/sev-launch-measure.json (aleph SDK test values, sevctl-confirmed). */
    const v = json<{ tik_hex: string; firmware_sha256_hex: string; mnonce_b64: string; expected_measure_b64: string; measurement_response: { launch_measure: string } }>(
      'aleph/sev-launch-measure.json',
    )
    const args = ['measure', '--tik', v.tik_hex, '--api', '1.55', '--build', '24', '--policy', '1', '--firmware-digest', v.firmware_sha256_hex]

    it('prints MEASURE (standard base64) for the aleph SDK vector', () => {
      const r = run([...args, '--mnonce', v.mnonce_b64])
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout.trim()).toBe(v.expected_measure_b64)
    })

    it('--launch-measure checks the 48-byte blob: exit 0 match, 1 mismatch', () => {
      expect(run([...args, '--launch-measure', v.measurement_response.launch_measure]).status).toBe(0)
      const other = args.map((a) => (a === '24' ? '25' : a))
      expect(run([...other, '--launch-measure', v.measurement_response.launch_measure]).status).toBe(1)
    })

    it('--firmware FILE with --kernel/--initrd/--cmdline, policy in hex: the sevctl vector', () => {
      const e = json<{ measurement_build: Record<string, Record<string, string | number>> }>('sev/sevctl/expected.json').measurement_build
      const k = e['firmware_kernel']!
      const r = run([
        'measure',
        '--tik', hexOf('sev/sevctl/measurement-tik1.bin'),
        '--api', '1.40', '--build', '40', '--policy', '0x03',
        '--firmware', join(VECTORS, 'sev/sevctl', k['firmware_file'] as string),
        '--kernel', join(VECTORS, 'sev/sevctl', k['kernel_file'] as string),
        '--initrd', join(VECTORS, 'sev/sevctl', k['initrd_file'] as string),
        '--cmdline', k['cmdline'] as string,
        '--mnonce', e['common']!['nonce_b64'] as string,
      ])
      expect(r.status, r.stderr).toBe(0)
      // sevctl prints MEASURE ‖ NONCE; we print MEASURE.
      expect(r.stdout.trim()).toBe(Buffer.from(k['expected_b64'] as string, 'base64').subarray(0, 32).toString('base64'))
    })

    it('usage errors exit 2', () => {
      expect(run(['measure', '--tik', 'zz']).status).toBe(2)
      expect(run([...args]).status).toBe(2) // neither --mnonce nor --launch-measure
      expect(run([...args, '--mnonce', 'AAAA']).status).toBe(2) // not 16 bytes
    })
  })

  it('launch-digest: the hex GCTX.LD to register, which `measure --firmware-digest` turns into the sevctl result', () => {
    const e = json<{ measurement_build: Record<string, Record<string, string | number>> }>('sev/sevctl/expected.json').measurement_build
    const es = e['sev_es_vmsa']!
    const ld = run([
      'launch-digest',
      '--firmware', join(VECTORS, 'sev/sevctl', es['firmware_file'] as string),
      '--vmsa-cpu0', join(VECTORS, 'sev/sevctl', es['vmsa_cpu0_file'] as string),
      '--vmsa-cpu1', join(VECTORS, 'sev/sevctl', es['vmsa_cpu1_file'] as string),
      '--num-cpus', '4',
    ])
    expect(ld.status, ld.stderr).toBe(0)
    expect(ld.stdout.trim()).toMatch(/^[0-9a-f]{64}$/)
    const check = run([
      'measure', '--tik', hexOf('sev/sevctl/measurement-tik1.bin'), '--api', '1.49', '--build', '6', '--policy', '0x05',
      '--firmware-digest', ld.stdout.trim(), '--launch-measure', es['launch_measure_blob_b64'] as string,
    ])
    expect(check.status, check.stderr).toBe(0)
  })

  describe('package-secret', () => {
    it('the aleph variant with a fixed IV is the synthetic aleph vector byte for byte', () => {
      const v = json<{ inputs: { tek_hex: string; tik_hex: string; iv_hex: string; secret_utf8: string; launch_measure_b64: string }; inject_secret_request_body: unknown }>(
        'aleph/sev-launch-secret.synthetic.json',
      )
      const r = run(['package-secret', '--tik', v.inputs.tik_hex, '--tek', v.inputs.tek_hex, '--launch-measure', v.inputs.launch_measure_b64, '--iv', v.inputs.iv_hex, '--secret', v.inputs.secret_utf8])
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout)).toEqual(v.inject_secret_request_body)
    })

    it('--format sevctl reproduces `sevctl secret build` (secret from a file)', () => {
      const e = json<{ secret_build: Record<string, string | { header_b64: string; payload_b64: string }> }>('sev/sevctl/expected.json').secret_build
      const one = e['one_secret'] as { header_b64: string; payload_b64: string }
      const r = run([
        'package-secret', '--format', 'sevctl',
        '--tik', hexOf('sev/sevctl/secret/tik1.bin'), '--tek', hexOf('sev/sevctl/secret/tek1.bin'),
        '--launch-measure', e['launch_measure_blob_b64'] as string,
        '--iv', Buffer.from(e['iv_b64'] as string, 'base64').toString('hex'),
        '--secret-file', join(VECTORS, 'sev/sevctl/secret/secret1.txt'),
      ])
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout)).toEqual({ packet_header: one.header_b64, secret: one.payload_b64 })
    })

    it('without --iv the IV is fresh each time; bad arguments exit 2', () => {
      const v = json<{ inputs: { tek_hex: string; tik_hex: string; launch_measure_b64: string } }>('aleph/sev-launch-secret.synthetic.json')
      const base = ['package-secret', '--tik', v.inputs.tik_hex, '--tek', v.inputs.tek_hex, '--launch-measure', v.inputs.launch_measure_b64, '--secret', 'x']
      expect(run(base).stdout).not.toBe(run(base).stdout)
      expect(run([...base, '--format', 'qemu']).status).toBe(2)
      expect(run([...base, '--iv', '00']).status).toBe(2)
    })
  })
})
