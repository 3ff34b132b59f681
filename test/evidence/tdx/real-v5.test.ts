/**
 * The real quote v5 (TDX 1.5 body) of go-tdx-guest (test/vectors/tdx/go-tdx-guest-v5-tdx15,
 * README there): every stage that its bundled material lets us check, at the vector's pinned
 * time 2026-02-03T01:00:00Z — and refusals of the same quote with one thing changed. Those
 * tampered quotes are synthetic (a real quote with bytes altered here), not captured evidence.
 *
 * What the bundle cannot give: an accepted verdict end to end. It holds no TD QE identity current
 * in 2026 (only go-tdx-guest's 2023 one), and keybroker requires a current QE identity, so full
 * verification stops at `collateral-missing`; Intel's TCB evaluation is checked on its own
 * (with the 2023 QE identity's levels) and gives UpToDate.
 */
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { toHex } from '../../../src/evidence/reader.js'
import {
  decodeQeIdentity,
  decodeTcbInfo,
  evaluateTdxTcb,
  intelRootCertificate,
  parseIntelCertificate,
  parseQuote,
  PCK_CHAIN_NAMES,
  readPckExtensions,
  rootPins,
  splitSignedJson,
  toClaims,
  verifyIntelChain,
  verifyTdxEvidence,
} from '../../../src/evidence/tdx/index.js'
import {
  BODY_TYPE,
  checkQeReportData,
  HEADER,
  HEADER_SIZE,
  QE_REPORT,
  QE_REPORT_SIGNATURE_SIZE,
  QE_REPORT_SIZE,
  SIGNATURE_DATA,
  TD_REPORT,
  TD_REPORT15_SIZE,
  V5_BODY_DESCRIPTOR_SIZE,
  verifyQeReportSignature,
  verifyQuoteSignature,
} from '../../../src/evidence/tdx/quote/index.js'
import { asyncCodeOf, codeOf } from '../../support/error-code.js'

