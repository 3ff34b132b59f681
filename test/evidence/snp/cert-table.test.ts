import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  buildCertTable,
  CERT_TABLE_ENTRY_SIZE,
  CERT_TABLE_GUIDS,
  decodeEvidenceCertificates,
  guidBytes,
  parseCertTable,
  trimDerPadding,
} from '../../../src/evidence/snp/cert-table.js'
import { codeOf } from './codes.js'

const vcek = new Uint8Array(readFileSync(new URL('../../vectors/snp/trustee-milan-vcek/test-vcek.der', import.meta.url)))
const arkPem = readFileSync(new URL('../../../reference-values/amd/milan/ark-milan.pem', import.meta.url), 'utf8')
const askPem = readFileSync(new URL('../../../reference-values/amd/milan/ask-milan.pem', import.meta.url), 'utf8')

/** A table written by hand: entries (GUID, offset, length), a terminator unless told otherwise, then `tail`. */
function rawTable(entries: readonly [string, number, number][], tail: Uint8Array, terminator = true): Uint8Array {
  const head = (entries.length + (terminator ? 1 : 0)) * CERT_TABLE_ENTRY_SIZE
  const out = new Uint8Array(head + tail.byteLength)
  const view = new DataView(out.buffer)
  entries.forEach(([guid, offset, length], i) => {
    out.set(guidBytes(guid), i * CERT_TABLE_ENTRY_SIZE)
    view.setUint32(i * CERT_TABLE_ENTRY_SIZE + 16, offset, true)
    view.setUint32(i * CERT_TABLE_ENTRY_SIZE + 20, length, true)
  })
  out.set(tail, head)
  return out
}

describe('certificate table (configfs-tsm auxblob)', () => {
  test('round trip through buildCertTable, page padding allowed', () => {
    const entries = [
      { guid: CERT_TABLE_GUIDS.vcek, data: vcek },
      { guid: CERT_TABLE_GUIDS.ask, data: new Uint8Array([1, 2, 3]) },
      { guid: '11111111-2222-3333-4444-555555555555', data: new Uint8Array([9]) },
    ]
    const blob = buildCertTable(entries, 4096)
    expect(blob.byteLength).toBe(4096)
    expect(parseCertTable(blob)).toEqual(entries)
  })

  test('GUIDs are stored in RFC 4122 byte order', () => {
    const blob = buildCertTable([{ guid: CERT_TABLE_GUIDS.vcek, data: vcek }])
    expect(Buffer.from(blob.subarray(0, 4)).toString('hex')).toBe('63da758d')
  })

  test('empty blob is an empty table; a lone terminator too', () => {
    expect(parseCertTable(new Uint8Array(0))).toEqual([])
    expect(parseCertTable(new Uint8Array(CERT_TABLE_ENTRY_SIZE))).toEqual([])
  })

  test('malformed tables are evidence-malformed', () => {
    const g = CERT_TABLE_GUIDS
    const data = new Uint8Array(100).fill(7)
    const head2 = 2 * CERT_TABLE_ENTRY_SIZE
    const head3 = 3 * CERT_TABLE_ENTRY_SIZE
    const cases: Record<string, Uint8Array> = {
      'missing terminator': rawTable([[g.vcek, CERT_TABLE_ENTRY_SIZE, 10]], data, false),
      'truncated entry': new Uint8Array(CERT_TABLE_ENTRY_SIZE - 1).fill(1),
      'offset past end': rawTable([[g.vcek, head2 + 1000, 10]], data),
      'length past end': rawTable([[g.vcek, head2, 101]], data),
      'offset + length overflows u32': rawTable([[g.vcek, 0xffffffff, 0xffffffff]], data),
      'offset into the table': rawTable([[g.vcek, 0, 10]], data),
      'zero length': rawTable([[g.vcek, head2, 0]], data),
      overlapping: rawTable([[g.vcek, head3, 50], [g.ask, head3 + 49, 10]], data),
      'repeated GUID': rawTable([[g.vcek, head3, 10], [g.vcek, head3 + 10, 10]], data),
    }
    for (const [name, blob] of Object.entries(cases)) expect(codeOf(() => parseCertTable(blob)), name).toBe('evidence-malformed')
  })

  test('too many entries is evidence-malformed', () => {
    const entries = Array.from({ length: 40 }, (_, i) => ({ guid: `00000000-0000-0000-0000-${String(i + 1).padStart(12, '0')}`, data: new Uint8Array([i]) }))
    expect(codeOf(() => parseCertTable(buildCertTable(entries)))).toBe('evidence-malformed')
  })

  test('property: any bytes give a table or evidence-malformed, never a crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        expect(['ok', 'evidence-malformed']).toContain(codeOf(() => parseCertTable(bytes)))
      }),
      { numRuns: 1000 },
    )
  })

  test('property: a valid table with random entry fields edited still gives a table or evidence-malformed', () => {
    const base = buildCertTable([{ guid: CERT_TABLE_GUIDS.vcek, data: vcek }, { guid: CERT_TABLE_GUIDS.ask, data: vcek.subarray(0, 50) }], 2048)
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(3 * CERT_TABLE_ENTRY_SIZE - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (edits) => {
        const b = base.slice()
        for (const [at, v] of edits) b[at] = v
        expect(['ok', 'evidence-malformed']).toContain(codeOf(() => parseCertTable(b)))
      }),
      { numRuns: 1000 },
    )
  })
})

describe('evidence certs input forms', () => {
  test('base64 string is a certificate table; standard and url alphabets', () => {
    const blob = buildCertTable([{ guid: CERT_TABLE_GUIDS.vcek, data: vcek }], 4096)
    for (const text of [Buffer.from(blob).toString('base64'), Buffer.from(blob).toString('base64url')]) {
      const certs = decodeEvidenceCertificates(text)
      expect(certs.form).toBe('table')
    }
  })

  test('PEM text and arrays of base64 DER / PEM are certificate lists', () => {
    const bundle = decodeEvidenceCertificates(askPem + arkPem)
    expect(bundle).toMatchObject({ form: 'list' })
    expect(bundle.form === 'list' && bundle.certificates.length).toBe(2)
    const list = decodeEvidenceCertificates([Buffer.from(vcek).toString('base64'), askPem + arkPem])
    expect(list.form === 'list' && list.certificates.length).toBe(3)
  })

  test('junk is evidence-malformed', () => {
    expect(codeOf(() => decodeEvidenceCertificates('not base64!'))).toBe('evidence-malformed')
    expect(codeOf(() => decodeEvidenceCertificates(['-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----']))).toBe('evidence-malformed')
    expect(codeOf(() => decodeEvidenceCertificates([`junk${askPem}`]))).toBe('evidence-malformed')
  })

  test('zero padding after a DER certificate is trimmed, other trailing bytes are kept', () => {
    const padded = new Uint8Array([...vcek, 0, 0, 0])
    expect(trimDerPadding(padded)).toEqual(vcek)
    const junk = new Uint8Array([...vcek, 1])
    expect(trimDerPadding(junk)).toEqual(junk)
  })
})
