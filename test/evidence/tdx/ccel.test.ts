/** TD event logs (CCEL): real logs replay to MANIFEST's RTMRs; a quote carrying those RTMRs verifies with its log. */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { beforeAll, describe, expect, test } from 'vitest'
import { toHex } from '../../../src/evidence/reader.js'
import { parseTcgEventLog, replayTcgEventLog, TPM_ALG } from '../../../src/evidence/tcg-event-log/index.js'
import { parseQuote, replayTdEventLog, verifyTdxEvidence } from '../../../src/evidence/tdx/index.js'
import { asyncCodeOf, codeOf } from '../../support/error-code.js'
import { createTdxPki, defaultCollateral, GEN_NOW, makeQuote, quoteFields, type TdxPki } from '../../generators/tdx.js'

const log = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../vectors/eventlog/trustee/${name}`, import.meta.url)))
const expected = (name: string): { index: number; type_name: string; digests: { alg: string; digest: string }[]; event: string }[] =>
  JSON.parse(readFileSync(new URL(`../../vectors/eventlog/trustee/${name}_out.json`, import.meta.url), 'utf8')).uefi_event_logs
const Z = '00'.repeat(48)

/** MANIFEST "eventlog/": RTMR0-3 (SHA-384) of each log. */
const RTMRS: Record<string, [string, string, string, string]> = {
  CCEL_data: [
    '2dc712306a963eadb894ad47dbaa17df44814151555aee11cbb843becca88950ffd079664902e6f22c66f7c8213543f4',
    '0fa3be56af61208bbd179dc7b124988eb929319154663c539d6f46445ecac2fec287075047ff7bd1922829fec28cd3cf',
    Z,
    Z,
  ],
  CCEL_data_ovmf: [
    '8566f998798db09443b244c62de9a3041fb02e2e6936c4396d784bba2e90177329ec5aba3bb484404f2ab9cc90abe193',
    '775b9f6bfe99f8a31396f0d0218e67ffa796d3b96ccf961cbb0deba48c79c00f082cda1a5567c1c16305f1fc210c13c6',
    '94eaf7a7bf398ed8d888c91057ae0261802e4f3df084213a76ca7f0b5055ac9d2241de43cd58d9e8b49c503bbf25f34a',
    Z,
  ],
  CCEL_data_grub: [
    'cec0a104f691f60da2387fea3c2de00c4ac035e2bb479ff02edcce69039d9e9907f0b3e55031da3dc7038f423adebd79',
    '6c289e0c62182d41ebe97bdbc9872d10998a08eaa86adcdc684001a363207ee72942c7522cdf00a4bbc3d784bed7b670',
    '08919d017ba0e52cd6d966351c7de16fe76c1d3d3d3da4554239e4c7d16cb8b82a94e7eaea3a0e6e18eb690b999fd31e',
    Z,
  ],
  CCEL_data_gcp: [
    '3300980705adf09d28b707b79699d9874892164280832be2c386a715b6e204e0897fb564a064f810659207ba862b304f',
    '204d49f78d29918fe7b2f694e76653861a0c2a018987d2c3a54266eff737232524cf0af68c4d180e2f8c2c0937f21967',
    Z,
    Z,
  ],
  CCEL_AAEL_alibabacloud: [
    'b796e1c11396c198ae88794def4cb8e24fa9b35468287c298087f00d4de7433e4e31a297a4e5a03d4300fa6f3a96d47c',
    '3b0b906140fcea689c8774ac1eafcf0fef8e22ba81a047fd750ebd7df3235c2704df6106a758e31e5645e9838ff37406',
    '35f2801338c1b5fce96518f058c37e0fe9ed247a12dcd5f50d9c18fe4b6c71311bb63fca2640c7915817b6aa412a8480',
    '5e4ecd49d3c7983d6f9ca36755b5cee0b423d7fa8c5a88aeb0681bd4698772bc37b4463dc5f722efe352a66417257dad',
  ],
}
/** Events per MR index (MANIFEST table, header excluded). */
const COUNTS: Record<string, Record<number, number>> = {
  CCEL_data: { 1: 2, 2: 3 },
  CCEL_data_ovmf: { 1: 14, 2: 4, 3: 2 },
  CCEL_data_grub: { 1: 20, 2: 9, 3: 8 },
  CCEL_data_gcp: { 1: 14, 2: 7 },
  CCEL_AAEL_alibabacloud: { 1: 13, 2: 14, 3: 58, 4: 2 },
  CCEL_data_csv: { 1: 17, 2: 9, 3: 56 },
}
const rtmrBytes = (hex: readonly string[]): [Uint8Array, Uint8Array, Uint8Array, Uint8Array] =>
  hex.map((h) => new Uint8Array(Buffer.from(h, 'hex'))) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array]

let pki: TdxPki
beforeAll(async () => {
  pki = await createTdxPki()
})

describe('real CCELs (trustee deps/eventlog test data)', () => {
  test.each(Object.keys(RTMRS))('%s replays to the MANIFEST RTMRs (zero or 0xFF fill after the last event skipped)', (name) => {
    const bytes = log(name)
    const parsed = parseTcgEventLog(bytes)
    expect(parsed.format).toBe('crypto-agile')
    const counts: Record<number, number> = {}
    for (const e of parsed.events.slice(1)) counts[e.pcrIndex] = (counts[e.pcrIndex] ?? 0) + 1
    expect(counts).toEqual(COUNTS[name])
    const body = parseQuote(makeQuote(pki, quoteFields({ body: { rtmr: rtmrBytes(RTMRS[name]!) } }))).body
    const replayed = replayTdEventLog(bytes, body)
    expect(replayed.events.length).toBe(Object.values(COUNTS[name]!).reduce((a, b) => a + b, 0))
  })

  test.each(['CCEL_data', 'CCEL_data_ovmf', 'CCEL_data_grub', 'CCEL_AAEL_alibabacloud', 'CCEL_data_csv'])('%s: every event as trustee parses it (index, type, digest, data)', (name) => {
    const parsed = parseTcgEventLog(log(name))
    const ours = parsed.events.slice(1).map((e) => ({
      index: e.pcrIndex,
      digests: e.digests.map((d) => toHex(d.digest)),
      event: Buffer.from(e.data).toString('base64'),
    }))
    const theirs = expected(name).map((e) => ({ index: e.index, digests: e.digests.map((d) => d.digest.toLowerCase()), event: e.event }))
    expect(ours).toEqual(theirs)
  })

  test('the Hygon CSV log uses SM3 digests (TPM_ALG 0x0012): it parses, and replays in that bank only', () => {
    const parsed = parseTcgEventLog(log('CCEL_data_csv'))
    expect(parsed.specId?.algorithms).toEqual([{ algorithmId: TPM_ALG.sm3_256, digestSize: 32 }])
    expect(codeOf(() => replayTcgEventLog(parsed, TPM_ALG.sha384))).toBe('evidence-malformed')
    // Not a TDX log: no SHA-384 bank.
    const body = parseQuote(makeQuote(pki)).body
    expect(codeOf(() => replayTdEventLog(log('CCEL_data_csv'), body))).toBe('evidence-malformed')
  })

  test('a replay that misses one RTMR is event-log-mismatch (trustee test_rtmr_integrity_error: RTMR0 …304d vs …304f)', () => {
    const wrong = [...RTMRS['CCEL_data_gcp']!]
    wrong[0] = wrong[0]!.slice(0, -2) + '4d'
    expect(codeOf(() => replayTdEventLog(log('CCEL_data_gcp'), parseQuote(makeQuote(pki, quoteFields({ body: { rtmr: rtmrBytes(wrong) } }))).body))).toBe(
      'event-log-mismatch',
    )
    const rtmr1 = [...RTMRS['CCEL_data']!]
    rtmr1[1] = `2f${rtmr1[1]!.slice(2)}`
    expect(codeOf(() => replayTdEventLog(log('CCEL_data'), parseQuote(makeQuote(pki, quoteFields({ body: { rtmr: rtmrBytes(rtmr1) } }))).body))).toBe(
      'event-log-mismatch',
    )
  })

  test('trustee pairs CCEL_data with tdx_quote_4, but it is from another boot: event-log-mismatch', async () => {
    const quote = new Uint8Array(readFileSync(new URL('../../vectors/tdx/trustee-v4-debug-td/tdx_quote_4.dat', import.meta.url)))
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote, eventLog: log('CCEL_data'), now: new Date('2026-11-23T00:00:00Z'), options: { allowDebug: true } }))).toBe(
      'event-log-mismatch',
    )
  })
})

describe('a quote with a real log', () => {
  test('verifies end to end and exposes the replayed events as claims', async () => {
    const rtmr = rtmrBytes(RTMRS['CCEL_data_grub']!)
    const quote = makeQuote(pki, quoteFields({ body: { rtmr } }))
    const grub = log('CCEL_data_grub')
    // Clients may cut the fill: only the used part is sent.
    const used = grub.subarray(0, parseTcgEventLog(grub).length)
    const claims = await verifyTdxEvidence({ quote, eventLog: used, collateral: defaultCollateral(pki), now: GEN_NOW, options: { extraPinnedRoots: [pki.rootSpkiSha256] } })
    const events = claims.raw['eventLog'] as { rtmr: number; eventTypeName: string; digest: string; data?: string; dataSize: number }[]
    expect(events).toHaveLength(37)
    expect(events.filter((e) => e.rtmr === 0)).toHaveLength(20)
    const theirs = expected('CCEL_data_grub')
    expect(events.map((e) => e.digest)).toEqual(theirs.map((e) => e.digests[0]!.digest.toLowerCase()))
    expect(events.map((e) => e.eventTypeName)).toEqual(theirs.map((e) => e.type_name))
    expect(events.every((e) => (e.data === undefined) === e.dataSize > 1024)).toBe(true)
    expect(claims.measurements['rtmr2']).toBe(RTMRS['CCEL_data_grub']![2])
  })

  test('an event log with an extension of MRTD (index 0) or beyond RTMR3 is evidence-malformed', () => {
    const header = log('CCEL_data').subarray(0, 4 + 4 + 20 + 4 + 0x28)
    const event = (index: number): Uint8Array => {
      const e = Buffer.alloc(4 + 4 + 4 + 2 + 48 + 4)
      e.writeUInt32LE(index, 0)
      e.writeUInt32LE(4, 4) // EV_SEPARATOR
      e.writeUInt32LE(1, 8)
      e.writeUInt16LE(TPM_ALG.sha384, 12)
      return new Uint8Array(e)
    }
    const body = parseQuote(makeQuote(pki)).body
    for (const index of [0, 5]) {
      expect(codeOf(() => replayTdEventLog(new Uint8Array([...header, ...event(index)]), body)), `index ${index}`).toBe('evidence-malformed')
    }
  })

  test('property: arbitrary bytes as an event log give evidence-malformed or event-log-mismatch, never a crash', () => {
    const body = parseQuote(makeQuote(pki)).body
    const header = log('CCEL_data').subarray(0, 4 + 4 + 20 + 4 + 0x28)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), fc.boolean(), (bytes, withHeader) => {
        const input = withHeader ? new Uint8Array([...header, ...bytes]) : bytes
        expect(['evidence-malformed', 'event-log-mismatch']).toContain(codeOf(() => replayTdEventLog(input, body)))
      }),
      { numRuns: 2000 },
    )
  })

  test('property: truncating a real log inside an event is evidence-malformed', () => {
    const grub = log('CCEL_data_grub')
    const parsed = parseTcgEventLog(grub)
    const boundaries = new Set(parsed.events.map((e) => e.offset))
    boundaries.add(parsed.length)
    fc.assert(
      fc.property(fc.integer({ min: 1, max: parsed.length - 1 }), (cut) => {
        fc.pre(!boundaries.has(cut))
        expect(codeOf(() => parseTcgEventLog(grub.subarray(0, cut)))).toBe('evidence-malformed')
      }),
      { numRuns: 500 },
    )
  })
})
