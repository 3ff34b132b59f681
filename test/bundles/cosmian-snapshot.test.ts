/**
 * Cosmian VM snapshots → `cosmian` reference-value sets: the snapshot of test/vectors/cosmian
 * (SEV policy of a real report, TPM counters of a real quote, the 439 files of a real IMA list),
 * a TDX policy in upstream's shape, and the bad-input rules (nulls, hex case, unknown keys).
 */
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { parseExpectedClaims } from '../../src/appraisal/index.js'
import { mapCosmianSnapshot } from '../../src/bundles/index.js'
import { codeOf } from '../support/error-code.js'

const SNAPSHOT = JSON.parse(readFileSync(new URL('../vectors/cosmian/snapshot.derived.json', import.meta.url), 'utf8')) as Record<string, any>
const clone = (): Record<string, any> => structuredClone(SNAPSHOT)
const claimsOf = (expect: readonly unknown[]): string[] => expect.map((e) => (e as { claim: string }).claim)

describe('mapCosmianSnapshot', () => {
  test('the vector snapshot: SEV measurement as the value, every checkable field expected, volatile ones not', () => {
    const m = mapCosmianSnapshot(SNAPSHOT, 'cvm')
    expect(m.set).toMatchObject({ name: 'cvm', evidenceType: 'cosmian', values: [{ measurement: '41a95b6fbe794f1d3bb919934adc5e44583b57e4a5c3f489ffe775ecb8e23d3947001e886277751ba06ae793c2c8904d' }] })
    const names = claimsOf(m.set.expect)
    expect(names).toEqual(expect.arrayContaining(['familyId', 'imageId', 'guestSvn', 'idKeyDigest', 'authorKeyDigest', 'policy.abiMajor', 'policy.smt', 'policy.debug', 'tpm.resetCount', 'tpm.restartCount', 'ima']))
    expect(names).not.toContain('reportId')
    expect(m.set.expect).toContainEqual({ claim: 'tpm.resetCount', equals: 25 })
    expect(m.set.expect).toContainEqual({ claim: 'policy.smt', equals: true })
    expect(m.set.expect).toContainEqual({ claim: 'policy.debug', equals: false })
    const ima = m.set.expect.find((e) => (e as { claim: string }).claim === 'ima') as { files: { path: string; digests: string[] }[]; unknownFiles: string }
    expect(ima.unknownFiles).toBe('deny')
    expect(ima.files.find((f) => f.path === 'boot_aggregate')?.digests).toEqual(['70416142ca33a410acd6c25c830f4a3d82ee51406ad0fe1a0d15044ef3322687'])
    expect(m.files).toBe(439)
    expect(m.fields).toContainEqual({ field: 'tee_policy.Sev.report_id', to: ['volatile (not expected)'] })
    // The claims are the catalogue's (what an import checks).
    expect(() => parseExpectedClaims([...m.set.expect], 'cosmian')).not.toThrow()
  })

  test('nulls: not checked where upstream allows them; tpm_policy and filehashes null (no TPM)', () => {
    const s = clone()
    s['tee_policy'].Sev.family_id = null
    s['tee_policy'].Sev.policy = null
    s['tpm_policy'] = null
    s['filehashes'] = null
    const m = mapCosmianSnapshot(s, 'cvm')
    expect(claimsOf(m.set.expect)).not.toContain('familyId')
    expect(claimsOf(m.set.expect)).not.toContain('tpm.resetCount')
    expect(claimsOf(m.set.expect)).not.toContain('ima')
    expect(m.fields).toContainEqual({ field: 'tee_policy.Sev.family_id', to: ['unchecked (null)'] })
    const t = clone()
    t['tpm_policy'] = { reset_count: null, restart_count: 0 }
    expect(mapCosmianSnapshot(t, 'cvm').set.expect).toContainEqual({ claim: 'tpm.restartCount', equals: 0 })
  })

  test('hex in either case (lowercased); the same snapshot in upper case maps to the same expectations', () => {
    const s = clone()
    s['tee_policy'].Sev.measurement = s['tee_policy'].Sev.measurement.toUpperCase()
    s['filehashes'] = s['filehashes'].map(([p, d]: [string, string]) => [p, d.toUpperCase()])
    const a = mapCosmianSnapshot(s, 'cvm')
    const b = mapCosmianSnapshot(SNAPSHOT, 'cvm')
    expect(a.set).toEqual(b.set)
  })

  test.each([
    ['an unknown top-level key', (s: Record<string, any>) => (s['extra'] = 1)],
    ['an unknown Sev key', (s: Record<string, any>) => (s['tee_policy'].Sev.vmpl = 0)],
    ['an unknown tpm_policy key', (s: Record<string, any>) => (s['tpm_policy'].boot_count = 1)],
    ['a null measurement', (s: Record<string, any>) => (s['tee_policy'].Sev.measurement = null)],
    ['a short measurement', (s: Record<string, any>) => (s['tee_policy'].Sev.measurement = 'abcd')],
    ['an SGX policy', (s: Record<string, any>) => (s['tee_policy'] = { Sgx: {} })],
    ['two TEE policies', (s: Record<string, any>) => (s['tee_policy'] = { Sev: s['tee_policy'].Sev, Tdx: {} })],
    ['a relative file path', (s: Record<string, any>) => s['filehashes'].push(['usr/bin/x', 'aa'.repeat(32)])],
    ['a cloud type upstream does not know', (s: Record<string, any>) => (s['cloud_type'] = 'OVH')],
    ['a negative reset count', (s: Record<string, any>) => (s['tpm_policy'].reset_count = -1)],
  ])('%s is bundle-malformed', (_what, mutate) => {
    const s = clone()
    mutate(s)
    expect(codeOf(() => mapCosmianSnapshot(s, 'cvm'))).toBe('bundle-malformed')
  })

  test('the error names the unknown key', () => {
    const s = clone()
    s['tee_policy'].Sev.vmpl = 0
    expect(() => mapCosmianSnapshot(s, 'cvm')).toThrow(/tee_policy\.Sev\.vmpl/)
  })

  test('a TDX policy (upstream shape): MR_TD the value, header minima atLeast, body registers equals', () => {
    const mrTd = '5f53c3881242a5b418854923bb4adec34c72aa4b570d526179d63f9ee6e4cefb6abd4f0f35e5e6e29655a60d90bcf27f'
    const s = {
      cloud_type: 'GCP',
      tee_policy: {
        Tdx: {
          header: { minimum_qe_svn: 4, minimum_pce_svn: null, qe_vendor_id: '939A7233F79C4CA9940A0DB3957F0607' },
          body: { minimum_tee_tcb_svn: '03000500000000000000000000000000', mr_seam: null, td_attributes: '0000001000000000', xfam: 231, mr_td: mrTd, mr_config_id: '00'.repeat(48), mr_owner: null, mr_owner_config: null, report_data: '00'.repeat(64) },
        },
      },
      tpm_policy: null,
      filehashes: null,
    }
    const m = mapCosmianSnapshot(s, 'tdx-vm')
    expect(m.set.values).toEqual([{ measurement: mrTd }])
    expect(m.set.expect).toEqual(
      expect.arrayContaining([
        { claim: 'qeIsvSvn', atLeast: 4 },
        { claim: 'qeVendorId', equals: '939a7233f79c4ca9940a0db3957f0607' },
        { claim: 'teeTcbSvn', atLeast: '03000500000000000000000000000000' },
        { claim: 'xfam', equals: 'e700000000000000' },
        { claim: 'tdAttributes', equals: '0000001000000000' },
      ]),
    )
    expect(() => parseExpectedClaims([...m.set.expect], 'cosmian')).not.toThrow()
    expect(m.cloudType).toBe('GCP')
  })
})
