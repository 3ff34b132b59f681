/**
 * The `cosmian` evidence type on the real Cosmian vectors: the five SEV quotes of tee-tools 1.6.2
 * in the agent's own formats, the RA-TLS certificate of tee-tools 2.x, the raw TDX quote, and the
 * four real IMA lists. Cosmian publishes no TPM quote that matches an IMA list, so the IMA tests
 * sign a synthetic TPM quote (test AK, registered) over the PCR 10 value the vectors' README
 * states for each list: the replay through the `cosmian` type must reach that value.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { COSMIAN_BINDING, cosmianAgentReportData, cosmianRatlsReportData, certificateKeyPoint, createCosmianVerifier, parseCosmianTeeQuote, ratlsQuoteOf } from '../../../src/evidence/cosmian/index.js'
import { bindingInput } from '../../../src/evidence/binding.js'
import { decodeCertificateText } from '../../../src/evidence/tpm/certificates.js'
import { NO_COLLATERAL, type Claims, type CollateralLookup } from '../../../src/evidence/types.js'
import { asyncCodeOf } from '../../support/error-code.js'
import { b64NoPad, byteArray, registeredAks, testAk, tpmQuoteJson } from '../../generators/cosmian.js'

const vec = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../vectors/${path}`, import.meta.url)))
const sev = (name: string): Uint8Array => vec(`snp/cosmian-tee-tools/${name}`)
const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))
const TODAY = new Date('2026-11-23T00:00:00Z')
const verifier = createCosmianVerifier({ snp: { maxVmpl: 1 } })

async function verify(evidence: unknown, now = TODAY, collateral: CollateralLookup = NO_COLLATERAL): Promise<Claims> {
  return verifier.verify(verifier.schema.parse(evidence), { now, collateral })
}

describe('TEE quote forms', () => {
  test.each([
    ['report-ark-ask-vcek.bin', 'bincode-v1', 3],
    ['report-vlek-aws.bin', 'bincode-v1', 1],
    ['report-vlek.bin', 'bincode-v1-legacy-enum', 1],
    ['report-no-cert.bin', 'bare', 0],
    ['az_sev_report_with_chain.bin', 'azure-pem', 3],
  ])('%s parses as %s with %i certificates', (file, layout, count) => {
    const q = parseCosmianTeeQuote(sev(file))
    expect(q.kind).toBe('snp')
    if (q.kind !== 'snp') return
    expect(q.layout).toBe(layout)
    expect(q.report.byteLength).toBe(1184)
    const n = q.certs === undefined ? 0 : q.certs.form === 'list' ? q.certs.certificates.length : q.certs.entries.length
    expect(n).toBe(count)
  })

  test('the RA-TLS certificate carries a tee-tools 2.x quote (GUID-tagged ARK, VCEK, ASK)', () => {
    const der = decodeCertificateText(readFileSync(new URL('../../vectors/cosmian/sev-cert.ratls.pem', import.meta.url), 'latin1'), 'pem')[0]!
    const q = parseCosmianTeeQuote(ratlsQuoteOf(der)!)
    expect(q.kind === 'snp' && q.layout).toBe('tee-tools-v2')
    expect(q.kind === 'snp' && q.certs?.form === 'table' && q.certs.entries.map((e) => e.guid)).toEqual([
      'c0b406a4-a803-4952-9743-3fb6014cd0ae',
      '63da758d-e664-4564-adc5-f4b93be8accd',
      '4ab7b379-bbac-4fe4-a02f-05aef327c782',
    ])
  })

  test('the raw TDX quote parses as the tdx form; its TCB needs PCS collateral (not bundled)', async () => {
    const quote = vec('cosmian/tdx-quote.dat')
    expect(parseCosmianTeeQuote(quote).kind).toBe('tdx')
    expect(await asyncCodeOf(() => verify({ type: 'cosmian', teeQuote: b64NoPad(quote) }))).toBe('collateral-missing')
  })

  test('JSON byte array and base64 without padding give the same claims', async () => {
    const q = sev('report-ark-ask-vcek.bin')
    const a = await verify({ type: 'cosmian', teeQuote: byteArray(q) })
    const b = await verify({ type: 'cosmian', teeQuote: b64NoPad(q) })
    expect(a).toEqual(b)
    expect(a.raw['quoteLayout']).toBe('bincode-v1')
  })

  test('a byte value above 255 is refused by the schema; trailing garbage after certificates is evidence-malformed', async () => {
    expect(verifier.schema.safeParse({ type: 'cosmian', teeQuote: [1, 256] }).success).toBe(false)
    const q = sev('report-ark-ask-vcek.bin')
    expect(await asyncCodeOf(() => verify({ type: 'cosmian', teeQuote: b64NoPad(new Uint8Array([...q, 1])) }))).toBe('evidence-malformed')
    expect(await asyncCodeOf(() => verify({ type: 'cosmian', teeQuote: b64NoPad(q.subarray(0, 1000)) }))).toBe('evidence-malformed')
  })
})

describe('the five real SEV quotes verify (chain, signature, policy)', () => {
  test.each([
    ['report-ark-ask-vcek.bin', TODAY, '41a95b6fbe794f1d3bb919934adc5e44583b57e4a5c3f489ffe775ecb8e23d3947001e886277751ba06ae793c2c8904d'],
    ['report-vlek-aws.bin', new Date('2025-06-01T00:00:00Z'), undefined],
    ['report-vlek.bin', new Date('2024-01-01T00:00:00Z'), undefined],
    ['az_sev_report_with_chain.bin', TODAY, '440646682b40e0aea370884d874e4504f7dc94867d6fae0b9b6d95c3818431ff37e2e3041784edf060a3ee5f33c4c163'],
  ])('%s', async (file, now, measurement) => {
    const claims = await verify({ type: 'cosmian', teeQuote: b64NoPad(sev(file)) }, now)
    expect(claims.evidenceType).toBe('cosmian')
    expect(claims.platform).toBe('amd-sev-snp')
    if (measurement !== undefined) expect(claims.measurement).toBe(measurement)
  })

  test('report-no-cert: collateral-missing alone; verifies with the chip VCEK from collateral', async () => {
    const bare = sev('report-no-cert.bin')
    expect(await asyncCodeOf(() => verify({ type: 'cosmian', teeQuote: b64NoPad(bare) }))).toBe('collateral-missing')
    const q = parseCosmianTeeQuote(sev('report-ark-ask-vcek.bin'))
    const vcek = q.kind === 'snp' && q.certs?.form === 'list' ? q.certs.certificates[2]! : new Uint8Array()
    const collateral: CollateralLookup = { get: async (kind) => (kind === 'snp-vcek' ? vcek : undefined) }
    const v = createCosmianVerifier({ snp: { maxVmpl: 1, product: 'Milan' } })
    const claims = await v.verify(v.schema.parse({ type: 'cosmian', teeQuote: b64NoPad(bare) }), { now: TODAY, collateral })
    expect(claims.measurement).toBe('41a95b6fbe794f1d3bb919934adc5e44583b57e4a5c3f489ffe775ecb8e23d3947001e886277751ba06ae793c2c8904d')
  })

  test('report-vlek (old bincode) is refused today: its VLEK expired in 2024', async () => {
    expect(await asyncCodeOf(() => verify({ type: 'cosmian', teeQuote: b64NoPad(sev('report-vlek.bin')) }))).toBe('chain-untrusted')
  })

  test('VMPL 1 quotes are refused with the default snp options (maxVmpl 0)', async () => {
    const strict = createCosmianVerifier()
    const e = strict.schema.parse({ type: 'cosmian', teeQuote: b64NoPad(sev('report-ark-ask-vcek.bin')) })
    expect(await asyncCodeOf(() => strict.verify(e, { now: TODAY, collateral: NO_COLLATERAL }))).toBe('policy-violation')
  })
})

describe('binding profile', () => {
  const pem = readFileSync(new URL('../../vectors/cosmian/sev-cert.ratls.pem', import.meta.url), 'latin1')
  const ratlsDer = decodeCertificateText(pem, 'pem')[0]!

  test('the real RA-TLS quote: report data = SHA-256(key point) ‖ extra data (zeros), verified today', async () => {
    const claims = await verify({ type: 'cosmian', teeQuote: b64NoPad(ratlsQuoteOf(ratlsDer)!), agentCertificate: pem })
    expect(claims.measurement).toBe('12068361369cf9179bb6ac08572b7e15ed0bc8abb698cb04d4f584f7ff512a4c2081c1f5b105351dbd45c035a7d6a3a5')
    expect(claims.reportData).toEqual(cosmianRatlsReportData(certificateKeyPoint(ratlsDer)!, new Uint8Array(32)))
    // Its extra data is zero: it binds no keybroker nonce, and the agent rule does not hold either.
    const B = new Uint8Array(64).fill(7)
    expect(COSMIAN_BINDING.check(claims, bindingInput(B)).ok).toBe(false)
  })

  const claimsWith = (teeReportData: Uint8Array, extra: Record<string, Uint8Array> = {}): Claims => ({
    evidenceType: 'cosmian',
    platform: 'amd-sev-snp',
    hardwareBacked: true,
    measurement: '00',
    measurements: {},
    reportData: teeReportData,
    debug: false,
    tcb: {},
    raw: {},
    binding: { teeReportData, ...extra },
  })
  const B = new Uint8Array(64).map((_, i) => i + 1)
  const N = B.subarray(0, 32)
  const cert = ratlsDer
  const other = hex('3082')

  test('agent rule: nonce ‖ SHA-256(cert DER), cert from the connection or from the evidence', () => {
    const rd = cosmianAgentReportData(N, cert)
    expect(COSMIAN_BINDING.check(claimsWith(rd), bindingInput(B, { agentCertificate: cert }))).toEqual({ ok: true, rule: 'cosmian-agent' })
    expect(COSMIAN_BINDING.check(claimsWith(rd, { agentCertificate: cert }), bindingInput(B))).toEqual({ ok: true, rule: 'cosmian-agent' })
    expect(COSMIAN_BINDING.check(claimsWith(rd, { extraData: N.slice() }), bindingInput(B, { agentCertificate: cert })).ok).toBe(true)
  })

  test('README vectors: the binding vector B and the RA-TLS certificate of the vectors', () => {
    const vectorB = hex('a1cdbb3467687a86e5e94b81e531e547e41881dbac14863ec331e92c1b8f3a75ac755b62660ad8ab3294d76fecea5e5089cc4f04fc4c4dff3bc3ccee2785ed35')
    const n = vectorB.subarray(0, 32)
    expect(Buffer.from(cosmianAgentReportData(n, cert)).toString('hex')).toBe('a1cdbb3467687a86e5e94b81e531e547e41881dbac14863ec331e92c1b8f3a75498ba23677c36d7dd68b9f722ac93b8c2b331c20a19aabb5f58bda0cda0cca98')
    expect(Buffer.from(cosmianRatlsReportData(certificateKeyPoint(cert)!, n)).toString('hex')).toBe('9aa36080b247a50c53fa60134eb2d9d0b55eacb7c491ab9bf9460c690f5a3368a1cdbb3467687a86e5e94b81e531e547e41881dbac14863ec331e92c1b8f3a75')
  })

  test('RA-TLS rule: SHA-256(cert key point) ‖ nonce', () => {
    const rd = cosmianRatlsReportData(certificateKeyPoint(cert)!, N)
    expect(COSMIAN_BINDING.check(claimsWith(rd, { agentCertificate: cert }), bindingInput(B))).toEqual({ ok: true, rule: 'cosmian-ratls' })
  })

  test('refusals: another nonce, no certificate, a certificate swapped, a TPM extraData of another nonce', () => {
    const rd = cosmianAgentReportData(N, cert)
    const otherB = new Uint8Array(64).fill(9)
    expect(COSMIAN_BINDING.check(claimsWith(rd), bindingInput(otherB, { agentCertificate: cert })).ok).toBe(false)
    expect(COSMIAN_BINDING.check(claimsWith(rd), bindingInput(B)).ok).toBe(false)
    expect(COSMIAN_BINDING.check(claimsWith(rd, { agentCertificate: cert }), bindingInput(B, { agentCertificate: other })).ok).toBe(false)
    expect(COSMIAN_BINDING.check(claimsWith(cosmianAgentReportData(N, other)), bindingInput(B, { agentCertificate: cert })).ok).toBe(false)
    expect(COSMIAN_BINDING.check(claimsWith(rd, { extraData: new Uint8Array(32) }), bindingInput(B, { agentCertificate: cert })).ok).toBe(false)
  })
})

describe('IMA lists through the cosmian type (synthetic TPM quote over the README PCR 10 values)', () => {
  const ak = testAk()
  const aks = registeredAks(ak)
  const nonce = new Uint8Array(32).fill(0x42)
  const tee = b64NoPad(sev('report-ark-ask-vcek.bin'))
  const ima = (name: string): Uint8Array => vec(`tpm/cosmian/ima/${name}`)

  test.each([
    ['ima.bin', 'sha256', '2b053a7a06a3dc701f610394cb6bd38f5feb2ab3eaf2e08c5420c3e0fb8e5ec7'],
    ['ima.bin', 'sha1', 'd3a3689b986b31283f022ba100e25b2a3270c0da'],
    ['ima-sig.bin', 'sha256', 'a7e679eb591decf3aa5c14ee322554417b4ecea780d87afd41aaa27fb8ca23ba'],
    ['ima-sig2.bin', 'sha256', '1ae45e0fc3f1f63f11276f23bf94e38d26785d366a8efd799e5d37bb7effbd9d'],
    ['ima_with_000000.bin', 'sha256', 'c7021e286ff291fc28affca8b97a7d0e06ea8ec192646c5f42d463f6ce394e9e'],
  ] as const)('%s replays to the quoted %s PCR 10', async (file, bank, pcr10) => {
    const claims = await verify(
      { type: 'cosmian', teeQuote: tee, tpmQuote: tpmQuoteJson(ak, { bank, pcrValue: hex(pcr10), nonce }), imaBinary: byteArray(ima(file)) },
      TODAY,
      aks,
    )
    expect((claims.raw['pcrs'] as Record<string, Record<string, string>>)[bank]!['10']).toBe(pcr10)
    expect(claims.teeTpmTie).toBe('registered-ak')
    expect(claims.raw['ak']).toMatchObject({ id: ak.id, trust: 'registered' })
    expect(claims.binding?.['extraData']).toEqual(nonce)
  })

  test('a quote of another PCR 10 value: event-log-mismatch', async () => {
    const e = { type: 'cosmian', teeQuote: tee, tpmQuote: tpmQuoteJson(ak, { pcrValue: new Uint8Array(32).fill(1), nonce }), imaBinary: b64NoPad(ima('ima.bin')) }
    expect(await asyncCodeOf(() => verify(e, TODAY, aks))).toBe('event-log-mismatch')
  })

  test('an AK that is neither registered nor certified is refused (chain-untrusted), unlike upstream', async () => {
    const e = { type: 'cosmian', teeQuote: tee, tpmQuote: tpmQuoteJson(ak, { pcrValue: hex('2b053a7a06a3dc701f610394cb6bd38f5feb2ab3eaf2e08c5420c3e0fb8e5ec7'), nonce }), imaBinary: b64NoPad(ima('ima.bin')) }
    expect(await asyncCodeOf(() => verify(e, TODAY, NO_COLLATERAL))).toBe('chain-untrusted')
    expect(await asyncCodeOf(() => verify(e, TODAY, registeredAks(testAk())))).toBe('chain-untrusted')
  })

  test('the real tee-tools TPM quote: (SHA-1 bank) its AK signature verifies, and ima.bin (another machine) does not replay to it', async () => {
    const akPub = vec('tpm/cosmian/ak.pub')
    const { akIdOf } = await import('../../../src/evidence/tpm/public.js')
    const { decodeAkPublicBytes } = await import('../../../src/evidence/tpm/ak-key.js')
    const id = akIdOf(decodeAkPublicBytes(akPub).publicKey)
    const registered: CollateralLookup = { get: async (kind, key) => (kind === 'tpm-ak' && key === id ? new Uint8Array(Buffer.from('{"source":"registered","name":"tee-tools"}')) : undefined) }
    const tpmQuote = { pcr_value_hash_method: 'Sha1', quote: b64NoPad(vec('tpm/cosmian/pcr_quote.plain')), signature: b64NoPad(vec('tpm/cosmian/pcr_quote.sig')), public_key: b64NoPad(akPub) }
    expect(await asyncCodeOf(() => verify({ type: 'cosmian', teeQuote: tee, tpmQuote, imaBinary: b64NoPad(ima('ima.bin')) }, TODAY, registered))).toBe('event-log-mismatch')
    // A flipped signature bit is caught before any replay.
    const sig = vec('tpm/cosmian/pcr_quote.sig')
    sig[10]! ^= 1
    expect(await asyncCodeOf(() => verify({ type: 'cosmian', teeQuote: tee, tpmQuote: { ...tpmQuote, signature: b64NoPad(sig) }, imaBinary: b64NoPad(ima('ima.bin')) }, TODAY, registered))).toBe('signature-invalid')
  })

  test('tpmQuote without imaBinary (or the reverse) is evidence-malformed; a bank other than the method names too', async () => {
    const tpmQuote = tpmQuoteJson(ak, { pcrValue: new Uint8Array(32), nonce })
    expect(await asyncCodeOf(() => verify({ type: 'cosmian', teeQuote: tee, tpmQuote }, TODAY, aks))).toBe('evidence-malformed')
    expect(await asyncCodeOf(() => verify({ type: 'cosmian', teeQuote: tee, imaBinary: b64NoPad(ima('ima.bin')) }, TODAY, aks))).toBe('evidence-malformed')
    expect(await asyncCodeOf(() => verify({ type: 'cosmian', teeQuote: tee, tpmQuote: { ...tpmQuote, pcr_value_hash_method: 'Sha1' }, imaBinary: b64NoPad(ima('ima.bin')) }, TODAY, aks))).toBe('evidence-malformed')
  })
})
