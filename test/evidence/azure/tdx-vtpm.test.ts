import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { azTdxVtpmEvidenceFromFile, azTdxVtpmVerifier, parseHclReport, type AzTdxVtpmEvidence } from '../../../src/evidence/azure/index.js'
import { verifyVtpmQuote } from '../../../src/evidence/azure/vtpm-quote.js'
import { parseRuntimeClaims } from '../../../src/evidence/azure/runtime-claims.js'
import { toHex } from '../../../src/evidence/reader.js'
import { parseQuote } from '../../../src/evidence/tdx/index.js'
import { pcrValuesFromList } from '../../../src/evidence/tpm/pcrs.js'
import { NO_COLLATERAL } from '../../../src/evidence/types.js'
import { asyncCodeOf } from '../../support/error-code.js'

const DIR = new URL('../../vectors/azure/tdx/', import.meta.url)
const read = (name: string): Buffer => readFileSync(new URL(name, DIR))
const NOW = new Date('2026-11-23T00:00:00Z')
const quoteJson = () => JSON.parse(read('tpm-quote-v1.json').toString('utf8')) as { signature: string; message: string; pcrs: string[] }

function wire(): AzTdxVtpmEvidence {
  const q = quoteJson()
  return {
    type: 'az-tdx-vtpm',
    hclReport: read('hcl-report.bin').toString('base64'),
    tdQuote: read('td-quote.bin').toString('base64'),
    quote: Buffer.from(q.message, 'hex').toString('base64'),
    signature: Buffer.from(q.signature, 'hex').toString('base64'),
    pcrs: { sha256: Object.fromEntries(q.pcrs.map((v, i) => [String(i), v])) },
  }
}
const verify = (e: unknown) => azTdxVtpmVerifier.verify(azTdxVtpmVerifier.schema.parse(e), { now: NOW, collateral: NO_COLLATERAL })

describe('trustee az-tdx-vtpm vectors (MANIFEST values)', () => {
  test('the links the vector can show: runtime claims in the TD quote REPORT_DATA, vTPM quote by HCLAkPub', () => {
    const hcl = parseHclReport(new Uint8Array(read('hcl-report.bin')))
    expect(hcl).toMatchObject({ version: 2, reportType: 'tdx', hashType: 'sha256' })
    const td = parseQuote(new Uint8Array(read('td-quote.bin')))
    expect(toHex(td.body.reportData)).toBe(`9734504f161d104c74e3165c15f779b06a9bb40dfa71937817d7eee68e593839${'00'.repeat(32)}`)
    expect(toHex(td.body.mrTd)).toBe('024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b')
    const runtime = parseRuntimeClaims(hcl.runtimeData)
    const q = quoteJson()
    const verified = verifyVtpmQuote(new Uint8Array(Buffer.from(q.message, 'hex')), new Uint8Array(Buffer.from(q.signature, 'hex')), pcrValuesFromList('sha256', q.pcrs), runtime.akPublicKey)
    expect(toHex(verified.attest.extraData)).toBe(Buffer.from('challenge').toString('hex'))
    expect(toHex(verified.attest.pcrDigest)).toBe('6c0e21d918212d57872a752bcf358355d508d1d5b8cb632259b898b15f9f658d')
    expect(verified.pcrs.get('sha256')?.get(0)).toBe('782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273')
  })

  test('the whole check stops only at the TCB collateral for FMSPC 00806f050000, which is not bundled', async () => {
    expect(await asyncCodeOf(() => verify(wire()))).toBe('collateral-missing')
    for (const file of ['evidence-v0.json', 'evidence-v1.json']) {
      const e = azTdxVtpmEvidenceFromFile(new Uint8Array(read(file)), { certs: [] })
      expect(await asyncCodeOf(() => verify(e))).toBe('collateral-missing')
    }
  })

  test("trustee's defects: runtime claims changed (0x880), quote signature, PCR 0, nonce", async () => {
    const b = read('hcl-report.bin')
    b[0x880] = (b[0x880]! + 1) & 0xff
    expect(await asyncCodeOf(() => verify({ ...wire(), hclReport: b.toString('base64') }))).toBe('signature-invalid')
    const sig = Buffer.from(wire().signature, 'base64')
    sig[0]! ^= 1
    expect(await asyncCodeOf(() => verify({ ...wire(), signature: sig.toString('base64') }))).toBe('signature-invalid')
    const e = wire()
    const pcr0 = e.pcrs['sha256']!['0']!
    expect(await asyncCodeOf(() => verify({ ...e, pcrs: { sha256: { ...e.pcrs['sha256'], 0: `${pcr0[0] === '0' ? '1' : '0'}${pcr0.slice(1)}` } } }))).toBe('signature-invalid')
    const snpHcl = readFileSync(new URL('../../vectors/azure/snp/hcl-report.bin', import.meta.url))
    expect(await asyncCodeOf(() => verify({ ...wire(), hclReport: snpHcl.toString('base64') }))).toBe('evidence-unsupported')
  })
})
