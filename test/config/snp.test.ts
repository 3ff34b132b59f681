/** The SEV-SNP settings: defaults, syntax, validation at start, and their way into the verifier. */
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { DEFAULT_SNP_VERIFY_OPTIONS } from '../../src/evidence/snp/index.js'
import { snpVerifyOptions } from '../../src/services/verifiers.js'

function settingOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    if (err instanceof ConfigError) return err.setting
    throw err
  }
}

describe('SEV-SNP settings', () => {
  it('default to the verifier defaults: VMPL 0, no floors, no CRL requirement, no migration agent, KDS fetch off', () => {
    const c = loadConfig({ KEYBROKER_DATA_DIR: '/srv/kb' })
    expect(c.snp).toEqual({
      maxVmpl: 0,
      minTcb: {},
      minFirmware: undefined,
      requireCrl: false,
      allowMigrationAgent: false,
      minReportVersion: 2,
      product: undefined,
      kdsFetch: false,
      kdsUrl: 'https://kdsintf.amd.com',
      kdsTimeoutMs: 5000,
    })
    expect(c.collateralDir).toBe('/srv/kb/collateral')
    const o = snpVerifyOptions(c)
    for (const k of ['allowDebug', 'maxVmpl', 'allowMigrationAgent', 'minimumReportVersion', 'minimumFirmware', 'minimumTcb', 'requireCrl', 'product', 'extraPinnedArks'] as const) {
      expect(o[k]).toEqual(DEFAULT_SNP_VERIFY_OPTIONS[k])
    }
  })

  it('parses every setting into the verifier options', () => {
    const c = loadConfig({
      KEYBROKER_SNP_MAX_VMPL: '1',
      KEYBROKER_SNP_MIN_TCB: '{"milan": {"snp": 8, "microcode": 115}, "Turin": {"fmc": 1, "bootloader": 0}}',
      KEYBROKER_SNP_MIN_FIRMWARE: '1.55',
      KEYBROKER_SNP_REQUIRE_CRL: '1',
      KEYBROKER_SNP_ALLOW_MIGRATION_AGENT: 'yes',
      KEYBROKER_SNP_MIN_REPORT_VERSION: '3',
      KEYBROKER_SNP_PRODUCT: 'GENOA',
      KEYBROKER_SNP_KDS_FETCH: 'true',
      KEYBROKER_SNP_KDS_URL: 'http://127.0.0.1:9999/',
      KEYBROKER_SNP_KDS_TIMEOUT_MS: '250',
      KEYBROKER_COLLATERAL_DIR: 'kds-cache',
    })
    expect(c.collateralDir).toBe(resolve('kds-cache'))
    expect(c.snp.kdsUrl).toBe('http://127.0.0.1:9999')
    expect(snpVerifyOptions(c, { snpArks: [{ product: 'Milan', spkiSha256: 'ab'.repeat(32) }] })).toEqual({
      allowDebug: false,
      maxVmpl: 1,
      allowMigrationAgent: true,
      minimumReportVersion: 3,
      minimumFirmware: { major: 1, minor: 55, build: 0 },
      minimumTcb: { Milan: { snp: 8, microcode: 115 }, Turin: { fmc: 1, bootloader: 0 } },
      requireCrl: true,
      product: 'Genoa',
      extraPinnedArks: [{ product: 'Milan', spkiSha256: 'ab'.repeat(32) }],
      useBuiltinAmdCertificates: true,
    })
    expect(loadConfig({ KEYBROKER_SNP_MIN_FIRMWARE: '1.55.29' }).snp.minFirmware).toEqual({ major: 1, minor: 55, build: 29 })
  })

  it.each([
    ['KEYBROKER_SNP_MAX_VMPL', '4'],
    ['KEYBROKER_SNP_MAX_VMPL', 'one'],
    ['KEYBROKER_SNP_MIN_TCB', 'snp=8'],
    ['KEYBROKER_SNP_MIN_TCB', '[8]'],
    ['KEYBROKER_SNP_MIN_TCB', '{"rome": {"snp": 1}}'],
    ['KEYBROKER_SNP_MIN_TCB', '{"milan": {"snp": 256}}'],
    ['KEYBROKER_SNP_MIN_TCB', '{"milan": {"snp": -1}}'],
    ['KEYBROKER_SNP_MIN_TCB', '{"milan": {"spl": 1}}'],
    ['KEYBROKER_SNP_MIN_TCB', '{"milan": {"fmc": 1}}'],
    ['KEYBROKER_SNP_MIN_TCB', '{"milan": {"snp": "8"}}'],
    ['KEYBROKER_SNP_MIN_FIRMWARE', '1'],
    ['KEYBROKER_SNP_MIN_FIRMWARE', '1.256'],
    ['KEYBROKER_SNP_MIN_FIRMWARE', 'v1.55'],
    ['KEYBROKER_SNP_REQUIRE_CRL', 'sometimes'],
    ['KEYBROKER_SNP_MIN_REPORT_VERSION', '1'],
    ['KEYBROKER_SNP_MIN_REPORT_VERSION', '6'],
    ['KEYBROKER_SNP_PRODUCT', 'Naples'],
    ['KEYBROKER_SNP_KDS_URL', 'ftp://kds.example'],
    ['KEYBROKER_SNP_KDS_TIMEOUT_MS', '10'],
  ])('refuses %s=%s at start, naming the setting', (name, value) => {
    expect(settingOf(() => loadConfig({ [name]: value }))).toBe(name)
  })

  it('any text for the TCB floor or firmware gives a value or a ConfigError naming the setting, nothing else', () => {
    const text = fc.oneof(fc.string(), fc.json(), fc.json().map((j) => `{"milan": ${j}}`), fc.stringMatching(/^\d{1,4}(\.\d{1,4}){0,3}$/))
    fc.assert(
      fc.property(text, fc.constantFrom('KEYBROKER_SNP_MIN_TCB', 'KEYBROKER_SNP_MIN_FIRMWARE'), (value, name) => {
        const setting = settingOf(() => loadConfig({ [name]: value }))
        if (setting !== undefined) expect(setting).toBe(name)
      }),
      { numRuns: 500 },
    )
  })

  it('takes the TCB floor as a JSON object from the config file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-config-'))
    const file = join(dir, 'config.json')
    await writeFile(file, JSON.stringify({ snpMinTcb: { genoa: { microcode: 72 } }, snpMaxVmpl: 2, snpRequireCrl: true }))
    const c = loadConfig({ KEYBROKER_CONFIG: file })
    expect(c.snp.minTcb).toEqual({ Genoa: { microcode: 72 } })
    expect(c.snp.maxVmpl).toBe(2)
    expect(c.snp.requireCrl).toBe(true)
    await writeFile(file, JSON.stringify({ snpMinTcb: { genoa: { microcode: 'high' } } }))
    expect(settingOf(() => loadConfig({ KEYBROKER_CONFIG: file }))).toBe(`${file}: snpMinTcb`)
  })
})
