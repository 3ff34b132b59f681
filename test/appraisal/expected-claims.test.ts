import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  appraise,
  CONFIGURATION,
  evaluateExpectedClaim,
  EXECUTABLES,
  FILE_SYSTEM,
  HARDWARE,
  parseExpectedClaims,
  type AppraisalClaims,
  type ReferenceValueSet,
} from '../../src/appraisal/index.js'
import type { JsonValue } from '../../src/evidence/types.js'
import { KeybrokerError } from '../../src/errors.js'

const M = 'aa'.repeat(48)
const H32 = (b: string) => b.repeat(32)

/** SNP claims shaped as src/evidence/snp/to-claims.ts makes them. */
const SNP: AppraisalClaims = {
  evidenceType: 'snp',
  platform: 'amd-sev-snp',
  measurement: M,
  debug: false,
  hardwareBacked: true,
  measurements: { measurement: M, hostData: H32('11'), idKeyDigest: '22'.repeat(48), authorKeyDigest: '00'.repeat(48), familyId: '01'.padEnd(32, '0'), imageId: '02'.padEnd(32, '0') },
  tcb: { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
  hostData: H32('11'),
  raw: { product: 'Milan', guestSvn: 4, vmpl: 0, signingKey: 'vcek', policyFlags: { debug: false, smt: true, migrateMa: false, abiMajor: 0, abiMinor: 31 } },
}

/** TDX claims shaped as src/evidence/tdx/to-claims.ts makes them. */
const TDX: AppraisalClaims = {
  evidenceType: 'tdx',
  measurement: '10'.repeat(48),
  debug: false,
  hardwareBacked: true,
  measurements: { mrTd: '10'.repeat(48), rtmr0: '20'.repeat(48), mrConfigId: '00'.repeat(48) },
  tcb: { status: 'UpToDate', tdxModuleStatus: 'UpToDate', pceSvn: 13 },
  raw: { teeTcbSvn: '0304000000000000000000000000000f'.slice(0, 32), tcbStatus: 'SWHardeningNeeded', qeIsvSvn: 8 },
}

/** TPM claims shaped as src/evidence/tpm/to-claims.ts makes them (event log and IMA included). */
const TPM: AppraisalClaims = {
  evidenceType: 'tpm',
  measurement: 'cc'.repeat(32),
  debug: false,
  hardwareBacked: true,
  raw: {
    pcrs: { sha256: { '0': H32('a0'), '7': H32('a7') }, sha1: { '0': 'b0'.repeat(20) } },
    eventLog: {
      secureBoot: true,
      events: [
        { pcr: 4, type: 'EV_EFI_BOOT_SERVICES_APPLICATION', digests: { sha256: H32('41') }, details: {} },
        { pcr: 4, type: 'EV_EFI_BOOT_SERVICES_APPLICATION', digests: { sha256: H32('42') }, details: {} },
        { pcr: 8, type: 'EV_IPL', digests: { sha256: H32('81') }, details: { text: 'grub_cmd: linux /vmlinuz root=/dev/vda1' } },
        { pcr: 8, type: 'EV_IPL', digests: { sha256: H32('82') }, details: { text: 'kernel_cmdline: /vmlinuz root=/dev/vda1 ro' } },
        { pcr: 9, type: 'EV_IPL', digests: { sha256: H32('91') }, details: { text: '/boot/vmlinuz-6.1.0-18-amd64' } },
        { pcr: 9, type: 'EV_IPL', digests: { sha256: H32('92') }, details: { text: '/boot/initrd.img-6.1.0-18-amd64' } },
      ],
    },
    ima: {
      files: [
        { pcr: 10, template: 'ima-ng', path: '/usr/bin/app', fileHash: `sha256:${H32('e1')}`, violation: false, signed: false },
        { pcr: 10, template: 'ima-ng', path: '/opt/app/lib/a.so', fileHash: `sha256:${H32('e2')}`, violation: false, signed: false },
        { pcr: 10, template: 'ima-ng', path: '/etc/app.conf', fileHash: `sha256:${H32('e3')}`, violation: false, signed: false },
      ],
    },
  },
}

function judge(claims: AppraisalClaims, expect1: JsonValue) {
  const [e] = parseExpectedClaims([expect1], claims.evidenceType)
  if (e === undefined) throw new Error('no claim')
  return evaluateExpectedClaim(e, claims)
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return err instanceof KeybrokerError ? err.code : 'not-a-keybroker-error'
  }
}

