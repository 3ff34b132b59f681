/** The TDX quote parser: layout tables, every structural defect one at a time, properties. */
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, test } from 'vitest'
import { parseQuote } from '../../../src/evidence/tdx/quote/parse.js'
import {
  HEADER,
  HEADER_SIZE,
  QE_REPORT,
  QE_REPORT_RESERVED,
  QE_REPORT_SIZE,
  TD_REPORT,
  TD_REPORT10_SIZE,
  TD_REPORT15_SIZE,
  V5_BODY_DESCRIPTOR_SIZE,
} from '../../../src/evidence/tdx/quote/layout.js'
import { decodePckExtensions } from '../../../src/evidence/tdx/quote/pck-extensions.js'
import { codeOf } from '../../support/error-code.js'
import { createTdxPki, encodePckExtension, makeQuote, pckExtensionFields, quoteFields, quoteOffsets, type TdxPki } from '../../generators/tdx.js'

let pki: TdxPki
beforeAll(async () => {
  pki = await createTdxPki()
})

const sortedFields = (layout: Readonly<Record<string, { at: number; size: number }>>) => Object.values(layout).sort((a, b) => a.at - b.at)

describe('layout tables', () => {
  test('header, TD report and QE report fields do not overlap and fill their structures', () => {
    for (const [layout, size] of [
      [HEADER, HEADER_SIZE],
      [TD_REPORT, TD_REPORT15_SIZE],
    ] as const) {
      const fields = sortedFields(layout)
      let end = 0
      for (const f of fields) {
        expect(f.at).toBe(end) // contiguous: these structures have no gaps
        end = f.at + f.size
      }
      expect(end).toBe(size)
    }
    expect(TD_REPORT.reportData.at + TD_REPORT.reportData.size).toBe(TD_REPORT10_SIZE)
    const qe = [...sortedFields(QE_REPORT), ...QE_REPORT_RESERVED.map(([from, to]) => ({ at: from, size: to - from }))].sort((a, b) => a.at - b.at)
    let end = 0
    for (const f of qe) {
      expect(f.at).toBe(end)
      end = f.at + f.size
    }
    expect(end).toBe(QE_REPORT_SIZE)
  })
})

