/**
 * go-sev-guest / go-tdx-guest policies: the real Cocos files (test/vectors/cocos) map to typed
 * sets; a gotpm attestation built to match the Cocos SEV-SNP policy (synthetic SNP signer and vTPM:
 * no real Cocos report with these values is public) is accepted, and one differing in each
 * checked field is refused naming that claim.
 */
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { appraise, parseExpectedClaims, type ReferenceValueSet } from '../../src/appraisal/index.js'
import { mapGoSevGuestPolicy, mapGoTdxGuestPolicy } from '../../src/bundles/index.js'
import { createGotpmVerifier } from '../../src/evidence/gotpm/index.js'
import { akIdOf } from '../../src/evidence/tpm/public.js'
import type { JsonValue } from '../../src/evidence/types.js'
import { codeOf } from '../support/error-code.js'
import { createSnpPki, GEN_NOW, issueCrl, issueEndorsement, type ReportFields, type SnpPki } from '../generators/snp.js'
import { encodeTcb, type TcbParts } from '../../src/evidence/snp/tcb.js'
import { cocosAttestation, cocosPolicyFields, COCOS_TCB } from '../generators/gotpm.js'
import { trustLookup } from '../evidence/tpm/vectors.js'

const vector = (f: string): string => readFileSync(new URL(`../vectors/cocos/${f}`, import.meta.url), 'utf8')
const COCOS_SNP = () => vector('attestation_policy.json')
const COCOS_TDX = () => vector('attestation_policy_tdx.json')
const TDX_IGNORE = ['policy.tdQuoteBodyPolicy.policy', 'policy.tdQuoteBodyPolicy.eat_validation']
const b64hex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex')

describe('go-sev-guest check.Config (Cocos attestation_policy.json)', () => {
  it('maps every field: measurement value, vmpl 2, TCB floors, firmware, policy bits, identity fields, PCRs', () => {
    const m = mapGoSevGuestPolicy({ text: COCOS_SNP(), name: 'cocos' })
    const policy = JSON.parse(COCOS_SNP()).policy
    expect(m.set.evidenceType).toBe('gotpm')
    expect(m.set.values).toEqual([{ measurement: b64hex(policy.measurement) }])
    const expect_ = Object.fromEntries(m.set.expect.map((e) => [(e as { claim: string }).claim, e]))
    expect(expect_['vmpl']).toEqual({ claim: 'vmpl', equals: 2 })
    expect(expect_['chipId']).toEqual({ claim: 'chipId', equals: b64hex(policy.chipId) })
    expect(expect_['reportIdMa']).toEqual({ claim: 'reportIdMa', equals: 'ff'.repeat(32) })
    // minimumTcb 15352208179752599555 = 0xd50e000000000003 (Milan: bootloader 3, tee 0, snp 14, microcode 213)
    expect(expect_['tcb.bootloader']).toEqual({ claim: 'tcb.bootloader', atLeast: 3 })
    expect(expect_['tcb.microcode']).toEqual({ claim: 'tcb.microcode', atLeast: 213 })
    expect(expect_['launchTcb.snp']).toEqual({ claim: 'launchTcb.snp', atLeast: 14 })
    expect(expect_['firmware.build']).toEqual({ claim: 'firmware.build', atLeast: 8 })
    expect(expect_['firmware.version']).toEqual({ claim: 'firmware.version', atLeast: 0x0137 })
    expect(expect_['product']).toEqual({ claim: 'product', equals: 'Milan' })
    expect(expect_['crl']).toEqual({ claim: 'crl', equals: 'checked' })
    expect(expect_['policy.debug']).toEqual({ claim: 'policy.debug', equals: false })
    expect(expect_['pcr.sha256.16']).toEqual({ claim: 'pcr.sha256.16', equals: '27e979da1d644911979ee35b71f005962d6471b6bb324240959003e167a54906' })
    expect(expect_['pcr.sha384.9']).toBeDefined()
    expect(expect_['firmware.provisional']).toBeUndefined() // permitProvisionalFirmware: true
    // Every claim is in the gotpm catalogue.
    expect(parseExpectedClaims(m.set.expect as JsonValue[], 'gotpm')).toHaveLength(m.set.expect.length)
    expect(m.fields.find((f) => f.field === 'policy.minimum_tcb')?.to).toEqual(['tcb.bootloader', 'tcb.tee', 'tcb.snp', 'tcb.microcode'])
  })

  it('the 2024-11 snake_case file keeps the 64-bit numbers exact (JSON numbers above 2^53)', () => {
    const m = mapGoSevGuestPolicy({ text: vector('attestation_policy.2024-11.json'), name: 'old' })
    expect(m.set.evidenceType).toBe('snp')
    // JSON.parse would round 15352208179752599555 to …552 and lose bootloader 3.
    expect(m.set.expect).toContainEqual({ claim: 'tcb.bootloader', atLeast: 3 })
    expect(m.set.expect).toContainEqual({ claim: 'vmpl', equals: 0 })
    // permit_provisional_firmware true: no expectation; without it committed must equal current.
    expect(m.set.expect.some((e) => (e as { claim: string }).claim === 'firmware.provisional')).toBe(false)
    expect(mapGoSevGuestPolicy({ text: '{"policy": {"vmpl": 0}}', name: 'x' }).set.expect).toContainEqual({ claim: 'firmware.provisional', equals: false })
  })

  it('uint64 as a string or a number, enums by name or number, snake or camel case: the same set', () => {
    const a = mapGoSevGuestPolicy({ text: '{"policy": {"minimum_tcb": 15352208179752599555, "product": {"name": 1}, "vmpl": 2}}', name: 'x' })
    const b = mapGoSevGuestPolicy({ text: '{"policy": {"minimumTcb": "15352208179752599555", "product": {"name": "SEV_PRODUCT_MILAN"}, "vmpl": 2}}', name: 'x' })
    expect(a.set).toEqual(b.set)
  })

  it('an unknown or unsupported field is bundle-malformed naming it; ignore lists it in the provenance instead', () => {
    const cases: [string, string][] = [
      ['{"policy": {"vmpl": 2, "colour": "red"}}', 'colour'],
      ['{"policy": {"vmpl": 2}, "extra": 1}', 'extra'],
      ['{"policy": {"report_data": "' + Buffer.alloc(64, 1).toString('base64') + '"}}', 'report_data'],
      ['{"policy": {"platform_info": 1}}', 'platform_info'],
      ['{"root_of_trust": {"cabundles": ["x"]}, "policy": {"vmpl": 0}}', 'cabundles'],
      ['{"policy": {"minimum_tcb": 1}}', 'product'],
      ['{"policy": {"require_id_block": true}}', 'require_id_block'],
      ['{"pcr_values": {"sha999": {}}, "policy": {"vmpl": 0}}', 'sha999'],
    ]
    for (const [text, field] of cases) {
      let detail = ''
      try {
        mapGoSevGuestPolicy({ text, name: 'x' })
      } catch (err) {
        expect((err as { code: string }).code).toBe('bundle-malformed')
        detail = (err as { detail: string }).detail
      }
      expect(detail).toContain(field)
    }
    const ok = mapGoSevGuestPolicy({ text: '{"policy": {"vmpl": 2}, "extra": 1}', name: 'x', ignore: ['extra'] })
    expect(ok.ignored).toEqual(['extra'])
    expect(codeOf(() => mapGoSevGuestPolicy({ text: '{"policy": {"vmpl": 2}}', name: 'x', ignore: ['nope'] }))).toBe('bundle-malformed')
  })
})