describe('expected claims: every operator and claim type', () => {
  it('hex: equals and oneOf, case-insensitive', () => {
    expect(judge(SNP, { claim: 'hostData', equals: H32('11').toUpperCase() })).toMatchObject({ passed: true, actual: H32('11'), trust: 'configuration' })
    expect(judge(SNP, { claim: 'hostData', equals: H32('12') }).passed).toBe(false)
    expect(judge(SNP, { claim: 'imageId', oneOf: ['03'.padEnd(32, '0'), '02'.padEnd(32, '0')] }).passed).toBe(true)
    expect(judge(SNP, { claim: 'measurement', oneOf: ['bb'.repeat(48)] }).passed).toBe(false)
  })

  it('uint: atLeast at and just below the bound, equals, oneOf', () => {
    expect(judge(SNP, { claim: 'tcb.snp', atLeast: 8 })).toMatchObject({ passed: true, actual: 8, trust: 'hardware' })
    expect(judge(SNP, { claim: 'tcb.snp', atLeast: 9 }).passed).toBe(false)
    expect(judge(SNP, { claim: 'tcb.microcode', equals: 115 }).passed).toBe(true)
    expect(judge(SNP, { claim: 'guestSvn', atLeast: 5 }).passed).toBe(false)
    expect(judge(SNP, { claim: 'vmpl', oneOf: [0, 1] }).passed).toBe(true)
    expect(judge(SNP, { claim: 'policy.abiMinor', atLeast: 31 }).passed).toBe(true)
    expect(judge(TDX, { claim: 'pceSvn', atLeast: 14 }).passed).toBe(false)
  })

  it('bool: equals', () => {
    expect(judge(SNP, { claim: 'policy.debug', equals: false }).passed).toBe(true)
    expect(judge(SNP, { claim: 'policy.smt', equals: false }).passed).toBe(false)
    expect(judge(SNP, { claim: 'debug', equals: false }).passed).toBe(true)
    expect(judge(TPM, { claim: 'event.secureBoot', equals: true }).passed).toBe(true)
  })

  it('string: equals and oneOf (accepted TCB statuses)', () => {
    expect(judge(SNP, { claim: 'product', oneOf: ['Genoa', 'Milan'] }).passed).toBe(true)
    expect(judge(TDX, { claim: 'tcbStatus', oneOf: ['UpToDate'] }).passed).toBe(false)
    expect(judge(TDX, { claim: 'tcbStatus', oneOf: ['UpToDate', 'SWHardeningNeeded'] }).passed).toBe(true)
    expect(judge(TDX, { claim: 'tdxModuleStatus', equals: 'UpToDate' }).passed).toBe(true)
  })

  it('hex atLeast compares each TEE_TCB_SVN byte (TDX)', () => {
    const svn = TDX.raw?.['teeTcbSvn'] as string
    expect(judge(TDX, { claim: 'teeTcbSvn', atLeast: svn }).passed).toBe(true)
    expect(judge(TDX, { claim: 'teeTcbSvn', atLeast: `0303${'00'.repeat(14)}` }).passed).toBe(true)
    expect(judge(TDX, { claim: 'teeTcbSvn', atLeast: `0305${'00'.repeat(14)}` }).passed).toBe(false)
    expect(judge(TDX, { claim: 'mrTd', equals: '10'.repeat(48) }).passed).toBe(true)
    expect(judge(TDX, { claim: 'rtmr0', equals: '21'.repeat(48) }).passed).toBe(false)
  })

  it('TDX 1.5: teeTcbSvn2 atLeast per byte and tdxVersion; a TDX 1.0 body has no teeTcbSvn2, so an expectation on it fails', () => {
    // The real v5 vector's values (test/vectors/tdx/go-tdx-guest-v5-tdx15): TEE_TCB_SVN 0b01…, TEE_TCB_SVN_2 0d01….
    const v15: AppraisalClaims = { ...TDX, raw: { ...TDX.raw, tdxVersion: '1.5', teeTcbSvn2: `0d0104${'00'.repeat(13)}` } }
    expect(judge(v15, { claim: 'teeTcbSvn2', atLeast: `0b0104${'00'.repeat(13)}` }).passed).toBe(true)
    expect(judge(v15, { claim: 'teeTcbSvn2', atLeast: `0d0104${'00'.repeat(13)}` }).passed).toBe(true)
    expect(judge(v15, { claim: 'teeTcbSvn2', atLeast: `0e0104${'00'.repeat(13)}` }).passed).toBe(false)
    expect(judge(v15, { claim: 'tdxVersion', equals: '1.5' }).passed).toBe(true)
    expect(judge(TDX, { claim: 'teeTcbSvn2', atLeast: '00'.repeat(16) }).passed).toBe(false)
    expect(judge({ ...TDX, raw: { ...TDX.raw, tdxVersion: '1.0' } }, { claim: 'tdxVersion', oneOf: ['1.5'] }).passed).toBe(false)
    expect(codeOf(() => parseExpectedClaims([{ claim: 'teeTcbSvn2', atLeast: '0d01' }], 'tdx'))).toBe('bad-request')
  })

  it('TPM: PCR values per bank, boot events by type (every entry must pass)', () => {
    expect(judge(TPM, { claim: 'pcr.sha256.7', equals: H32('a7') }).passed).toBe(true)
    expect(judge(TPM, { claim: 'pcr.sha1.0', equals: 'b0'.repeat(20) }).passed).toBe(true)
    expect(judge(TPM, { claim: 'pcr.sha256.1', equals: H32('a1') })).toMatchObject({ passed: false, actual: null })
    expect(judge(TPM, { claim: 'event.bootApplications', oneOf: [H32('41'), H32('42')] }).passed).toBe(true)
    expect(judge(TPM, { claim: 'event.bootApplications', oneOf: [H32('41')] }).passed).toBe(false)
    expect(judge(TPM, { claim: 'event.kernel', equals: H32('91') })).toMatchObject({ passed: true, actual: [H32('91')] })
    expect(judge(TPM, { claim: 'event.initrd', equals: H32('92') }).passed).toBe(true)
    expect(judge(TPM, { claim: 'event.cmdline', equals: '/vmlinuz root=/dev/vda1 ro' }).passed).toBe(true)
    expect(judge(TPM, { claim: 'event.cmdline', equals: '/vmlinuz root=/dev/vda1 ro quiet' }).passed).toBe(false)
    // A UKI: no grub files in PCR 9, the kernel is the last boot application of PCR 4.
    const uki: AppraisalClaims = { ...TPM, raw: { eventLog: { events: [(TPM.raw?.['eventLog'] as { events: JsonValue[] }).events[0] ?? null, (TPM.raw?.['eventLog'] as { events: JsonValue[] }).events[1] ?? null] } } }
    expect(judge(uki, { claim: 'event.kernel', equals: H32('42') }).passed).toBe(true)
    expect(judge({ ...TPM, raw: {} }, { claim: 'event.kernel', equals: H32('42') })).toMatchObject({ passed: false, actual: null })
  })

  it('IMA files: exact paths and patterns; unknown files deny or warn; a wrong digest fails', () => {
    const files: JsonValue[] = [
      { path: '/usr/bin/app', digests: [H32('e1')] },
      { pattern: '/opt/app/**', digests: [H32('e2')] },
      { pattern: '/etc/*.conf', digests: [H32('e3'), H32('e4')] },
    ]
    expect(judge(TPM, { claim: 'ima', files })).toMatchObject({ passed: true, trust: 'file-system', actual: { measured: 3, mismatchedCount: 0, unknownCount: 0 } })
    const partial = files.slice(0, 2)
    expect(judge(TPM, { claim: 'ima', files: partial })).toMatchObject({ passed: false, actual: { unknown: ['/etc/app.conf'] } })
    expect(judge(TPM, { claim: 'ima', files: partial, unknownFiles: 'warn' })).toMatchObject({ passed: true, warning: true })
    const wrong: JsonValue[] = [{ path: '/usr/bin/app', digests: [H32('ee')] }, ...files.slice(1)]
    expect(judge(TPM, { claim: 'ima', files: wrong, unknownFiles: 'warn' })).toMatchObject({ passed: false, actual: { mismatched: ['/usr/bin/app'] } })
    // `*` stays within a path segment, `?` is one character.
    expect(judge(TPM, { claim: 'ima', files: [...files.slice(0, 2), { pattern: '/*.conf', digests: [H32('e3')] }] }).passed).toBe(false)
    expect(judge(TPM, { claim: 'ima', files: [...files.slice(0, 2), { pattern: '/etc/ap?.conf', digests: [H32('e3')] }] }).passed).toBe(true)
  })

  it('an absent claim fails, with actual null', () => {
    expect(judge({ ...SNP, raw: {} }, { claim: 'guestSvn', atLeast: 1 })).toMatchObject({ passed: false, actual: null })
  })

  it('refuses unknown names and operators (claim-unknown) and bad values (bad-request)', () => {
    expect(codeOf(() => parseExpectedClaims([{ claim: 'tcb.snpp', atLeast: 1 }], 'snp'))).toBe('claim-unknown')
    expect(codeOf(() => parseExpectedClaims([{ claim: 'hostData', atLeast: 1 }], 'snp'))).toBe('claim-unknown')
    expect(codeOf(() => parseExpectedClaims([{ claim: 'hostData', equals: H32('00') }], undefined))).toBe('claim-unknown')
    expect(codeOf(() => parseExpectedClaims([{ claim: 'ima', files: [] }], 'snp'))).toBe('claim-unknown')
    expect(codeOf(() => parseExpectedClaims([{ claim: 'hostData', equals: '0' }], 'snp'))).toBe('bad-request')
    expect(codeOf(() => parseExpectedClaims([{ claim: 'tcb.snp', atLeast: 1.5 }], 'snp'))).toBe('bad-request')
    expect(codeOf(() => parseExpectedClaims([{ claim: 'policy.debug', oneOf: [true] }], 'snp'))).toBe('claim-unknown')
    expect(codeOf(() => parseExpectedClaims([{ claim: 'tcb.snp' }], 'snp'))).toBe('bad-request')
    expect(codeOf(() => parseExpectedClaims(['tcb.snp'], 'snp'))).toBe('bad-request')
    expect(codeOf(() => parseExpectedClaims([{ claim: 'ima', files: [{ pattern: '/a/*/*/*/*/*/*/*/*/*', digests: ['aa'] }] }], 'tpm'))).toBe('bad-request')
    expect(codeOf(() => parseExpectedClaims([{ claim: 'ima', files: [{ path: '/a', pattern: '/b', digests: ['aa'] }] }], 'tpm'))).toBe('bad-request')
  })

  it('property: arbitrary JSON only ever raises claim-unknown or bad-request, and arbitrary claims never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 }), fc.constantFrom(undefined, 'snp', 'tdx', 'tpm', 'sample'), (entries, type) => {
        const code = codeOf(() => parseExpectedClaims(entries as JsonValue[], type))
        return code === undefined || code === 'claim-unknown' || code === 'bad-request'
      }),
      { numRuns: 1000 },
    )
    const expectations = parseExpectedClaims(
      [{ claim: 'tcb.snp', atLeast: 3 }, { claim: 'hostData', equals: H32('11') }, { claim: 'product', oneOf: ['Milan'] }, { claim: 'policy.debug', equals: false }],
      'snp',
    )
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (raw) => {
        const claims: AppraisalClaims = { ...SNP, raw: raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, JsonValue>) : {} }
        return expectations.every((e) => typeof evaluateExpectedClaim(e, claims).passed === 'boolean')
      }),
      { numRuns: 500 },
    )
  })
})

