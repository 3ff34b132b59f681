import { execFileSync } from 'node:child_process'
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  mapGoldenMeasurement,
  parseAutomataDocument,
  parseSignerKey,
  verifyAutomataDocument,
  verifyAutomataSignature,
  type SignerKey,
} from '../../src/bundles/index.js'
import { KeybrokerError } from '../../src/errors.js'

const vector = (name: string) => readFileSync(new URL(`../vectors/automata/${name}`, import.meta.url))
const EC_DOC = vector('signed-golden-measurement.synthetic.ec-p256.json')
const RSA_DOC = vector('signed-golden-measurement.synthetic.rsa2048.json')
const EC_KEY = parseSignerKey(vector('json-sig-ec-p256.pub.pem').toString(), 'automata')
const RSA_KEY = parseSignerKey(vector('json-sig-rsa2048.pub.pem').toString(), 'automata')

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return err instanceof KeybrokerError ? err.code : 'not-a-keybroker-error'
  }
}

/** verified / signature-invalid / a parse error code, for one document and key. */
function outcome(bytes: Uint8Array, key: SignerKey): string {
  try {
    return verifyAutomataSignature(parseAutomataDocument(bytes), key) ? 'verified' : 'signature-invalid'
  } catch (err) {
    return err instanceof KeybrokerError ? err.code : 'not-a-keybroker-error'
  }
}

/** A document as json_sig_tool writes it, signed here (the signed bytes come from python3). */
function signWithPython(goldenMeasurement: string, kind: 'ec' | 'rsa'): { doc: string; key: SignerKey } {
  const canonical = execFileSync('python3', ['-c', 'import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read()), separators=(",", ":"), sort_keys=True))'], {
    input: goldenMeasurement,
    timeout: 30_000,
  })
  const pair = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const signature = cryptoSign('sha256', canonical, kind === 'ec' ? { key: pair.privateKey, dsaEncoding: 'der' } : pair.privateKey).toString('base64')
  return {
    doc: `{\n  "golden_measurement": ${goldenMeasurement},\n  "signature": "${signature}"\n}`,
    key: parseSignerKey(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'automata'),
  }
}

