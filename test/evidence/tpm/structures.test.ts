import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { toHex } from '../../../src/evidence/reader.js'
import {
  checkAkAttributes,
  decodeAkPublic,
  parsePublic,
  parseQuoteAttest,
  parseSignature,
  TPMA_OBJECT,
  tpmVerifier,
  verifySignature,
} from '../../../src/evidence/tpm/index.js'
import { decodePcrValues } from '../../../src/evidence/tpm/pcrs.js'
import { verifyQuote } from '../../../src/evidence/tpm/quote.js'
import {
  akKeyPair,
  encodePublic,
  encodeQuote,
  pcrValuesFor,
  quoteFields,
  signQuote,
  wirePcrs,
  type QuoteFields,
  type SigScheme,
} from '../../generators/tpm.js'
import { asyncCodeOf, codeOf } from '../../support/error-code.js'
import { trustLookup } from './vectors.js'

const NOW = new Date('2026-11-23T00:00:00Z')
const rsa = akKeyPair('rsa')
const p256 = akKeyPair('p256')
const p384 = akKeyPair('p384')

function quoteWith(overrides: Partial<QuoteFields> = {}) {
  const f = quoteFields(overrides)
  const values = pcrValuesFor(f.banks)
  return { f, values, quote: encodeQuote(f, values) }
}

describe('parseQuoteAttest', () => {
  test('decodes every field the generator wrote', () => {
    const { f, quote } = quoteWith({ banks: [{ bank: 'sha256', pcrs: [0, 7, 23] }, { bank: 'sha1', pcrs: [10] }] })
    const a = parseQuoteAttest(quote)
    expect(a.extraData).toEqual(f.extraData)
    expect(a.qualifiedSigner).toEqual(f.qualifiedSigner)
    expect(a.clockInfo).toEqual({ clock: f.clock, resetCount: 3, restartCount: 1, safe: true })
    expect(a.firmwareVersion).toBe(f.firmwareVersion)
    expect(a.pcrSelect.map((b) => [b.hash.name, b.pcrs])).toEqual([['sha256', [0, 7, 23]], ['sha1', [10]]])
  })

  test('one defect at a time', () => {
    expect(codeOf(() => parseQuoteAttest(quoteWith({ magic: 0xff544348 }).quote))).toBe('evidence-malformed')
    expect(codeOf(() => parseQuoteAttest(quoteWith({ type: 0x8017 }).quote))).toBe('evidence-unsupported')
    expect(codeOf(() => parseQuoteAttest(quoteWith({ safe: 2 }).quote))).toBe('evidence-malformed')
    expect(codeOf(() => parseQuoteAttest(quoteWith({ extraData: new Uint8Array(67) }).quote))).toBe('evidence-malformed')
    expect(codeOf(() => parseQuoteAttest(quoteWith({ banks: [{ bank: 'sha256', pcrs: [0], sizeofSelect: 5 }] }).quote))).toBe('evidence-malformed')
    expect(codeOf(() => parseQuoteAttest(quoteWith({ banks: [{ bank: 'sha256', pcrs: [0] }, { bank: 'sha256', pcrs: [1] }], pcrDigest: new Uint8Array(32) }).quote))).toBe('evidence-malformed')
    const { quote } = quoteWith()
    expect(codeOf(() => parseQuoteAttest(new Uint8Array([...quote, 0])))).toBe('evidence-malformed')
    expect(codeOf(() => parseQuoteAttest(new Uint8Array(2000)))).toBe('evidence-malformed')
    // PCR 24+ (4 select bytes) is beyond a PC Client TPM.
    expect(codeOf(() => parseQuoteAttest(quoteWith({ banks: [{ bank: 'sha256', pcrs: [24], sizeofSelect: 4 }] }).quote))).toBe('evidence-unsupported')
  })

  test('truncation at every offset is evidence-malformed', () => {
    const { quote } = quoteWith()
    for (let cut = 0; cut < quote.byteLength; cut++) expect(codeOf(() => parseQuoteAttest(quote.subarray(0, cut)))).toBe('evidence-malformed')
  })

  test('arbitrary bytes: a quote, evidence-malformed or evidence-unsupported, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(['no-error', 'evidence-malformed', 'evidence-unsupported']).toContain(codeOf(() => parseQuoteAttest(bytes)))
      }),
      { numRuns: 3000 },
    )
    // Bytes that start like a quote get further into the parser.
    const prefix = quoteWith().quote.subarray(0, 6)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (tail) => {
        expect(['no-error', 'evidence-malformed', 'evidence-unsupported']).toContain(codeOf(() => parseQuoteAttest(new Uint8Array([...prefix, ...tail]))))
      }),
      { numRuns: 3000 },
    )
  })
})

