/** Real TDX quotes and Intel collateral (test/vectors/tdx/README.md): expected values from the vectors' MANIFEST. */
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { toHex } from '../../../src/evidence/reader.js'
import {
  decodeQeIdentity,
  decodeTcbInfo,
  evaluateTdxTcb,
  INTEL_SGX_ROOT_CA_PEM,
  INTEL_SGX_ROOT_CA_SPKI_SHA256,
  parseQuote,
  readPckExtensions,
  splitSignedJson,
  verifyIntelCrl,
  verifySignedJson,
  verifyTdxEvidence,
  verifyTdxQuote,
  type TdxVerifyInput,
} from '../../../src/evidence/tdx/index.js'
import { parseCertificate } from '../../../src/evidence/x509-chain.js'
import { asyncCodeOf } from '../../support/error-code.js'

const vector = (p: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../vectors/tdx/${p}`, import.meta.url)))
const pemDer = (pem: string): Uint8Array => new Uint8Array(Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'))

const TODAY = new Date('2026-11-23T00:00:00Z')
const SIGNING_PEM = vector('intel-sgx-tcb-signing-2018-2025.pem')
/** The TCB Signing key Intel keeps re-certifying (MANIFEST "roots/intel"): pinned where collateral post-dates its 2025 certificate. */
const SIGNING_KEY_PIN = 'bd7d4b9c805d92607dee34683a104abfa7b2a487e06af2edf0740a8666cbc22f'

const EMR = {
  quote: vector('trustee-v4-emr-with-collateral/tdx_quote_6.dat'),
  tcbInfo: vector('trustee-v4-emr-with-collateral/tcbInfo.json'),
  qeIdentity: vector('trustee-v4-emr-with-collateral/enclaveIdentity.json'),
}
const SPR_RAW = vector('go-tdx-guest-v4-spr/tdx_prod_quote_SPR_E4.dat')
/** go-tdx-guest appended 39 bytes of text ("extra bytes(only for testing purpose)") to this quote; without them it is the real quote. */
const SPR = SPR_RAW.subarray(0, SPR_RAW.byteLength - 39)
const DEBUG_TD = vector('trustee-v4-debug-td/tdx_quote_4.dat')
const V5 = vector('go-tdx-guest-v5-tdx15/quote_v5_sample.dat')

describe('Intel roots', () => {
  test('the built-in root is reference-values/intel/intel-sgx-root-ca.pem and its SPKI is the pin (MANIFEST roots/intel)', () => {
    const file = readFileSync(new URL('../../../reference-values/intel/intel-sgx-root-ca.pem', import.meta.url), 'utf8')
    expect(pemDer(INTEL_SGX_ROOT_CA_PEM)).toEqual(pemDer(file))
    const root = parseCertificate(pemDer(file))
    expect(root.spkiSha256).toBe(INTEL_SGX_ROOT_CA_SPKI_SHA256)
    expect(root.spkiSha256).toBe('a0af031289f5d5d4132f9186068a7fc13628633ba235777472e29b6b6c67a49e')
    expect(root.serialNumber).toBe('22650cd65a9d3489f383b49552bf501b392706ac')
    expect(parseCertificate(pemDer(Buffer.from(SIGNING_PEM).toString())).spkiSha256).toBe(SIGNING_KEY_PIN)
  })
})

describe('trustee v4 debug TD (SPR)', () => {
  test('field values from MANIFEST', () => {
    const q = parseQuote(DEBUG_TD)
    expect(q.version).toBe(4)
    expect(toHex(q.userData)).toBe('d099bfec0a477aa85a605dceabf2b10800000000')
    expect(toHex(q.qeVendorId)).toBe('939a7233f79c4ca9940a0db3957f0607')
    const b = q.body
    expect(toHex(b.teeTcbSvn)).toBe('03000500000000000000000000000000')
    expect(toHex(b.mrSeam)).toBe('2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c656')
    expect(toHex(b.mrSignerSeam)).toBe('00'.repeat(48))
    expect(toHex(b.mrTd)).toBe('705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031')
    expect(toHex(b.rtmr[0])).toBe('e940da7c2712d2790e2961e00484f4fa8e6f9eed71361655ae22699476b14f9e63867eb41edd4b480fef0c59f496b288')
    expect(toHex(b.rtmr[1])).toBe('559cfcf42716ed6c40a48a73d5acb7da255435012f0a9f00fbe8c1c57612ede486a5684c4c9ff3ddf52315fcdca3a596')
    expect(toHex(b.rtmr[2])).toBe('00'.repeat(48))
    expect(toHex(b.reportData)).toBe('7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429')
    expect(b.tdAttributes).toBe(0x10000001n) // bytes 01 00 00 10 …: DEBUG (bit 0), SEPT_VE_DISABLE (bit 28)
    expect(q.qeReport.isvSvn).toBe(4)
    expect(toHex(q.qeReport.mrEnclave)).toBe('853e298f3b7cde28b06493d06fb2ad6f9566a97fea6d3de66236b2af1a35150f')
    expect(toHex(q.qeReport.mrSigner)).toBe('dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5')
    const pck = readPckExtensions(parseCertificate(q.pckChain[0]!))
    expect(toHex(pck.fmspc)).toBe('50806f000000')
    expect(pck.pceSvn).toBe(11)
    expect(toHex(pck.cpuSvn)).toBe('05050d02030100030000000000000000')
    // MANIFEST quotes trustee's 82548d22…dc61a02, which is these DER bytes reversed (openssl asn1parse agrees with us).
    expect(toHex(pck.platformInstanceId!)).toBe('021ac64d355ba904e2d5948d228d5482')
    expect(pck.sgxType).toBe('Scalable')
  })

  test('rejected for debug (signatures, QE report and chain pass first); with debug allowed, TCB needs collateral', async () => {
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote: DEBUG_TD, now: TODAY }))).toBe('debug-enabled')
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote: DEBUG_TD, now: TODAY, options: { allowDebug: true } }))).toBe('collateral-missing')
    // PCK leaf valid 2023-02-07T08:02:55Z .. 2030-02-07T08:02:55Z.
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote: DEBUG_TD, now: new Date('2030-02-07T08:02:56Z') }))).toBe('chain-untrusted')
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote: DEBUG_TD, now: new Date('2023-02-07T08:02:54Z') }))).toBe('chain-untrusted')
  })

  test('one flipped byte of the quote body, QE report or signature fails', async () => {
    for (const at of [48 + 136, 632 + 4 + 10, 632 + 4 + 64 + 3, 632 + 4 + 134 + 200, 632 + 4 + 134 + 384 + 5]) {
      const b = DEBUG_TD.slice()
      b[at] = (b[at] ?? 0) ^ 0x01
      expect(await asyncCodeOf(() => verifyTdxEvidence({ quote: b, now: TODAY, options: { allowDebug: true } })), `byte ${at}`).toBe('signature-invalid')
    }
  })
})

describe('trustee v4 EMR quote with its tcbInfo and enclaveIdentity', () => {
  const input = (now: Date, extra: Partial<TdxVerifyInput['options']> = {}): TdxVerifyInput => ({
    quote: EMR.quote,
    collateral: { tcbInfo: EMR.tcbInfo, qeIdentity: EMR.qeIdentity, tcbSigningChain: SIGNING_PEM },
    now,
    options: { pinnedTcbSigningKeys: [SIGNING_KEY_PIN], ...extra },
  })
  const PINNED = new Date('2025-11-01T00:00:00Z')

  test('field values from MANIFEST; 70 zero bytes of padding after the signature data', () => {
    const q = parseQuote(EMR.quote)
    expect(q.trailingZeroBytes).toBe(70)
    expect(toHex(q.body.teeTcbSvn)).toBe('05030200000000000000000000000000')
    expect(toHex(q.body.mrConfigId)).toBe('889abf4718f037e38d74464c11e7c91a6e9890b5546409e1e7df9de7a51ca93152bf847bd2440328e90adb18b150ed67')
    expect(toHex(q.body.rtmr[2])).toBe('193edd321148e81fd4d6ce00ac8331e737febdb428f18ae66f697c1d2a7f2cd97c535c8df9f045f62b16a41facad84a1')
    expect(toHex(q.body.reportData)).toBe('26cae1c77185617fb6a03fc29bf1f924596e52352b9b7594940b576ae126cd4a570cc3202a900c5d19a6eb0a95b32cfd' + '00'.repeat(16))
  })

  test('verifies at its pinned date (2025-11-01) with TCB status OutOfDate, when policy accepts OutOfDate', async () => {
    const v = await verifyTdxQuote(input(PINNED, { acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded', 'OutOfDate'] }))
    expect(v.tcb).toMatchObject({
      status: 'OutOfDate',
      sgxTcbStatus: 'OutOfDate',
      tdxTcbStatus: 'OutOfDate',
      tdxModuleStatus: 'UpToDate',
      tdxModuleIdentity: 'TDX_03',
      qeStatus: 'UpToDate',
      tcbDate: '2018-01-04T00:00:00Z',
      tcbEvaluationDataNumber: 17,
      advisoryIds: [],
    })
    const claims = await verifyTdxEvidence(input(PINNED, { acceptedTcbStatuses: ['OutOfDate'] }))
    expect(claims.measurement).toBe('21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88')
    expect(claims.measurements['rtmr0']).toBe('395aefe7bac15b24c40f1cd7ba6f8fa48732be5c56c61485ed3cd9c8b16cce8ece64c331b99ce36d96605135c753aaa2')
    expect(claims.measurements['rtmr1']).toBe('fc4b0f849d8d76fdf1da563a8c29d0d456b484a65e01797baf52ea1d8c002040527a1f0278925077219656dba039429f')
    expect(claims.measurements['mrSeam']).toBe('476a2997c62bccc78370913d0a80b956e3721b24272bc66c4d6307ced4be2865c40e26afac75f12df3425b03eb59ea7c')
    expect(claims.debug).toBe(false)
    expect(claims.tcb).toMatchObject({ status: 'OutOfDate', fmspc: '00a06d080000', pceSvn: 11, cpuSvn: '02020707040100020000000000000000' })
    expect(claims.raw).toMatchObject({
      tdAttributes: '0000001000000000',
      tdAttributesFlags: { debug: false, septVeDisable: true },
      xfam: 'e702060000000000',
      qeIsvSvn: 7,
      qeMrEnclave: 'b7ae9ab69e76f7794a56b0db1915281d435d488c91d406ed33a7939caf8730f8',
      pckSerial: '55ea35e0d62e0da4db14f6b373620ec838ba83c4',
      sgxType: 'ScalableWithIntegrity',
      userData: '5bd9e09e6e0bbcd3f9cc4d7c9295764a00000000',
      crl: 'absent',
    })
  })

  test('refused by the default policy (UpToDate, SWHardeningNeeded only)', async () => {
    expect(await asyncCodeOf(() => verifyTdxEvidence(input(PINNED)))).toBe('tcb-below-minimum')
  })

  test('expired collateral is rejected at today\'s date (tcbInfo nextUpdate 2025-11-26)', async () => {
    expect(await asyncCodeOf(() => verifyTdxEvidence(input(TODAY, { acceptedTcbStatuses: ['OutOfDate'] })))).toBe('collateral-missing')
  })

  test('without the key pin, the 2018-2025 TCB Signing certificate has expired by the collateral\'s date', async () => {
    expect(await asyncCodeOf(() => verifyTdxEvidence(input(PINNED, { pinnedTcbSigningKeys: [], acceptedTcbStatuses: ['OutOfDate'] })))).toBe('chain-untrusted')
    // Verified while that certificate was valid, the collateral is not yet issued.
    expect(await asyncCodeOf(() => verifyTdxEvidence(input(new Date('2025-05-01T00:00:00Z'), { pinnedTcbSigningKeys: [] })))).toBe('collateral-missing')
  })

  test('both documents are signed over their exact bytes by the TCB Signing key; one changed byte is signature-invalid', () => {
    const key = parseCertificate(pemDer(Buffer.from(SIGNING_PEM).toString())).publicKey
    verifySignedJson(splitSignedJson(EMR.tcbInfo, 'tcbInfo', 'tcbInfo'), key, 'tcbInfo')
    verifySignedJson(splitSignedJson(EMR.qeIdentity, 'enclaveIdentity', 'qe'), key, 'qe')
    const text = Buffer.from(EMR.tcbInfo).toString().replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18')
    expect(() => verifySignedJson(splitSignedJson(new Uint8Array(Buffer.from(text)), 'tcbInfo', 'tcbInfo'), key, 'tcbInfo')).toThrow(
      expect.objectContaining({ code: 'signature-invalid' }),
    )
    const t = decodeTcbInfo(splitSignedJson(EMR.tcbInfo, 'tcbInfo', 'tcbInfo').body)
    expect(t).toMatchObject({ fmspc: '00a06d080000', pceId: '0000', tcbEvaluationDataNumber: 17 })
    expect(t.issueDate.toISOString()).toBe('2025-10-27T13:07:17.000Z')
    expect(decodeQeIdentity(splitSignedJson(EMR.qeIdentity, 'enclaveIdentity', 'qe').body).tcbLevels).toEqual([
      { isvSvn: 4, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate', advisoryIds: [] },
    ])
  })
})

describe('go-tdx-guest v4 SPR quote with 2023 collateral and CRLs', () => {
  const collateral = {
    tcbInfo: vector('go-tdx-guest-v4-spr/sample_tcbInfo_response'),
    qeIdentity: vector('go-tdx-guest-v4-spr/sample_qeIdentity_response'),
    tcbSigningChain: SIGNING_PEM,
    pckCrl: vector('go-tdx-guest-v4-spr/pckcrl'),
    rootCaCrl: vector('go-tdx-guest-v4-spr/rootcrl.der'),
  }
  const AT = new Date('2023-07-01T01:00:00Z')

  test('the 39 bytes of test text go-tdx-guest appended are not zero padding: evidence-malformed', async () => {
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote: SPR_RAW, collateral, now: AT }))).toBe('evidence-malformed')
  })

  test('PCK extensions per go-tdx-guest TestPckCertificateExtensions', () => {
    const pck = readPckExtensions(parseCertificate(parseQuote(SPR).pckChain[0]!))
    expect(toHex(pck.ppid)).toBe('089ddfdb9c0359c82a3bc7719239574e')
    expect(toHex(pck.fmspc)).toBe('50806f000000')
    expect(toHex(pck.pceId)).toBe('0000')
    expect(pck.pceSvn).toBe(11)
    expect(toHex(pck.cpuSvn)).toBe('03030202020100020000000000000000')
  })

  test('at 2023-07-01 every signature, the chain, both CRLs and the collateral verify, but no TCB level matches: tcb-below-minimum', async () => {
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote: SPR, collateral, now: AT, options: { requireCrls: true } }))).toBe('tcb-below-minimum')
    const q = parseQuote(SPR)
    expect(toHex(q.body.mrTd)).toBe('6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb')
    expect(q.body.tdAttributes).toBe(0x40000000n) // bytes 00 00 00 40 …: PKS (bit 30)
  })

  test('the CRLs verify against the Intel CAs (44 revoked PCKs, none of ours)', async () => {
    const chain = parseQuote(SPR).pckChain.map((d) => parseCertificate(d))
    const pckCrl = await verifyIntelCrl(collateral.pckCrl, chain[1]!, 'pck crl')
    expect(pckCrl.revokedSerials.size).toBe(44)
    expect(pckCrl.revokedSerials.has('6fc34e5023e728923435d61aa4b83c618166ad35')).toBe(true)
    expect((await verifyIntelCrl(collateral.rootCaCrl, chain[2]!, 'root crl')).revokedSerials.size).toBe(0)
    // Swapped: the PCK CRL is not the root's.
    expect(await asyncCodeOf(() => verifyIntelCrl(collateral.pckCrl, chain[2]!, 'x'))).toBe('chain-untrusted')
  })

  test('at 2053 the PCK certificate has expired (go-tdx-guest TestNegativeVerifyPckChainWithoutRevocation)', async () => {
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote: SPR, collateral, now: new Date('2053-07-01T00:00:00Z') }))).toBe('chain-untrusted')
  })

  test('single-byte mutations of go-tdx-guest TestNegativeVerification all fail', async () => {
    for (const at of [0x00, 0x278, 0x1343, 0x1329, 0xf5f, 0xb77, 0x1e, 0x3c]) {
      const b = SPR.slice()
      b[at] = at === 0 ? 3 : (b[at] ?? 0) ^ 0x5a
      const code = await asyncCodeOf(() => verifyTdxEvidence({ quote: b, collateral, now: AT }))
      expect(['evidence-malformed', 'evidence-unsupported', 'signature-invalid', 'chain-untrusted'], `byte 0x${at.toString(16)} gave ${code}`).toContain(code)
    }
  })
})

describe('go-tdx-guest v5 quote (TDX 1.5 body) with its 2026 tcbInfo', () => {
  const tcbInfo = vector('go-tdx-guest-v5-tdx15/sample_tcbinfo_response_v5')
  const AT = new Date('2026-02-03T01:00:00Z')

  test('field values from MANIFEST', () => {
    const q = parseQuote(V5)
    expect(q.version).toBe(5)
    expect(q.tdxVersion).toBe('1.5')
    expect(toHex(q.body.teeTcbSvn)).toBe('0b010400000000000000000000000000')
    expect(toHex(q.body.teeTcbSvn2!)).toBe('0d010400000000000000000000000000')
    expect(toHex(q.body.mrServiceTd!)).toBe('00'.repeat(48))
    expect(toHex(q.body.mrTd)).toBe('7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f750c3bc8f876')
    expect(toHex(q.body.reportData)).toBe('945eaacf5abc1f719d8666a942fda03d1edcb4490277396093dc5a5289ab9f1e094aed63060cd4a4933a4dd537ed1255c9c79ecb3ed82cd1b486233e31c25c3a')
    expect(q.qeReport.isvSvn).toBe(7)
  })

  test('quote and PCK chain verify at 2026-02-03; no current QE identity is bundled, so verification needs one', async () => {
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote: V5, collateral: { tcbInfo, tcbSigningChain: SIGNING_PEM }, now: AT, options: { pinnedTcbSigningKeys: [SIGNING_KEY_PIN] } }))).toBe(
      'collateral-missing',
    )
    // With the only (2023, stale) TD QE identity of the set, the verifier says so.
    const stale = vector('go-tdx-guest-v4-spr/sample_qeIdentity_response')
    expect(
      await asyncCodeOf(() =>
        verifyTdxEvidence({ quote: V5, collateral: { tcbInfo, qeIdentity: stale, tcbSigningChain: SIGNING_PEM }, now: AT, options: { pinnedTcbSigningKeys: [SIGNING_KEY_PIN] } }),
      ),
    ).toBe('collateral-missing')
  })

  test('Intel\'s TCB evaluation gives UpToDate (level 2024-11-13; TDX_01 module ISVSVN 11 ≥ 6)', () => {
    const q = parseQuote(V5)
    const pck = readPckExtensions(parseCertificate(q.pckChain[0]!))
    expect(toHex(pck.fmspc)).toBe('90c06f000000')
    expect(pck.pceSvn).toBe(13)
    const t = decodeTcbInfo(splitSignedJson(tcbInfo, 'tcbInfo', 'tcbInfo').body)
    const qe = decodeQeIdentity(splitSignedJson(vector('go-tdx-guest-v4-spr/sample_qeIdentity_response'), 'enclaveIdentity', 'qe').body)
    expect(evaluateTdxTcb(t, qe, pck, q)).toMatchObject({ status: 'UpToDate', tdxModuleIdentity: 'TDX_01', tdxModuleStatus: 'UpToDate', tcbDate: '2024-11-13T00:00:00Z', advisoryIds: [] })
  })
})