describe('go-tdx-guest checkconfig.Config (Cocos attestation_policy_tdx.json)', () => {
  it('is refused as is: tdQuoteBodyPolicy holds fields go-tdx-guest does not define, named in the error', () => {
    let detail = ''
    try {
      mapGoTdxGuestPolicy({ text: COCOS_TDX(), name: 'td' })
    } catch (err) {
      detail = (err as { detail: string }).detail
    }
    expect(detail).toContain('"policy" is unknown')
  })

  it('with those two fields ignored it maps: MRTD value, MRSEAM, RTMRs, TD attributes, XFAM, TEE TCB SVN floor, QE vendor', () => {
    const m = mapGoTdxGuestPolicy({ text: COCOS_TDX(), name: 'td', ignore: TDX_IGNORE })
    const p = JSON.parse(COCOS_TDX()).policy
    expect(m.ignored).toEqual(TDX_IGNORE)
    expect(m.set.evidenceType).toBe('tdx')
    expect(m.set.values).toEqual([{ measurement: b64hex(p.tdQuoteBodyPolicy.mrTd) }])
    expect(m.set.expect).toContainEqual({ claim: 'teeTcbSvn', atLeast: '06010300000000000000000000000000' })
    expect(m.set.expect).toContainEqual({ claim: 'tdAttributes', equals: '0000001000000000' })
    expect(m.set.expect).toContainEqual({ claim: 'xfam', equals: 'e702060000000000' })
    expect(m.set.expect).toContainEqual({ claim: 'rtmr3', equals: '00'.repeat(48) })
    expect(m.set.expect).toContainEqual({ claim: 'qeVendorId', equals: '939a7233f79c4ca9940a0db3957f0607' })
    expect(parseExpectedClaims(m.set.expect as JsonValue[], 'tdx')).toHaveLength(m.set.expect.length)
  })
})