const vector = (p: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../vectors/tdx/${p}`, import.meta.url)))

const V5 = vector('go-tdx-guest-v5-tdx15/quote_v5_sample.dat')
const TCB_INFO = vector('go-tdx-guest-v5-tdx15/sample_tcbinfo_response_v5')
const QE_IDENTITY_2023 = vector('go-tdx-guest-v4-spr/sample_qeIdentity_response')
const SIGNING_PEM = vector('intel-sgx-tcb-signing-2018-2025.pem')
/** MANIFEST "roots/intel": the TCB Signing key Intel keeps re-certifying; its 2018-2025 certificate expired before this tcbInfo was issued. */
const SIGNING_KEY_PIN = 'bd7d4b9c805d92607dee34683a104abfa7b2a487e06af2edf0740a8666cbc22f'
const AT = new Date('2026-02-03T01:00:00Z')

/** Offsets in this quote, from the layout tables: header, body descriptor, body, signature data. */
const DESCRIPTOR = HEADER_SIZE
const BODY = DESCRIPTOR + V5_BODY_DESCRIPTOR_SIZE
const SIG_DATA = BODY + TD_REPORT15_SIZE + 4
const CERT_DATA = SIG_DATA + SIGNATURE_DATA.attestationKey.at + SIGNATURE_DATA.attestationKey.size
const QE_REPORT_AT = CERT_DATA + 6
const QE_REPORT_END = QE_REPORT_AT + QE_REPORT_SIZE + QE_REPORT_SIGNATURE_SIZE

const verify = (quote: Uint8Array, now = AT) =>
  verifyTdxEvidence({ quote, collateral: { tcbInfo: TCB_INFO, tcbSigningChain: SIGNING_PEM }, now, options: { pinnedTcbSigningKeys: [SIGNING_KEY_PIN] } })

/** XORs (or ORs) `mask` into byte `at`. */
function flip(b: Uint8Array, at: number, mask: number, or = false): void {
  b[at] = or ? (b[at] ?? 0) | mask : (b[at] ?? 0) ^ mask
}

function tampered(change: (b: Uint8Array, view: DataView) => void): Uint8Array {
  const b = V5.slice()
  change(b, new DataView(b.buffer, b.byteOffset, b.byteLength))
  return b
}

describe('real quote v5 (TDX 1.5) at 2026-02-03', () => {
  test('the offsets used here are the ones the parser reads (body descriptor type 3, 648 bytes)', () => {
    const view = new DataView(V5.buffer, V5.byteOffset, V5.byteLength)
    expect(view.getUint16(HEADER.version.at, true)).toBe(5)
    expect(view.getUint16(DESCRIPTOR, true)).toBe(BODY_TYPE.tdReport15)
    expect(view.getUint32(DESCRIPTOR + 2, true)).toBe(TD_REPORT15_SIZE)
    const q = parseQuote(V5)
    expect(q.signedBytes).toEqual(V5.subarray(0, BODY + TD_REPORT15_SIZE))
    expect(toHex(V5.subarray(BODY + TD_REPORT.mrTd.at, BODY + TD_REPORT.mrTd.at + 48))).toBe(toHex(q.body.mrTd))
    expect(V5.subarray(QE_REPORT_AT, QE_REPORT_AT + QE_REPORT_SIZE)).toEqual(q.qeReportBytes)
  })

  test('PCK chain to the pinned Intel root, QE report signature, QE report data and quote signature all verify', () => {
    const q = parseQuote(V5)
    const chain = q.pckChain.map((der, i) => parseIntelCertificate(der, `PCK chain[${i}]`))
    expect(chain).toHaveLength(3)
    expect(chain[2]!.spkiSha256).toBe(intelRootCertificate().spkiSha256)
    expect(codeOf(() => verifyIntelChain(chain, PCK_CHAIN_NAMES, rootPins([]), AT))).toBe('no-error')
    expect(codeOf(() => verifyQeReportSignature(q, chain[0]!.publicKey))).toBe('no-error')
    expect(codeOf(() => checkQeReportData(q))).toBe('no-error')
    expect(codeOf(() => verifyQuoteSignature(q))).toBe('no-error')
    // The PCK leaf is valid from 2026-01-27T14:36:27Z: a day before, the same quote's chain is not.
    expect(codeOf(() => verifyIntelChain(chain, PCK_CHAIN_NAMES, rootPins([]), new Date('2026-01-26T14:36:27Z')))).toBe('chain-untrusted')
    expect(readPckExtensions(chain[0]!)).toMatchObject({ pceSvn: 13 })
  })

  test('full verification passes every quote and chain check and stops only at the missing current QE identity', async () => {
    expect(await asyncCodeOf(() => verify(V5))).toBe('collateral-missing')
    expect(await asyncCodeOf(() => verify(V5, new Date('2026-01-26T00:00:00Z')))).toBe('chain-untrusted')
    // Without the key pin, the 2018-2025 TCB Signing certificate is expired at 2026-02-03.
    expect(
      await asyncCodeOf(() => verifyTdxEvidence({ quote: V5, collateral: { tcbInfo: TCB_INFO, qeIdentity: QE_IDENTITY_2023, tcbSigningChain: SIGNING_PEM }, now: AT })),
    ).toBe('chain-untrusted')
  })

  test('the TD quote body verifies against the 2026 tcbInfo: UpToDate with TEE_TCB_SVN (module TDX_01) and TEE_TCB_SVN_2', () => {
    const q = parseQuote(V5)
    const pck = readPckExtensions(parseIntelCertificate(q.pckChain[0]!, 'PCK'))
    const tcbInfo = decodeTcbInfo(splitSignedJson(TCB_INFO, 'tcbInfo', 'tcbInfo').body)
    expect(tcbInfo.tdxModuleIdentities.map((m) => m.id).sort()).toEqual(['TDX_01', 'TDX_03'])
    const qe = decodeQeIdentity(splitSignedJson(QE_IDENTITY_2023, 'enclaveIdentity', 'qe').body)
    expect(evaluateTdxTcb(tcbInfo, qe, pck, q)).toMatchObject({ status: 'UpToDate', tdxModuleIdentity: 'TDX_01', tdxModuleStatus: 'UpToDate', sgxTcbStatus: 'UpToDate' })
    // The FMSPC is matched case-insensitively: Intel's tcbInfo may spell it in upper case.
    const upper = decodeTcbInfo({ ...(splitSignedJson(TCB_INFO, 'tcbInfo', 'tcbInfo').body as Record<string, unknown>), fmspc: '90C06F000000' })
    expect(evaluateTdxTcb(upper, qe, pck, q).status).toBe('UpToDate')
    // Another platform's tcbInfo is not this quote's collateral.
    const other = decodeTcbInfo({ ...(splitSignedJson(TCB_INFO, 'tcbInfo', 'tcbInfo').body as Record<string, unknown>), fmspc: '90C06F000001' })
    expect(codeOf(() => evaluateTdxTcb(other, qe, pck, q))).toBe('collateral-missing')
  })

  test('claims of the TDX 1.5 body: mrServiceTd, teeTcbSvn2, tdxVersion 1.5 (toClaims on the real quote)', () => {
    const q = parseQuote(V5)
    const pckCertificate = parseIntelCertificate(q.pckChain[0]!, 'PCK')
    const pck = readPckExtensions(pckCertificate)
    const tcbInfo = decodeTcbInfo(splitSignedJson(TCB_INFO, 'tcbInfo', 'tcbInfo').body)
    const qe = decodeQeIdentity(splitSignedJson(QE_IDENTITY_2023, 'enclaveIdentity', 'qe').body)
    const claims = toClaims({ quote: q, pck, pckCertificate, pckCa: 'platform', tcb: evaluateTdxTcb(tcbInfo, qe, pck, q), crl: 'absent', eventLog: undefined })
    expect(claims.measurements?.['mrServiceTd']).toBe('00'.repeat(48))
    expect(claims.raw).toMatchObject({ quoteVersion: 5, tdxVersion: '1.5', teeTcbSvn: '0b010400000000000000000000000000', teeTcbSvn2: '0d010400000000000000000000000000' })
  })

  // Synthetic: the real quote with one thing changed.
  test.each([
    ['TD report MRTD', 'signature-invalid', (b: Uint8Array) => flip(b, BODY + TD_REPORT.mrTd.at, 1)],
    ['TD report REPORTDATA', 'signature-invalid', (b: Uint8Array) => flip(b, BODY + TD_REPORT.reportData.at + 63, 0x80)],
    ['TEE_TCB_SVN_2', 'signature-invalid', (b: Uint8Array) => void b.set([0xff], BODY + TD_REPORT.teeTcbSvn2.at)],
    ['MRSERVICETD', 'signature-invalid', (b: Uint8Array) => void b.set([1], BODY + TD_REPORT.mrServiceTd.at + 47)],
    ['TD_ATTRIBUTES.DEBUG (signature before meaning)', 'signature-invalid', (b: Uint8Array) => flip(b, BODY + TD_REPORT.tdAttributes.at, 1, true)],
    ['header user data', 'signature-invalid', (b: Uint8Array) => flip(b, HEADER.userData.at, 1)],
    ['quote signature r', 'signature-invalid', (b: Uint8Array) => flip(b, SIG_DATA, 1)],
    ['quote signature s', 'signature-invalid', (b: Uint8Array) => flip(b, SIG_DATA + 63, 1)],
    ['attestation key', 'signature-invalid', (b: Uint8Array) => flip(b, SIG_DATA + SIGNATURE_DATA.attestationKey.at + 10, 1)],
    ['QE report ISVSVN', 'signature-invalid', (b: Uint8Array) => flip(b, QE_REPORT_AT + QE_REPORT.isvSvn.at, 1)],
    ['QE report signature', 'signature-invalid', (b: Uint8Array) => flip(b, QE_REPORT_AT + QE_REPORT_SIZE + 5, 1)],
    ['body type 3 → 2 (size still 648)', 'evidence-malformed', (b: Uint8Array, v: DataView) => v.setUint16(DESCRIPTOR, BODY_TYPE.tdReport10, true)],
    ['body type 3 → 1 (SGX enclave report)', 'evidence-unsupported', (b: Uint8Array, v: DataView) => v.setUint16(DESCRIPTOR, BODY_TYPE.sgx, true)],
    ['body type 3 → 4 (unknown)', 'evidence-unsupported', (b: Uint8Array, v: DataView) => v.setUint16(DESCRIPTOR, 4, true)],
    ['body size 649', 'evidence-malformed', (b: Uint8Array, v: DataView) => v.setUint32(DESCRIPTOR + 2, TD_REPORT15_SIZE + 1, true)],
    ['body size 0xffffffff', 'evidence-malformed', (b: Uint8Array, v: DataView) => v.setUint32(DESCRIPTOR + 2, 0xffffffff, true)],
    ['version 5 → 4 (a v4 parse of v5 bytes)', 'evidence-malformed', (b: Uint8Array, v: DataView) => v.setUint16(HEADER.version.at, 4, true)],
    ['signature data size + 1', 'evidence-malformed', (b: Uint8Array, v: DataView) => v.setUint32(SIG_DATA - 4, v.getUint32(SIG_DATA - 4, true) + 1, true)],
  ] as const)('tampered %s is refused: %s', async (_what, code, change) => {
    expect(await asyncCodeOf(() => verify(tampered(change)))).toBe(code)
  })

  test('property: flipping any bit of the signed bytes, quote signature, attestation key, QE report or its signature is never accepted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: QE_REPORT_END * 8 - 1 }), async (bit) => {
        fc.pre(!(bit >= (SIG_DATA - 4) * 8 && bit < SIG_DATA * 8) && !(bit >= CERT_DATA * 8 && bit < QE_REPORT_AT * 8))
        const b = tampered((q) => flip(q, bit >> 3, 1 << (bit & 7)))
        // The unaltered quote gets as far as `collateral-missing`; every flip must be caught before.
        expect(['evidence-malformed', 'evidence-unsupported', 'signature-invalid']).toContain(await asyncCodeOf(() => verify(b)))
      }),
      { numRuns: 400 },
    )
  })
})
