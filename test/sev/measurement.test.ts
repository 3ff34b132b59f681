import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { computeMeasure, launchDigest, matchLaunchMeasure, measureInput, parseLaunchMeasure } from '../../src/sev/index.js'
import { codeOf } from '../support/error-code.js'

const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'))
const vector = (path: string) => new Uint8Array(readFileSync(new URL(`../vectors/${path}`, import.meta.url)))
const json = <T>(path: string) => JSON.parse(readFileSync(new URL(`../vectors/${path}`, import.meta.url), 'utf8')) as T

describe('LAUNCH_MEASURE check', () => {
  /**
   * test/vectors/aleph/sev-launch-measure.json: aleph-im/aleph-sdk-python@df8ed9b1df093de7c9814c26b3c3ef8434b635c9
   * tests/unit/test_utils.py `test_compute_confidential_measure` (whose values the SDK checks
   * against `sevctl measurement build`), wrapped in the CRN's measurement response shape.
   */
  it('aleph SDK vector: MEASURE and the HMAC input byte for byte', () => {
    const v = json<{
      measurement_response: { sev_info: { api_major: number; api_minor: number; build_id: number; policy: number }; launch_measure: string }
      tik_hex: string
      firmware_sha256_hex: string
      mnonce_b64: string
      hmac_input_b64: string
      expected_measure_b64: string
    }>('aleph/sev-launch-measure.json')
    const info = v.measurement_response.sev_info
    const platform = { apiMajor: info.api_major, apiMinor: info.api_minor, build: info.build_id, policy: info.policy }
    const lm = parseLaunchMeasure(b64(v.measurement_response.launch_measure))
    expect(Buffer.from(lm.mnonce).toString('base64')).toBe(v.mnonce_b64)
    expect(Buffer.from(measureInput(platform, hex(v.firmware_sha256_hex), lm.mnonce)).toString('base64')).toBe(v.hmac_input_b64)
    expect(Buffer.from(computeMeasure(hex(v.tik_hex), platform, hex(v.firmware_sha256_hex), lm.mnonce)).toString('base64')).toBe(v.expected_measure_b64)
    const other = hex('00'.repeat(32))
    expect(matchLaunchMeasure(hex(v.tik_hex), platform, lm, [other, hex(v.firmware_sha256_hex)])).toBe(1)
    // Any other build, policy or TIK: no match.
    expect(matchLaunchMeasure(hex(v.tik_hex), { ...platform, build: 25 }, lm, [hex(v.firmware_sha256_hex)])).toBe(-1)
    expect(matchLaunchMeasure(hex(v.tik_hex), { ...platform, policy: 0 }, lm, [hex(v.firmware_sha256_hex)])).toBe(-1)
    expect(matchLaunchMeasure(hex('00'.repeat(16)), platform, lm, [hex(v.firmware_sha256_hex)])).toBe(-1)
  })

  /** virtee/sev@9cf2adbffa209cc5becf7ff89ffdf624e7278ced src/session/mod.rs `fn verify` (API 0.18, build 15, LD = SHA-256 of nothing). */
  it('virtee/sev `Session::verify` vector', () => {
    const v = json<{ launch_measure: Record<string, string | number> }>('sev/sev-launch-vectors.virtee.json').launch_measure
    const platform = { apiMajor: v['api_major'] as number, apiMinor: v['api_minor'] as number, build: v['build'] as number, policy: v['policy'] as number }
    expect(Buffer.from(measureInput(platform, hex(v['ld_digest'] as string), hex(v['mnonce'] as string))).toString('hex')).toBe(v['hmac_input'])
    expect(Buffer.from(computeMeasure(hex(v['tik'] as string), platform, hex(v['ld_digest'] as string), hex(v['mnonce'] as string))).toString('hex')).toBe(v['expected_measure'])
  })

  /**
   * virtee/sevctl@8b47f3a6b980525f4c1e9804661abbdda459e137 tests/measurementbuild.rs: sevctl
   * prints MEASURE ‖ NONCE; the launch digest is given, or built from the trimmed OVMF image,
   * plus the kernel-hashes table, plus SEV-ES VMSAs (files copied to test/vectors/sev/sevctl/).
   */
  describe('sevctl `measurement build` vectors', () => {
    const e = json<{ measurement_build: Record<string, Record<string, string | number>> }>('sev/sevctl/expected.json').measurement_build
    const common = e['common']!
    const tik = vector(`sev/sevctl/${common['tik_file']}`)
    const platform = (o: Record<string, string | number>) => ({
      apiMajor: (o['api_major'] ?? common['api_major']) as number,
      apiMinor: (o['api_minor'] ?? common['api_minor']) as number,
      build: (o['build_id'] ?? common['build_id']) as number,
      policy: (o['policy'] ?? common['policy']) as number,
    })
    const output = (o: Record<string, string | number>, digest: Uint8Array, nonce: Uint8Array) =>
      Buffer.concat([computeMeasure(tik, platform(o), digest, nonce), nonce]).toString('base64')
    const nonce = b64(common['nonce_b64'] as string)
    const firmware = vector(`sev/sevctl/${e['firmware']!['firmware_file']}`)

    it('--launch-digest', () => {
      expect(output({}, b64(e['launch_digest']!['launch_digest_b64'] as string), nonce)).toBe(e['launch_digest']!['expected_b64'])
    })
    it('--firmware (LD = SHA-256 of the OVMF file)', () => {
      expect(output({}, launchDigest({ firmware }), nonce)).toBe(e['firmware']!['expected_b64'])
    })
    it('--firmware --kernel --initrd --cmdline (the kernel-hashes table)', () => {
      const k = e['firmware_kernel']!
      const digest = launchDigest({
        firmware,
        kernel: { kernel: vector(`sev/sevctl/${k['kernel_file']}`), initrd: vector(`sev/sevctl/${k['initrd_file']}`), cmdline: k['cmdline'] as string },
      })
      expect(output({}, digest, nonce)).toBe(k['expected_b64'])
    })
    it('SEV-ES: --num-cpus 4 --vmsa-cpu0 --vmsa-cpu1, nonce from the launch-measure blob', () => {
      const es = e['sev_es_vmsa']!
      const digest = launchDigest({ firmware, vmsa: { cpu0: vector(`sev/sevctl/${es['vmsa_cpu0_file']}`), cpu1: vector(`sev/sevctl/${es['vmsa_cpu1_file']}`), cpus: es['num_cpus'] as number } })
      const blob = parseLaunchMeasure(b64(es['launch_measure_blob_b64'] as string))
      expect(output(es, digest, blob.mnonce)).toBe(es['expected_b64'])
    })
  })

  it('a launch_measure blob of another size is evidence-malformed', () => {
    expect(codeOf(() => parseLaunchMeasure(new Uint8Array(47)))).toBe('evidence-malformed')
    expect(codeOf(() => parseLaunchMeasure(new Uint8Array(49)))).toBe('evidence-malformed')
    expect(codeOf(() => measureInput({ apiMajor: 256, apiMinor: 0, build: 0, policy: 0 }, new Uint8Array(32), new Uint8Array(16)))).toBe('evidence-malformed')
  })
})