describe('parseQuote', () => {
  test('v4 (TDX 1.0) and v5 (body types 2 and 3) decode every field the generator wrote', () => {
    for (const [version, bodyType] of [
      [4, 2],
      [5, 2],
      [5, 3],
    ] as const) {
      const f = quoteFields({ version, bodyType })
      const q = parseQuote(makeQuote(pki, f))
      expect(q.version).toBe(version)
      expect(q.tdxVersion).toBe(bodyType === 3 ? '1.5' : '1.0')
      expect(q.body.mrTd).toEqual(f.body.mrTd)
      expect(q.body.rtmr).toEqual(f.body.rtmr)
      expect(q.body.reportData).toEqual(f.body.reportData)
      expect(q.body.tdAttributes).toBe(f.body.tdAttributes)
      expect(q.body.xfam).toBe(f.body.xfam)
      expect(q.body.teeTcbSvn2).toEqual(bodyType === 3 ? f.body.teeTcbSvn2 : undefined)
      expect(q.body.mrServiceTd).toEqual(bodyType === 3 ? f.body.mrServiceTd : undefined)
      expect(q.userData).toEqual(f.userData)
      expect(q.attestationKey).toEqual(pki.attestationPublic)
      expect(q.qeReport.isvSvn).toBe(f.qe.isvSvn)
      expect(q.qeReport.isvProdId).toBe(f.qe.isvProdId)
      expect(q.qeReport.mrSigner).toEqual(f.qe.mrSigner)
      expect(q.qeAuthData).toEqual(f.qeAuthData)
      expect(q.pckChain.map((c) => Buffer.from(c).toString('hex'))).toEqual([pki.pck.der, pki.platformCa.der, pki.root.der].map((c) => Buffer.from(c).toString('hex')))
      expect(q.signedBytes.byteLength).toBe(quoteOffsets(f).signedEnd)
    }
  })

  test('kept fields are copies, not views of the input', () => {
    const b = makeQuote(pki)
    const q = parseQuote(b)
    b.fill(0xee)
    expect(q.body.mrTd[0]).toBe(0x7d)
    expect(q.signedBytes[0]).toBe(4)
  })

  test('zero padding after the signature data is tolerated; anything else there is evidence-malformed', () => {
    const padded = makeQuote(pki, quoteFields({ trailing: new Uint8Array(70) }))
    expect(parseQuote(padded).trailingZeroBytes).toBe(70)
    const junk = makeQuote(pki, quoteFields({ trailing: new Uint8Array(Buffer.from('extra bytes')) }))
    expect(codeOf(() => parseQuote(junk))).toBe('evidence-malformed')
    const oneBit = makeQuote(pki, quoteFields({ trailing: new Uint8Array([0, 0, 1]) }))
    expect(codeOf(() => parseQuote(oneBit))).toBe('evidence-malformed')
  })

  test('a PCK chain ending in NUL bytes (a C string) parses; other text around the PEM does not', () => {
    const chain = [pki.pck, pki.platformCa, pki.root].map((c) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(c.der).toString('base64')}\n-----END CERTIFICATE-----\n`).join('')
    expect(parseQuote(makeQuote(pki, quoteFields({ pckChain: `${chain}\0` }))).pckChain).toHaveLength(3)
    expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ pckChain: `${chain}junk` }))))).toBe('evidence-malformed')
    expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ pckChain: '' }))))).toBe('evidence-malformed')
  })

  test('unknown versions, key types, TEE types, body types and certification data types are evidence-unsupported', () => {
    for (const version of [0, 3, 6, 0xffff]) expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ version }))))).toBe('evidence-unsupported')
    for (const attestationKeyType of [0, 3]) expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ attestationKeyType }))))).toBe('evidence-unsupported')
    for (const teeType of [0, 0x80]) expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ teeType }))))).toBe('evidence-unsupported')
    for (const bodyType of [0, 1, 4]) {
      expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ version: 5, bodyType, bodySize: TD_REPORT10_SIZE }))))).toBe('evidence-unsupported')
    }
    expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ outerCertType: 5 }))))).toBe('evidence-unsupported')
    expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ innerCertType: 3 }))))).toBe('evidence-unsupported')
  })

  test('a v5 body size that does not fit its type is evidence-malformed', () => {
    expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ version: 5, bodyType: 3, bodySize: TD_REPORT10_SIZE }))))).toBe('evidence-malformed')
    expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ version: 5, bodyType: 2, bodySize: TD_REPORT15_SIZE }))))).toBe('evidence-malformed')
  })

  test('header reserved bytes and each QE report reserved range must be zero', () => {
    expect(codeOf(() => parseQuote(makeQuote(pki, quoteFields({ headerReserved: new Uint8Array([0, 0, 0, 1]) }))))).toBe('evidence-malformed')
    const f = quoteFields()
    const base = makeQuote(pki, f)
    for (const [from, to] of QE_REPORT_RESERVED) {
      for (const at of [from, to - 1]) {
        const b = base.slice()
        b[quoteOffsets(f).qeReport + at] = 1
        expect(codeOf(() => parseQuote(b)), `QE report byte ${at}`).toBe('evidence-malformed')
      }
    }
  })

  test('every declared length must equal what its contents consume', () => {
    const f = quoteFields()
    const base = makeQuote(pki, f)
    const { sigData } = quoteOffsets(f)
    const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)
    // signature data size one larger / smaller; outer certification data size one smaller.
    for (const [at, delta] of [
      [sigData - 4, 1],
      [sigData - 4, -1],
      [sigData + 130, -1],
      [sigData + 130, 1],
    ] as const) {
      const b = base.slice()
      view(b).setUint32(at, view(b).getUint32(at, true) + delta, true)
      expect(codeOf(() => parseQuote(b)), `u32 at ${at} ${delta > 0 ? '+' : ''}${delta}`).toBe('evidence-malformed')
    }
    // QE auth data size beyond the certification data.
    const b = base.slice()
    view(b).setUint16(quoteOffsets(f).qeReport + QE_REPORT_SIZE + 64, 0xffff, true)
    expect(codeOf(() => parseQuote(b))).toBe('evidence-malformed')
  })

  test('truncating a valid quote at any offset is evidence-malformed (length fields, not the file size, delimit it)', () => {
    const q = makeQuote(pki, quoteFields({ version: 5, bodyType: 3 }))
    for (let cut = 0; cut < q.byteLength; cut += cut < 1300 ? 1 : 7) {
      expect(codeOf(() => parseQuote(q.subarray(0, cut))), `cut at ${cut}`).toBe('evidence-malformed')
    }
  })

  test('property: arbitrary bytes give a quote, evidence-malformed or evidence-unsupported — never another error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6000 }), (bytes) => {
        expect(['no-error', 'evidence-malformed', 'evidence-unsupported']).toContain(codeOf(() => parseQuote(bytes)))
      }),
      { numRuns: 2000 },
    )
  })

  test('property: a valid header followed by arbitrary bytes never escapes as a foreign error', () => {
    const head = makeQuote(pki).subarray(0, HEADER_SIZE + TD_REPORT10_SIZE)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.constantFrom(4, 5), (tail, version) => {
        const b = new Uint8Array([...head, ...tail])
        b[0] = version
        expect(['no-error', 'evidence-malformed', 'evidence-unsupported']).toContain(codeOf(() => parseQuote(b)))
      }),
      { numRuns: 1500 },
    )
  })

  test('property: parse(generate(x)) gives back x for random bodies', () => {
    const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
    fc.assert(
      fc.property(bytes(48), bytes(64), bytes(48), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(4, 5), (mrTd, reportData, rtmr3, attrs, version) => {
        const f = quoteFields({ version, bodyType: 3, body: { mrTd, reportData, rtmr: [new Uint8Array(48), new Uint8Array(48), new Uint8Array(48), rtmr3], tdAttributes: attrs } })
        const q = parseQuote(makeQuote(pki, f))
        expect(q.body.mrTd).toEqual(mrTd)
        expect(q.body.reportData).toEqual(reportData)
        expect(q.body.rtmr[3]).toEqual(rtmr3)
        expect(q.body.tdAttributes).toBe(attrs)
      }),
      { numRuns: 50 },
    )
  })
})

/** The real quote v5 of go-tdx-guest (test/vectors/tdx/go-tdx-guest-v5-tdx15): body type 3, 648 bytes. */
const REAL_V5 = new Uint8Array(readFileSync(new URL('../../vectors/tdx/go-tdx-guest-v5-tdx15/quote_v5_sample.dat', import.meta.url)))
const TYPED = ['no-error', 'evidence-malformed', 'evidence-unsupported']

describe('parseQuote v5 (fuzz)', () => {
  test('truncating the real v5 quote at any offset is evidence-malformed', () => {
    for (let cut = 0; cut < REAL_V5.byteLength; cut++) {
      expect(codeOf(() => parseQuote(REAL_V5.subarray(0, cut))), `cut at ${cut}`).toBe('evidence-malformed')
    }
  })

  test('property: a v5 header with any body descriptor (type, size) and any tail gives only typed errors', () => {
    const header = REAL_V5.subarray(0, HEADER_SIZE)
    const bodyType = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4), fc.integer({ min: 0, max: 0xffff }))
    const bodySize = fc.oneof(fc.constantFrom(0, TD_REPORT10_SIZE, TD_REPORT15_SIZE, TD_REPORT15_SIZE + 1, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }))
    fc.assert(
      fc.property(bodyType, bodySize, fc.uint8Array({ maxLength: 6000 }), (type, size, tail) => {
        const b = new Uint8Array(HEADER_SIZE + V5_BODY_DESCRIPTOR_SIZE + tail.byteLength)
        b.set(header)
        const view = new DataView(b.buffer)
        view.setUint16(HEADER_SIZE, type, true)
        view.setUint32(HEADER_SIZE + 2, size, true)
        b.set(tail, HEADER_SIZE + V5_BODY_DESCRIPTOR_SIZE)
        expect(TYPED).toContain(codeOf(() => parseQuote(b)))
      }),
      { numRuns: 1500 },
    )
  })

  test('property: the real v5 quote with any run of bytes overwritten parses or gives only typed errors', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: REAL_V5.byteLength - 1 }), fc.uint8Array({ minLength: 1, maxLength: 16 }), (at, junk) => {
        const b = REAL_V5.slice()
        b.set(junk.subarray(0, b.byteLength - at), at)
        expect(TYPED).toContain(codeOf(() => parseQuote(b)))
      }),
      { numRuns: 2000 },
    )
  })

  test('property: any body type other than 2 and 3 with the real quote around it is evidence-unsupported; 2 and 3 need their own size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (type) => {
        const b = REAL_V5.slice()
        new DataView(b.buffer).setUint16(HEADER_SIZE, type, true)
        expect(codeOf(() => parseQuote(b))).toBe(type === 3 ? 'no-error' : type === 2 ? 'evidence-malformed' : 'evidence-unsupported')
      }),
      { numRuns: 500 },
    )
  })
})

describe('PCK SGX extension', () => {
  test('decodes what the generator encodes, with and without platform instance and configuration', () => {
    const f = pckExtensionFields({ sgxTcb: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 255], pceSvn: 300 })
    const e = decodePckExtensions(encodePckExtension(f))
    expect(e.sgxTcbComponents).toEqual(f.sgxTcb)
    expect(e.pceSvn).toBe(300)
    expect(e.fmspc).toEqual(f.fmspc)
    expect(e.sgxType).toBe('Scalable')
    expect(e.configuration).toEqual({ dynamicPlatform: true, cachedKeys: false, smtEnabled: true })
    const processor = decodePckExtensions(encodePckExtension(pckExtensionFields({ platformInstanceId: undefined, sgxType: 0 })))
    expect(processor.platformInstanceId).toBeUndefined()
    expect(processor.configuration).toBeUndefined()
    expect(processor.sgxType).toBe('Standard')
  })

  test('a wrong-size FMSPC, an unknown SGX type or a missing component is chain-untrusted', () => {
    expect(codeOf(() => decodePckExtensions(encodePckExtension(pckExtensionFields({ fmspc: new Uint8Array(5) }))))).toBe('chain-untrusted')
    expect(codeOf(() => decodePckExtensions(encodePckExtension(pckExtensionFields({ sgxType: 7 }))))).toBe('chain-untrusted')
    expect(codeOf(() => decodePckExtensions(encodePckExtension(pckExtensionFields({ sgxTcb: [1, 2, 3] }))))).toBe('chain-untrusted')
  })

  test('property: arbitrary extension bytes decode or are chain-untrusted', () => {
    const valid = encodePckExtension(pckExtensionFields())
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(valid.byteLength - 1), fc.integer({ min: 1, max: 255 }), (junk, at, xor) => {
        expect(['no-error', 'chain-untrusted']).toContain(codeOf(() => decodePckExtensions(junk)))
        const flipped = valid.slice()
        flipped[at] = (flipped[at] ?? 0) ^ xor
        expect(['no-error', 'chain-untrusted']).toContain(codeOf(() => decodePckExtensions(flipped)))
      }),
      { numRuns: 1500 },
    )
  })
})
