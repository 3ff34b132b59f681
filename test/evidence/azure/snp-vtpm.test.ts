import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { azSnpVtpmEvidenceFromFile, azSnpVtpmVerifier, parseHclReport, parseRuntimeClaims, type AzSnpVtpmEvidence } from '../../../src/evidence/azure/index.js'
import { NO_COLLATERAL } from '../../../src/evidence/types.js'
import { toHex } from '../../../src/evidence/reader.js'
import { asyncCodeOf, codeOf } from '../../support/error-code.js'

const DIR = new URL('../../vectors/azure/snp/', import.meta.url)
const read = (name: string): Buffer => readFileSync(new URL(name, DIR))
const NOW = new Date('2026-11-23T00:00:00Z')
const CHALLENGE = Buffer.from('challenge').toString('hex')

/** hcl-report.bin + tpm-quote-v1.json + vcek.pem as keybroker wire evidence. */
function hclEvidence(): AzSnpVtpmEvidence {
  const q = JSON.parse(read('tpm-quote-v1.json').toString('utf8')) as { signature: string; message: string; pcrs: string[] }
  return {
    type: 'az-snp-vtpm',
    hclReport: read('hcl-report.bin').toString('base64'),
    quote: Buffer.from(q.message, 'hex').toString('base64'),
    signature: Buffer.from(q.signature, 'hex').toString('base64'),
    pcrs: { sha256: Object.fromEntries(q.pcrs.map((v, i) => [String(i), v])) },
    certs: read('vcek.pem').toString('latin1'),
  }
}

const fromFile = (name: string, certs: Buffer[] = []) => azSnpVtpmEvidenceFromFile(new Uint8Array(read(name)), { certs: certs.map((c) => new Uint8Array(c)) })
const verify = (e: unknown) => azSnpVtpmVerifier.verify(azSnpVtpmVerifier.schema.parse(e), { now: NOW, collateral: NO_COLLATERAL })

describe('trustee az-snp-vtpm vectors (MANIFEST values)', () => {
  test('hcl-report.bin + tpm-quote-v1.json + vcek.pem (Milan, SNP v2): accepted', async () => {
    const claims = await verify(hclEvidence())
    expect(claims.platform).toBe('azure-sev-snp-vtpm')
    expect(claims.measurement).toBe('0daff74c2fca14910b1e9b54a384707434c3365db9f163cc73a39a9f7500833f')
    expect(claims.measurements['pcr0']).toBe('f3a7e99a5f819a034386bce753a48a73cfdaa0bea0ecfc124bedbf5a8c4799be')
    expect(claims.measurements['snpMeasurement']).toBe('9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315')
    expect(toHex(claims.reportData)).toBe(CHALLENGE)
    expect(claims.instanceId).toBe('911b0ef8-9dba-48b0-b275-4e4df2d39252')
    expect(claims.debug).toBe(false)
    expect(claims.raw['quote']).toMatchObject({ firmwareVersion: '2020031200120003', signature: { scheme: 'rsassa', hash: 'sha256' } })
    expect(claims.raw['hcl']).toMatchObject({ version: 1, vmConfiguration: { 'secure-boot': true, 'tpm-enabled': true } })
    expect(claims.raw['snp']).toMatchObject({ reportedTcb: { raw: '7308000000000003' } })
  })

  test.each([
    ['evidence-v0.json', 'e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced', 'cfa3a9112493e8c8741c1d895ced6d05a9ea19a24a02a44a8b02eaf22a1b143f'],
    ['evidence-v1.json', 'e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced', undefined],
  ])('%s (Milan, SNP v3) through fromFile: accepted, PCR 0 per MANIFEST', async (file, pcr0, digest) => {
    const claims = await verify(fromFile(file))
    expect(claims.measurements['pcr0']).toBe(pcr0)
    if (digest !== undefined) expect(claims.measurement).toBe(digest)
    expect(claims.measurements['snpMeasurement']).toBe('6a063be9dd79f6371c842e480f8dc3b5c725961344e57130e88c5adf49e8f7f6c79b75a5eb77fc769959f4aeb2f9401e')
    expect(toHex(claims.reportData)).toBe(CHALLENGE)
    expect(claims.tcb).toMatchObject({ bootloader: 4, tee: 0, snp: 24, microcode: 219 })
  })

  test('evidence-genoa.json (Genoa, SNP v3): accepted with its 48-byte nonce', async () => {
    const claims = await verify(fromFile('evidence-genoa.json'))
    expect(claims.measurements['pcr0']).toBe('afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338')
    expect(toHex(claims.reportData)).toBe('0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f')
    expect(claims.raw['snp']).toMatchObject({ product: 'Genoa' })
  })

  test('the defects trustee tests for, one at a time', async () => {
    const base = hclEvidence()
    const hcl = (at: number, f: (b: number) => number) => {
      const b = read('hcl-report.bin')
      b[at] = f(b[at]!)
      return { ...base, hclReport: b.toString('base64') }
    }
    // 0x1A6: inside the SNP report's signed area.
    expect(await asyncCodeOf(() => verify(hcl(0x1a6, () => 0)))).toBe('signature-invalid')
    // 0x6E0 and 0x540: inside the runtime claims, which REPORT_DATA no longer vouches for.
    expect(await asyncCodeOf(() => verify(hcl(0x6e0, (b) => b + 1)))).toBe('signature-invalid')
    expect(await asyncCodeOf(() => verify(hcl(0x540, () => 0)))).toBe('signature-invalid')
    const sig = Buffer.from(base.signature, 'base64')
    sig[0]! ^= 1
    expect(await asyncCodeOf(() => verify({ ...base, signature: sig.toString('base64') }))).toBe('signature-invalid')
    const pcrs = { sha256: { ...base.pcrs['sha256'], 0: `${(Number.parseInt(base.pcrs['sha256']!['0']!.slice(0, 2), 16) ^ 1).toString(16).padStart(2, '0')}${base.pcrs['sha256']!['0']!.slice(2)}` } }
    expect(await asyncCodeOf(() => verify({ ...base, pcrs }))).toBe('signature-invalid')
    // Without the VCEK (no collateral store here): collateral-missing, not a crash.
    const { certs: _omit, ...noCerts } = base
    expect(await asyncCodeOf(() => verify(noCerts))).toBe('collateral-missing')
  })

  test('an az-tdx-vtpm HCL report sent as az-snp-vtpm is evidence-unsupported', async () => {
    const tdx = readFileSync(new URL('../../vectors/azure/tdx/hcl-report.bin', import.meta.url))
    expect(await asyncCodeOf(() => verify({ ...hclEvidence(), hclReport: tdx.toString('base64') }))).toBe('evidence-unsupported')
  })
})