describe('a gotpm attestation against the imported Cocos SEV-SNP policy (synthetic signer)', () => {
  const policy = JSON.parse(COCOS_SNP()).policy
  const PCRS = JSON.parse(COCOS_SNP()).pcr_values
  const CHIP = new Uint8Array(Buffer.from(policy.chipId, 'base64'))
  const TCB: TcbParts = COCOS_TCB
  let pki: SnpPki
  let vcek: Uint8Array
  let crl: Uint8Array
  const ak = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const nonce = new Uint8Array(32).fill(0x42)
  let set: ReferenceValueSet

  const matching = (): Partial<ReportFields> => cocosPolicyFields(policy)

  beforeAll(async () => {
    pki = await createSnpPki('Milan')
    vcek = await issueEndorsement(pki, { tcb: TCB, hwId: CHIP })
    crl = await issueCrl(pki)
    const m = mapGoSevGuestPolicy({ text: COCOS_SNP(), name: 'cocos-snp' })
    set = {
      name: 'cocos-snp',
      allowDebug: false,
      evidenceType: 'gotpm',
      expect: parseExpectedClaims(m.set.expect as JsonValue[], 'gotpm'),
      measurements: m.set.values.map((v) => ({ value: v.measurement, revokedAt: null })),
    }
  })

  async function judge(fields: Partial<ReportFields> = {}, o: { vcek?: Uint8Array; pcrs?: typeof PCRS; crl?: boolean } = {}) {
    const pb = await cocosAttestation(pki, { ak, nonce, pcrs: o.pcrs ?? PCRS }, { ...matching(), ...fields }, o.vcek ?? vcek)
    const verifier = createGotpmVerifier({ snp: { extraPinnedArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }], maxVmpl: 3 } })
    const base = trustLookup({ aks: { [akIdOf(ak.publicKey)]: { source: 'registered', name: 'cocos' } } })
    const lookup = { get: async (kind: string, key: string) => (kind === 'snp-crl' && key === 'Milan/vcek' && o.crl !== false ? crl : base.get(kind, key)) }
    const claims = await verifier.verify(verifier.schema.parse({ type: 'gotpm', attestation: Buffer.from(pb).toString('base64') }), { now: GEN_NOW, collateral: lookup })
    const appraisal = appraise(claims, [set], { now: GEN_NOW, maxVmpl: 0 })
    return { matched: appraisal.matched.includes('cocos-snp'), failed: appraisal.sets[0]!.claims.filter((c) => !c.passed).map((c) => c.claim), state: appraisal.sets[0]!.value.state, status: appraisal.status }
  }

  it('a report and vTPM matching every field: the set matches, status affirming', async () => {
    expect(await judge()).toEqual({ matched: true, failed: [], state: 'active', status: 'affirming' })
  })

  it('each checked field differing is refused, naming the claim', async () => {
    const low = { ...TCB, snp: 13 }
    const cases: [string, Partial<ReportFields>, Parameters<typeof judge>[1]?][] = [
      ['hostData', { hostData: new Uint8Array(32).fill(1) }],
      ['familyId', { familyId: new Uint8Array(16).fill(1) }],
      ['imageId', { imageId: new Uint8Array(16).fill(2) }],
      ['reportIdMa', { reportIdMa: new Uint8Array(32).fill(3) }],
      ['vmpl', { vmpl: 1 }],
      ['firmware.build', { currentVersion: { major: 1, minor: 55, build: 7 }, committedVersion: { major: 1, minor: 55, build: 7 } }],
      ['firmware.version', { currentVersion: { major: 1, minor: 54, build: 8 }, committedVersion: { major: 1, minor: 54, build: 8 } }],
      ['launchTcb.snp', { launchTcb: encodeTcb(low, 'Milan') }],
      ['policy.cxlAllow', { policy: (1n << 17n) | (1n << 16n) | (1n << 21n) }],
      ['pcr.sha256.16', {}, { pcrs: { ...PCRS, sha256: { ...PCRS.sha256, 16: 'ee'.repeat(32) } } }],
      ['pcr.sha384.9', {}, { pcrs: { ...PCRS, sha384: { ...PCRS.sha384, 9: 'ee'.repeat(48) } } }],
      ['crl', {}, { crl: false }],
    ]
    for (const [claim, fields, o] of cases) {
      const r = await judge(fields, o)
      expect({ claim, matched: r.matched, failed: r.failed }).toEqual({ claim, matched: false, failed: [claim] })
    }
    // TCB and chip need a VCEK that certifies them.
    const lowTcb = encodeTcb(low, 'Milan')
    expect((await judge({ currentTcb: lowTcb, reportedTcb: lowTcb, committedTcb: lowTcb }, { vcek: await issueEndorsement(pki, { tcb: low, hwId: CHIP, serial: '0c' }) })).failed).toEqual(['tcb.snp'])
    const otherChip = new Uint8Array(64).fill(9)
    expect((await judge({ chipId: otherChip }, { vcek: await issueEndorsement(pki, { tcb: TCB, hwId: otherChip, serial: '0d' }) })).failed).toEqual(['chipId'])
    // Another launch measurement: the set's value is absent.
    expect(await judge({ measurement: new Uint8Array(48).fill(0xee) })).toMatchObject({ matched: false, state: 'absent' })
  })
})
