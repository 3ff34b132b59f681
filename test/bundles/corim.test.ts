import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkCorimValidity, mapCorim, parseCorim, parseSignerKey, verifyCorimSignature } from '../../src/bundles/index.js'
import { codeOf } from '../support/error-code.js'
import { cocosCorim, signCorim } from '../generators/corim.js'

const vector = (f: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../vectors/corim/${f}`, import.meta.url)))
const VERAISON_KEY = () => parseSignerKey(readFileSync(new URL('../vectors/corim/ec-p256.pub.pem', import.meta.url), 'utf8'), 'corim')

describe('veraison/corim test cases (real CoRIM bytes)', () => {
  it('unsigned-good-corim parses: id, one CoMID, one reference triple with 3 measurements', () => {
    const c = parseCorim(vector('unsigned-good-corim.cbor'))
    expect(c.signed).toBe(false)
    expect(c.id).toBe('test corim id')
    expect(c.comids).toHaveLength(1)
    expect(c.comids[0]!.tagId).toBe('43bbe37f2e614b33aed353cff1428b16')
    expect(c.comids[0]!.referenceTriples[0]![1]).toHaveLength(3)
  })

  it('signed-good-corim verifies with the upstream test key (ES256) inside its validity, is expired today', () => {
    const c = parseCorim(vector('signed-good-corim.cbor'))
    expect(c.signed).toBe(true)
    expect(c.cose).toMatchObject({ alg: -7, kid: '1', signer: 'ACME Ltd signing key' })
    expect(c.cose!.validity!.notAfter.toISOString()).toBe('2025-12-31T00:00:00.000Z')
    expect(verifyCorimSignature(c, [VERAISON_KEY()]).fingerprint).toBe(VERAISON_KEY().fingerprint)
    checkCorimValidity(c, new Date('2025-06-01T00:00:00Z'))
    expect(codeOf(() => checkCorimValidity(c, new Date('2026-11-23T00:00:00Z')))).toBe('bundle-expired')
    expect(codeOf(() => checkCorimValidity(c, new Date('2021-01-01T00:00:00Z')))).toBe('bundle-expired')
  })

  it('a tampered signed CoRIM is refused: bundle-signature-invalid (payload, signature) or bundle-malformed (structure)', () => {
    const good = vector('signed-good-corim.cbor')
    // The last 64 bytes are the signature; a payload byte sits in the middle.
    for (const at of [good.byteLength - 10, 300]) {
      const bad = good.slice()
      bad[at] = (bad[at] ?? 0) ^ 0x01
      const outcome = codeOf(() => verifyCorimSignature(parseCorim(bad), [VERAISON_KEY()]))
      expect(['bundle-signature-invalid', 'bundle-malformed']).toContain(outcome)
      if (at === good.byteLength - 10) expect(outcome).toBe('bundle-signature-invalid')
    }
    const other = parseSignerKey(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'corim')
    expect(codeOf(() => verifyCorimSignature(parseCorim(good), [other]))).toBe('bundle-signature-invalid')
    expect(codeOf(() => verifyCorimSignature(parseCorim(good), []))).toBe('bundle-signer-unknown')
  })

  it('corim-1, corim-2, comid examples parse; their PSA-style triples do not map: bundle-malformed naming the triple', () => {
    for (const f of ['corim-1.cbor', 'unsigned-good-corim.cbor']) {
      const c = parseCorim(vector(f))
      let detail = ''
      try {
        mapCorim(c, 'x')
      } catch (err) {
        detail = (err as { detail: string }).detail
        expect((err as { code: string }).code).toBe('bundle-malformed')
      }
      expect(detail).toContain('reference-triples[0]: not supported')
    }
    // corim-2 carries an endorsed-values triple: named as unsupported when parsing.
    let detail = ''
    try {
      parseCorim(vector('corim-2.cbor'))
    } catch (err) {
      detail = (err as { detail: string }).detail
    }
    expect(detail).toContain('endorsed-triples are not supported')
  })
})

describe('Cocos corimgen-style CoRIMs (synthetic: no Cocos CoRIM file is public)', () => {
  const M = 'a5'.repeat(48)
  it('SNP: the measurement is the value, svn the guest SVN, the instance UUID the product', () => {
    const { set, fields } = mapCorim(parseCorim(cocosCorim({ platform: 'snp', measurement: M, product: 'Milan', svn: 3 })), 'cocos-snp')
    expect(set).toMatchObject({ evidenceType: 'snp', values: [{ measurement: M }], expect: [{ claim: 'guestSvn', equals: 3 }, { claim: 'product', equals: 'Milan' }] })
    expect(fields.map((f) => f.to)).toEqual([['value'], ['guestSvn'], ['product']])
  })

  it('TDX: MRTD the value, then MRSEAM and RTMR0-3', () => {
    const r = (b: string) => b.repeat(48)
    const { set } = mapCorim(parseCorim(cocosCorim({ platform: 'tdx', measurement: r('11'), mrSeam: r('22'), rtmrs: [r('30'), r('31'), r('32'), r('33')] })), 't')
    expect(set.evidenceType).toBe('tdx')
    expect(set.values).toEqual([{ measurement: r('11') }])
    expect(set.expect).toEqual([
      { claim: 'mrSeam', equals: r('22') },
      { claim: 'rtmr0', equals: r('30') },
      { claim: 'rtmr1', equals: r('31') },
      { claim: 'rtmr2', equals: r('32') },
      { claim: 'rtmr3', equals: r('33') },
    ])
  })

  it('SNP with TPM integrity registers maps to a gotpm set with PCR expectations', () => {
    const { set } = mapCorim(parseCorim(cocosCorim({ platform: 'snp', measurement: M, pcrs: { 1: { 16: 'ab'.repeat(32) }, 7: { 16: 'cd'.repeat(48) } } })), 'x')
    expect(set.evidenceType).toBe('gotpm')
    expect(set.expect).toEqual([{ claim: 'pcr.sha256.16', equals: 'ab'.repeat(32) }, { claim: 'pcr.sha384.16', equals: 'cd'.repeat(48) }])
  })

  it('signed: verifies with its key; validity windows enforced', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const key = parseSignerKey(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'corim')
    const signed = signCorim(cocosCorim({ platform: 'snp', measurement: M }), privateKey, { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2027-01-01T00:00:00Z') })
    const c = parseCorim(signed)
    expect(verifyCorimSignature(c, [key])).toBe(key)
    checkCorimValidity(c, new Date('2026-06-01T00:00:00Z'))
    expect(codeOf(() => checkCorimValidity(c, new Date('2027-06-01T00:00:00Z')))).toBe('bundle-expired')
  })

  it('an unknown key in the CoMID or a measurement is bundle-malformed naming it', () => {
    const c = parseCorim(cocosCorim({ platform: 'snp', measurement: M }))
    const m = c.comids[0]!.referenceTriples[0]![1][0]!
    ;(m.get(1) as Map<number, unknown>).set(5, 'x')
    expect(codeOf(() => mapCorim(c, 'x'))).toBe('bundle-malformed')
  })
})

describe('CoRIM fuzz', () => {
  it('arbitrary bytes and mutated CoRIMs only ever give typed bundle errors', () => {
    const good = [vector('signed-good-corim.cbor'), vector('unsigned-good-corim.cbor'), cocosCorim({ platform: 'snp', measurement: 'a5'.repeat(48) })]
    const typed = new Set(['bundle-malformed', 'bundle-signature-invalid', 'bundle-signer-unknown', 'no-error'])
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), (bytes) => {
        expect(typed).toContain(codeOf(() => mapCorim(parseCorim(bytes), 'x')))
      }),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(fc.constantFrom(...good), fc.nat(), fc.integer({ min: 1, max: 255 }), (g, at, xor) => {
        const b = g.slice()
        b[at % b.byteLength] = (b[at % b.byteLength] ?? 0) ^ xor
        expect(typed).toContain(
          codeOf(() => {
            const c = parseCorim(b)
            if (c.signed) verifyCorimSignature(c, [VERAISON_KEY()])
            mapCorim(c, 'x')
          }),
        )
      }),
      { numRuns: 2000 },
    )
  })
})