describe('Automata signed golden measurement (json_sig_tool)', () => {
  it('verifies the EC P-256 and RSA-2048 samples with their keys, and not with the other key', () => {
    expect(outcome(EC_DOC, EC_KEY)).toBe('verified')
    expect(outcome(RSA_DOC, RSA_KEY)).toBe('verified')
    expect(outcome(EC_DOC, RSA_KEY)).toBe('signature-invalid')
    expect(outcome(RSA_DOC, EC_KEY)).toBe('signature-invalid')
    expect(parseAutomataDocument(EC_DOC).digest).toBe(parseAutomataDocument(RSA_DOC).digest)
  })

  it('picks the signer among the registered ones, or refuses with its own problem type', () => {
    expect(verifyAutomataDocument(parseAutomataDocument(RSA_DOC), [EC_KEY, RSA_KEY]).fingerprint).toBe(RSA_KEY.fingerprint)
    expect(codeOf(() => verifyAutomataDocument(parseAutomataDocument(RSA_DOC), [EC_KEY]))).toBe('bundle-signature-invalid')
    expect(codeOf(() => verifyAutomataDocument(parseAutomataDocument(RSA_DOC), []))).toBe('bundle-signer-unknown')
  })

  it('fails on a one-byte change of the signed content', () => {
    const changed = Buffer.from(EC_DOC.toString().replace('"cap"', '"cat"'))
    expect(outcome(changed, EC_KEY)).toBe('signature-invalid')
    const reordered = Buffer.from(EC_DOC.toString().replace('"z": 1', '"z": 2'))
    expect(outcome(reordered, EC_KEY)).toBe('signature-invalid')
  })

  it('never accepts any single-byte change anywhere in either sample', () => {
    for (const [doc, key] of [
      [EC_DOC, EC_KEY],
      [RSA_DOC, RSA_KEY],
    ] as const) {
      for (let i = 0; i < doc.byteLength; i++) {
        for (const mask of [0x01, 0x20]) {
          const copy = Buffer.from(doc)
          copy[i] = (copy[i] ?? 0) ^ mask
          const result = outcome(copy, key)
          // Flipping the case of a hex digit in a \u escape keeps the content: that one may verify.
          const sameContent = /[a-f]/i.test(String.fromCharCode(doc[i] ?? 0)) && doc.subarray(Math.max(0, i - 5), i).includes(0x75) && mask === 0x20
          if (!sameContent) expect(result, `byte ${i} ^ ${mask}`).not.toBe('verified')
          expect(['verified', 'signature-invalid', 'bundle-malformed']).toContain(result)
        }
      }
    }
  })

  it('verifies documents signed over bytes produced by python3 (floats, non-ASCII, nesting)', () => {
    const gm = '{"snp": {"measurement": "' + 'ab'.repeat(48) + '"}, "note": "caf\\u00e9 \\ud83d\\ude00", "ratio": 1.50, "big": 12345678901234567890, "z": {"b": [1e16, -0.0], "a": null}}'
    for (const kind of ['ec', 'rsa'] as const) {
      const { doc, key } = signWithPython(gm, kind)
      expect(outcome(Buffer.from(doc), key)).toBe('verified')
      expect(outcome(Buffer.from(doc.replace('1.50', '1.5')), key)).toBe('verified')
      expect(outcome(Buffer.from(doc.replace('1.50', '1.51')), key)).toBe('signature-invalid')
    }
  })

  it('maps snp, tdx and pcrs to an automata reference-value set; refuses a document with no measurement', () => {
    const m = 'ab'.repeat(48)
    const snp = signWithPython(`{"snp": {"measurement": "${m}"}}`, 'ec')
    // A golden measurement describes the agent's collaterals: an automata set, unless the importer names another type.
    expect(mapGoldenMeasurement(parseAutomataDocument(snp.doc), 'img')).toEqual({ name: 'img', evidenceType: 'automata', allowDebug: false, expect: [], values: [{ measurement: m }] })
    expect(mapGoldenMeasurement(parseAutomataDocument(snp.doc), 'img', 'snp')).toMatchObject({ evidenceType: 'snp', values: [{ measurement: m }] })
    const pcrOnly = signWithPython(`{"pcrs": [{"index": 23, "pcr": "${'ef'.repeat(32)}"}]}`, 'ec')
    expect(mapGoldenMeasurement(parseAutomataDocument(pcrOnly.doc), 'img')).toEqual({ name: 'img', evidenceType: 'automata', allowDebug: false, expect: [{ claim: 'pcr.sha256.23', equals: 'ef'.repeat(32) }], values: [] })

    const b64 = Buffer.from(m, 'hex').toString('base64')
    const pcr4 = 'cd'.repeat(32)
    const tdx = signWithPython(
      `{"tdx": {"mrtd": "${b64}", "rtmr0": "0x${'01'.repeat(48)}"}, "pcrs": [{"index": 4, "pcr": "${pcr4}"}, {"index": 16, "pcr": "${'00'.repeat(32)}"}]}`,
      'ec',
    )
    expect(mapGoldenMeasurement(parseAutomataDocument(tdx.doc), 'img')).toEqual({
      name: 'img',
      evidenceType: 'automata',
      allowDebug: false,
      expect: [{ claim: 'pcr.sha256.4', equals: pcr4 }, { claim: 'rtmr0', equals: '01'.repeat(48) }],
      values: [{ measurement: m }],
    })
    expect(codeOf(() => mapGoldenMeasurement(parseAutomataDocument(EC_DOC), 'img'))).toBe('bundle-malformed')
    const bad = signWithPython('{"snp": {"measurement": "abc"}}', 'ec')
    expect(codeOf(() => mapGoldenMeasurement(parseAutomataDocument(bad.doc), 'img'))).toBe('bundle-malformed')
  })

  it('refuses malformed documents with bundle-malformed', () => {
    for (const doc of ['[]', '{"golden_measurement": {}}', '{"signature": "AA=="}', '{"golden_measurement": {}, "signature": 5}', '{"golden_measurement": {}, "signature": "A-B_"}', '{"golden_measurement": {}, "signature": "AB=="}']) {
      expect(codeOf(() => parseAutomataDocument(doc)), doc).toBe('bundle-malformed')
    }
  })

  it('property: arbitrary documents only raise bundle-malformed and never verify', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.jsonValue().map((v) => JSON.stringify({ golden_measurement: v, signature: 'MEQCIA==' }))), (text) => {
        const result = outcome(Buffer.from(text), EC_KEY)
        return result === 'bundle-malformed' || result === 'signature-invalid'
      }),
      { numRuns: 500 },
    )
  })
})
