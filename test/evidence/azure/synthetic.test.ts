/**
 * Whole az-snp-vtpm and az-tdx-vtpm chains built from the test PKIs (SNP ARK/ASK/VCEK, Intel-like
 * TDX root/PCK/TCB signing) and a test-owned vTPM AK: accepted as built, refused with each link
 * broken. The real Azure vectors (snp-vtpm.test.ts, tdx-vtpm.test.ts) cannot be re-signed.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { beforeAll, describe, expect, test } from 'vitest'
import { verifyAzSnpVtpm, verifyAzTdxVtpm } from '../../../src/evidence/azure/index.js'
import { toHex } from '../../../src/evidence/reader.js'
import { decodePcrValues } from '../../../src/evidence/tpm/pcrs.js'
import { hclReport, runtimeClaimsJson, runtimeReportData, tdReport } from '../../generators/azure.js'
import { createSnpPki, GEN_NOW as SNP_NOW, issueEndorsement, makeReport, type SnpPki } from '../../generators/snp.js'
import { createTdxPki, defaultCollateral, GEN_NOW as TDX_NOW, makeQuote, quoteFields, type TdxPki } from '../../generators/tdx.js'
import { encodeQuote, pcrValuesFor, quoteFields as tpmQuoteFields, signQuote, wirePcrs } from '../../generators/tpm.js'
import { asyncCodeOf } from '../../support/error-code.js'

let snp: SnpPki
let vcek: Uint8Array
let tdx: TdxPki
const ak = generateKeyPairSync('rsa', { modulusLength: 2048 })
const binding = new Uint8Array(32).fill(0xb1)

function vtpmQuote(key: KeyObject = ak.privateKey, bare = false) {
  const f = tpmQuoteFields({ extraData: binding, banks: [{ bank: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7] }] })
  const values = pcrValuesFor(f.banks)
  const quote = encodeQuote(f, values)
  const tpmt = signQuote(quote, key, 'rsassa')
  // The bare form: the RSA signature without the TPMT_SIGNATURE header (sigAlg, hash, size).
  return { quote, signature: bare ? tpmt.subarray(6) : tpmt, pcrs: decodePcrValues(wirePcrs(values)) }
}

beforeAll(async () => {
  ;[snp, tdx] = await Promise.all([createSnpPki('Milan'), createTdxPki()])
  vcek = await issueEndorsement(snp)
}, 60_000)

describe('az-snp-vtpm, synthetic', () => {
  const build = (o: { runtime?: Uint8Array; reportData?: Uint8Array; akKey?: KeyObject; bare?: boolean } = {}) => {
    const runtime = o.runtime ?? runtimeClaimsJson({ ak: ak.publicKey })
    const report = makeReport(snp, { reportData: o.reportData ?? runtimeReportData(runtime) })
    return {
      hclReport: hclReport('snp', report, runtime),
      ...vtpmQuote(o.akKey, o.bare),
      certs: { form: 'list' as const, certificates: [vcek, snp.ask.der, snp.ark.der] },
      now: SNP_NOW,
      snpOptions: { extraPinnedArks: [{ product: 'Milan' as const, spkiSha256: snp.arkSpkiSha256 }], useBuiltinAmdCertificates: false },
    }
  }

  test('accepted as built, with TPMT and with bare RSA signatures; claims combine vTPM and SNP', async () => {
    for (const bare of [false, true]) {
      const claims = await verifyAzSnpVtpm(build({ bare }))
      expect(claims.evidenceType).toBe('az-snp-vtpm')
      expect(claims.reportData).toEqual(binding)
      expect(claims.instanceId).toBe('ab12cd34-0000-4000-8000-000000000001')
      expect(claims.measurements['snpMeasurement']).toMatch(/^[0-9a-f]{96}$/)
      expect(Object.keys(claims.measurements)).toContain('pcr7')
    }
  })

  test('each broken link: runtime claims not hashed into REPORT_DATA, another AK signed the quote, untrusted ARK', async () => {
    expect(await asyncCodeOf(() => verifyAzSnpVtpm(build({ reportData: new Uint8Array(64) })))).toBe('signature-invalid')
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 })
    expect(await asyncCodeOf(() => verifyAzSnpVtpm(build({ akKey: stranger.privateKey })))).toBe('signature-invalid')
    // The runtime claims name the stranger's key but the report vouches for the original claims.
    const swapped = build({ runtime: runtimeClaimsJson({ ak: stranger.publicKey }), reportData: runtimeReportData(runtimeClaimsJson({ ak: ak.publicKey })), akKey: stranger.privateKey })
    expect(await asyncCodeOf(() => verifyAzSnpVtpm(swapped))).toBe('signature-invalid')
    expect(await asyncCodeOf(() => verifyAzSnpVtpm({ ...build(), snpOptions: { useBuiltinAmdCertificates: false } }))).toBe('chain-untrusted')
  })
})

describe('az-tdx-vtpm, synthetic', () => {
  const build = (o: { runtime?: Uint8Array; quoteReportData?: Uint8Array; tdReportData?: Uint8Array; akKey?: KeyObject; v5?: boolean } = {}) => {
    const runtime = o.runtime ?? runtimeClaimsJson({ ak: ak.publicKey })
    const rd = runtimeReportData(runtime)
    return {
      hclReport: hclReport('tdx', tdReport(o.tdReportData ?? rd), runtime),
      tdQuote: makeQuote(tdx, quoteFields({ ...(o.v5 === true ? { version: 5, bodyType: 3 } : {}), body: { reportData: o.quoteReportData ?? rd } })),
      tdCollateral: defaultCollateral(tdx),
      ...vtpmQuote(o.akKey),
      now: TDX_NOW,
      tdxOptions: { extraPinnedRoots: [tdx.rootSpkiSha256] },
    }
  }

  test('accepted as built; claims carry the TD measurements under td.*', async () => {
    const claims = await verifyAzTdxVtpm(build())
    expect(claims.platform).toBe('azure-intel-tdx-vtpm')
    expect(toHex(claims.reportData)).toBe(toHex(binding))
    expect(claims.measurements['td.mrTd']).toBe('7d'.repeat(48))
    expect(claims.measurements['td.rtmr1']).toBe('11'.repeat(48))
    expect(claims.raw['tdx']).toBeDefined()
  })

  test('a TD quote v5 (TDX 1.5 body) goes through the same parser and verifier: accepted, with the TDX 1.5 claims', async () => {
    const claims = await verifyAzTdxVtpm(build({ v5: true }))
    expect(claims.measurements['td.mrServiceTd']).toBe('00'.repeat(48))
    expect(claims.raw['tdx']).toMatchObject({ quoteVersion: 5, tdxVersion: '1.5' })
    expect(await asyncCodeOf(() => verifyAzTdxVtpm(build({ v5: true, quoteReportData: new Uint8Array(64) })))).toBe('signature-invalid')
  })

  test('each broken link: TD quote REPORT_DATA, TDREPORT of another quote, AK, missing TCB collateral, untrusted root', async () => {
    expect(await asyncCodeOf(() => verifyAzTdxVtpm(build({ quoteReportData: new Uint8Array(64) })))).toBe('signature-invalid')
    expect(await asyncCodeOf(() => verifyAzTdxVtpm(build({ tdReportData: new Uint8Array(64).fill(1) })))).toBe('signature-invalid')
    expect(await asyncCodeOf(() => verifyAzTdxVtpm(build({ akKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey })))).toBe('signature-invalid')
    const { tdCollateral: _c, ...noCollateral } = build()
    expect(await asyncCodeOf(() => verifyAzTdxVtpm(noCollateral))).toBe('collateral-missing')
    expect(await asyncCodeOf(() => verifyAzTdxVtpm({ ...build(), tdxOptions: {} }))).toBe('chain-untrusted')
  })
})