describe('TPMT_SIGNATURE and verification', () => {
  const cases: [string, { privateKey: import('node:crypto').KeyObject; publicKey: import('node:crypto').KeyObject }, SigScheme][] = [
    ['RSASSA', rsa, 'rsassa'],
    ['RSAPSS', rsa, 'rsapss'],
    ['ECDSA P-256', p256, 'ecdsa'],
    ['ECDSA P-384', p384, 'ecdsa'],
  ]
  test.each(cases)('%s signatures verify; a flipped quote bit or the wrong key does not', (_name, key, scheme) => {
    const { quote } = quoteWith()
    const sig = parseSignature(signQuote(quote, key.privateKey, scheme))
    expect(codeOf(() => verifySignature(sig, key.publicKey, quote, { allowSha1: false }))).toBe('no-error')
    const flipped = quote.slice()
    flipped[20]! ^= 1
    expect(codeOf(() => verifySignature(sig, key.publicKey, flipped, { allowSha1: false }))).toBe('signature-invalid')
    const other = scheme === 'ecdsa' ? (key === p256 ? p384 : p256) : akKeyPair('rsa')
    expect(codeOf(() => verifySignature(sig, other.publicKey, quote, { allowSha1: false }))).toBe('signature-invalid')
  })

  test('an ECDSA signature with an RSA AK (and the reverse) is signature-invalid, never a crash', () => {
    const { quote } = quoteWith()
    expect(codeOf(() => verifySignature(parseSignature(signQuote(quote, p256.privateKey, 'ecdsa')), rsa.publicKey, quote, { allowSha1: false }))).toBe('signature-invalid')
    expect(codeOf(() => verifySignature(parseSignature(signQuote(quote, rsa.privateKey, 'rsassa')), p256.publicKey, quote, { allowSha1: false }))).toBe('signature-invalid')
  })

  test('SHA-1 signatures only when allowed', () => {
    const { quote } = quoteWith()
    const sig = parseSignature(signQuote(quote, rsa.privateKey, 'rsassa', 'sha1'))
    expect(codeOf(() => verifySignature(sig, rsa.publicKey, quote, { allowSha1: false }))).toBe('evidence-unsupported')
    expect(codeOf(() => verifySignature(sig, rsa.publicKey, quote, { allowSha1: true }))).toBe('no-error')
  })

  test('unsupported schemes and malformed signatures', () => {
    expect(codeOf(() => parseSignature(new Uint8Array([0x00, 0x05, 0x00, 0x0b])))).toBe('evidence-unsupported') // HMAC
    expect(codeOf(() => parseSignature(new Uint8Array([0x00, 0x10])))).toBe('evidence-unsupported') // NULL
    expect(codeOf(() => parseSignature(new Uint8Array([0x00, 0x14, 0x00, 0x12, 0, 0])))).toBe('evidence-unsupported') // SM3
    const good = signQuote(quoteWith().quote, rsa.privateKey, 'rsassa')
    expect(codeOf(() => parseSignature(new Uint8Array([...good, 1])))).toBe('evidence-malformed')
    for (let cut = 0; cut < good.byteLength; cut++) expect(codeOf(() => parseSignature(good.subarray(0, cut)))).toBe('evidence-malformed')
  })

  test('arbitrary signature bytes verified against a quote: only typed errors', () => {
    const { quote } = quoteWith()
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(rsa, p256), (bytes, key) => {
        const c = codeOf(() => verifySignature(parseSignature(bytes), key.publicKey, quote, { allowSha1: true }))
        expect(['evidence-malformed', 'evidence-unsupported', 'signature-invalid']).toContain(c)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('TPMT_PUBLIC', () => {
  test('RSA and ECC AKs: key, attributes, Name = nameAlg ‖ H(TPMT_PUBLIC)', () => {
    for (const key of [rsa, p256, p384]) {
      const bytes = encodePublic(key.publicKey)
      const pub = parsePublic(bytes)
      expect(pub.publicKey.export({ format: 'jwk' })).toEqual(key.publicKey.export({ format: 'jwk' }))
      expect(toHex(pub.name)).toBe(`000b${createHash('sha256').update(bytes).digest('hex')}`)
      expect(codeOf(() => checkAkAttributes(pub))).toBe('no-error')
    }
  })

  test('AK attributes: not restricted, not sign, decrypt, not fixedTPM are policy-violation; reserved bits malformed', () => {
    const base = TPMA_OBJECT.fixedTpm | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.restricted | TPMA_OBJECT.sign
    for (const attributes of [base & ~TPMA_OBJECT.restricted, base & ~TPMA_OBJECT.sign, base | TPMA_OBJECT.decrypt, base & ~TPMA_OBJECT.fixedTpm]) {
      expect(codeOf(() => checkAkAttributes(parsePublic(encodePublic(rsa.publicKey, { attributes }))))).toBe('policy-violation')
    }
    expect(codeOf(() => parsePublic(encodePublic(rsa.publicKey, { attributes: base | 1 })))).toBe('evidence-malformed')
  })

  test('decodeAkPublic accepts TPM2B_PUBLIC, TPMT_PUBLIC, DER SPKI and PEM of the same key', () => {
    const tpmt = encodePublic(p256.publicKey)
    const forms = [
      Buffer.from(tpmt).toString('base64'),
      Buffer.concat([Buffer.from([0, tpmt.byteLength]), tpmt]).toString('base64'),
      p256.publicKey.export({ type: 'spki', format: 'der' }).toString('base64url'),
      p256.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ]
    const ids = forms.map((f) => decodeAkPublic(f).publicKey.export({ type: 'spki', format: 'der' }).toString('hex'))
    expect(new Set(ids).size).toBe(1)
    expect(decodeAkPublic(forms[0]!).tpmPublic).toBeDefined()
    expect(decodeAkPublic(forms[2]!).tpmPublic).toBeUndefined()
    expect(codeOf(() => decodeAkPublic(p256.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()))).toBe('evidence-malformed')
    expect(codeOf(() => decodeAkPublic(akKeyPair('rsa').publicKey.export({ type: 'spki', format: 'pem' }).toString().replace('PUBLIC', 'PUBLIX')))).toBe('evidence-malformed')
  })

  test('arbitrary bytes: a public area, evidence-malformed or evidence-unsupported', () => {
    const prefix = encodePublic(p256.publicKey).subarray(0, 10)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (tail, withPrefix) => {
        const bytes = withPrefix ? new Uint8Array([...prefix, ...tail]) : tail
        expect(['no-error', 'evidence-malformed', 'evidence-unsupported']).toContain(codeOf(() => parsePublic(bytes)))
      }),
      { numRuns: 3000 },
    )
  })
})

describe('verifyQuote and the tpm verifier on synthetic quotes', () => {
  const akId = createHash('sha256').update(p256.publicKey.export({ type: 'spki', format: 'der' })).digest('hex')
  const registered = trustLookup({ aks: { [akId]: { source: 'registered', name: 'synthetic' } } })

  function evidence(overrides: Partial<QuoteFields> = {}, scheme: SigScheme = 'ecdsa') {
    const { f, values, quote } = quoteWith(overrides)
    return {
      f,
      values,
      wire: {
        type: 'tpm' as const,
        quote: Buffer.from(quote).toString('base64'),
        signature: Buffer.from(signQuote(quote, p256.privateKey, scheme)).toString('base64'),
        pcrs: wirePcrs(values),
        ak: { public: Buffer.from(encodePublic(p256.publicKey)).toString('base64') },
      },
    }
  }

  test('claims: measurement = pcrDigest, pcr<N> names, reportData = extraData, AK identity', async () => {
    const { f, wire } = evidence({ banks: [{ bank: 'sha256', pcrs: [0, 7] }, { bank: 'sha1', pcrs: [10] }] })
    const claims = await tpmVerifier.verify(tpmVerifier.schema.parse(wire), { now: NOW, collateral: registered })
    expect(Object.keys(claims.measurements).sort()).toEqual(['pcr0', 'pcr7', 'sha1-pcr10'])
    expect(claims.reportData).toEqual(f.extraData)
    expect(claims.instanceId).toBe(akId)
    expect(claims.raw['ak']).toMatchObject({ trust: 'registered', name: 'synthetic' })
    const digest = createHash('sha256')
    for (const v of [...Object.values(wire.pcrs['sha256']!), wire.pcrs['sha1']!['10']!]) digest.update(Buffer.from(v, 'hex'))
    expect(claims.measurement).toBe(digest.digest('hex'))
  })

  test('every quoted PCR must be sent; extra PCRs are ignored and never reach the claims', async () => {
    const { wire } = evidence({ banks: [{ bank: 'sha256', pcrs: [0] }] })
    const extra = { ...wire, pcrs: { sha256: { ...wire.pcrs['sha256'], 5: '11'.repeat(32) } } }
    const claims = await tpmVerifier.verify(tpmVerifier.schema.parse(extra), { now: NOW, collateral: registered })
    expect(Object.keys(claims.measurements)).toEqual(['pcr0'])
    expect(await asyncCodeOf(() => tpmVerifier.verify(tpmVerifier.schema.parse({ ...wire, pcrs: { sha256: {} } }), { now: NOW, collateral: registered }))).toBe('evidence-malformed')
  })

  test('a quote whose pcrDigest is not the digest of the values (signed as such) is signature-invalid', () => {
    const { quote, values } = quoteWith({ pcrDigest: new Uint8Array(32).fill(9) })
    const sig = signQuote(quote, p256.privateKey, 'ecdsa')
    expect(codeOf(() => verifyQuote(quote, sig, decodePcrValues(wirePcrs(values)), p256.publicKey, { allowSha1Signatures: false }))).toBe('signature-invalid')
  })

  test('a PCR value outside its bank size, an unknown bank or index: typed errors', () => {
    expect(codeOf(() => decodePcrValues({ sha256: { '0': '00' } }))).toBe('evidence-malformed')
    expect(codeOf(() => decodePcrValues({ sha3_256: { '0': '00'.repeat(32) } }))).toBe('evidence-unsupported')
    expect(codeOf(() => decodePcrValues({ sha256: { '24': '00'.repeat(32) } }))).toBe('evidence-malformed')
    expect(codeOf(() => decodePcrValues({ sha256: { '01': '00'.repeat(32) } }))).toBe('evidence-malformed')
  })

  test('flipping any bit of the quote is never accepted', async () => {
    const { wire } = evidence()
    const quote = Buffer.from(wire.quote, 'base64')
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: quote.length * 8 - 1 }), async (bit) => {
        const q = Buffer.from(quote)
        q[bit >> 3]! ^= 1 << (bit & 7)
        const c = await asyncCodeOf(() => tpmVerifier.verify(tpmVerifier.schema.parse({ ...wire, quote: q.toString('base64') }), { now: NOW, collateral: registered }))
        expect(['evidence-malformed', 'evidence-unsupported', 'signature-invalid']).toContain(c)
      }),
      { numRuns: 400 },
    )
  })

  test('a non-restricted key sent as TPM public area is refused even when registered', async () => {
    const { wire } = evidence()
    const attributes = TPMA_OBJECT.fixedTpm | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.sign
    const loose = { ...wire, ak: { public: Buffer.from(encodePublic(p256.publicKey, { attributes })).toString('base64') } }
    expect(await asyncCodeOf(() => tpmVerifier.verify(tpmVerifier.schema.parse(loose), { now: NOW, collateral: registered }))).toBe('policy-violation')
  })
})