describe('HCL report parser', () => {
  const good = new Uint8Array(read('hcl-report.bin'))

  test('layout: SNP report at 0x20, runtime JSON with HCLAkPub', () => {
    const h = parseHclReport(good)
    expect(h).toMatchObject({ version: 1, requestType: 2, reportType: 'snp', hashType: 'sha256' })
    expect(h.hardwareReport).toHaveLength(0x4a0)
    expect(parseRuntimeClaims(h.runtimeData).vmConfiguration['vmUniqueId']).toBe('911B0EF8-9DBA-48B0-B275-4E4DF2D39252')
  })

  test('defects: signature, sizes, padding not zero, truncation', () => {
    const at = (i: number, v: number) => {
      const b = good.slice()
      b[i] = v
      return b
    }
    expect(codeOf(() => parseHclReport(at(0, 0x41)))).toBe('evidence-malformed')
    expect(codeOf(() => parseHclReport(at(8, 0x2b)))).toBe('evidence-malformed') // report_size
    expect(codeOf(() => parseHclReport(at(0x4c8, 3)))).toBe('evidence-unsupported') // report type
    expect(codeOf(() => parseHclReport(at(2599, 1)))).toBe('evidence-malformed') // padding
    expect(codeOf(() => parseHclReport(at(0x18, 1)))).toBe('evidence-malformed') // reserved
    for (const cut of [0, 4, 0x20, 0x4c0, 0x4d4, 0x4d4 + 100]) expect(codeOf(() => parseHclReport(good.subarray(0, cut)))).toBe('evidence-malformed')
  })

  test('arbitrary bytes, and arbitrary runtime data behind a valid header: typed errors only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        expect(['no-error', 'evidence-malformed', 'evidence-unsupported']).toContain(codeOf(() => parseHclReport(bytes)))
      }),
      { numRuns: 1000 },
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        expect(['evidence-malformed', 'evidence-unsupported']).toContain(codeOf(() => parseRuntimeClaims(bytes)))
      }),
      { numRuns: 1000 },
    )
  })
})