describe('appraise with typed sets', () => {
  const set = (over: Partial<ReferenceValueSet> & { name: string }): ReferenceValueSet => ({ allowDebug: false, measurements: [{ value: M, revokedAt: null }], ...over })

  it('maps each failed claim to its AR4SI claim when nothing matched', () => {
    const hw = appraise(SNP, [set({ name: 'h', evidenceType: 'snp', expect: parseExpectedClaims([{ claim: 'tcb.snp', atLeast: 9 }], 'snp') })])
    expect(hw).toMatchObject({ status: 'warning', matched: [], trustVector: { hardware: HARDWARE.UNSAFE, executables: EXECUTABLES.UNRECOGNIZED_RUNTIME } })
    const cfg = appraise(SNP, [set({ name: 'c', evidenceType: 'snp', expect: parseExpectedClaims([{ claim: 'hostData', equals: H32('12') }], 'snp') })])
    expect(cfg.trustVector.configuration).toBe(CONFIGURATION.UNSAFE)
    const exe = appraise(SNP, [set({ name: 'e', evidenceType: 'snp', expect: parseExpectedClaims([{ claim: 'guestSvn', atLeast: 5 }], 'snp') })])
    expect(exe.trustVector.executables).toBe(EXECUTABLES.UNSAFE_RUNTIME)
    // Another set that matches wins: its claims all held.
    const both = appraise(SNP, [set({ name: 'e', evidenceType: 'snp', expect: parseExpectedClaims([{ claim: 'guestSvn', atLeast: 5 }], 'snp') }), set({ name: 'ok', evidenceType: 'snp' })])
    expect(both).toMatchObject({ status: 'affirming', matched: ['ok'] })
  })

  it('file-system: approved, unrecognized (warn) or contraindicated', () => {
    const ima = (files: JsonValue, unknownFiles: string) =>
      appraise(TPM, [set({ name: 'i', evidenceType: 'tpm', measurements: [], expect: parseExpectedClaims([{ claim: 'ima', files, unknownFiles }], 'tpm') })])
    const all = [{ pattern: '/**', digests: [H32('e1'), H32('e2'), H32('e3')] }]
    expect(ima(all, 'deny')).toMatchObject({ status: 'affirming', matched: ['i'], trustVector: { 'file-system': FILE_SYSTEM.APPROVED } })
    expect(ima([{ path: '/usr/bin/app', digests: [H32('e1')] }], 'warn')).toMatchObject({ status: 'warning', matched: ['i'], trustVector: { 'file-system': FILE_SYSTEM.UNRECOGNIZED } })
    expect(ima([{ path: '/usr/bin/app', digests: [H32('e1')] }], 'deny')).toMatchObject({ status: 'contraindicated', matched: [], trustVector: { 'file-system': FILE_SYSTEM.CONTRAINDICATED } })
  })

  it('a set applies to its evidence type only; a set without values matches on its claims alone; an empty set matches nothing', () => {
    expect(appraise(SNP, [set({ name: 't', evidenceType: 'tdx' })]).sets[0]).toMatchObject({ applicable: false, matched: false })
    const pcr = appraise(TPM, [set({ name: 'p', evidenceType: 'tpm', measurements: [], expect: parseExpectedClaims([{ claim: 'pcr.sha256.0', equals: H32('a0') }], 'tpm') })])
    expect(pcr).toMatchObject({ matched: ['p'], sets: [{ value: { state: 'unconstrained' } }] })
    expect(appraise(TPM, [set({ name: 'empty', measurements: [] })]).matched).toEqual([])
  })

  it('holds validity windows at `now`, just inside and just outside each bound, and fails closed without a clock', () => {
    const notBefore = new Date('2026-01-01T00:00:00Z')
    const notAfter = new Date('2026-12-31T00:00:00Z')
    const s = set({ name: 'w', measurements: [{ value: M, revokedAt: null, notBefore, notAfter }] })
    const at = (iso: string) => appraise(SNP, [s], { now: new Date(iso) }).sets[0]?.value.state
    expect(at('2025-12-31T23:59:59.999Z')).toBe('not-yet-valid')
    expect(at('2026-01-01T00:00:00Z')).toBe('active')
    expect(at('2026-12-31T00:00:00Z')).toBe('active')
    expect(at('2026-12-31T00:00:00.001Z')).toBe('expired')
    expect(appraise(SNP, [s]).matched).toEqual([])
  })

  it('names the provenance of the value that matched', () => {
    const provenance = { source: 'bundle', signer: 'ab'.repeat(32), bundleDigest: 'cd'.repeat(32), signedAt: '2026-01-01T00:00:00Z' }
    const a = appraise(SNP, [set({ name: 'b', version: 4, measurements: [{ value: M, revokedAt: null, provenance }] })])
    expect(a.matchedValues).toEqual([{ set: 'b', version: 4, measurement: M, provenance }])
  })
})
