import { execFileSync } from 'node:child_process'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareCodePoints, parsePythonJson, pythonCanonicalJson, pythonFloat } from '../../src/bundles/python-json.js'
import { KeybrokerError } from '../../src/errors.js'

/**
 * The reference is CPython itself: each case's text goes through `json.loads` then
 * `json.dumps(obj, separators=(",", ":"), sort_keys=True)` (json_sig_tool's canonicalize_json),
 * in one python3 process per batch.
 */
function pythonCanonical(texts: readonly string[]): string[] {
  const script = [
    'import json, sys',
    'docs = json.loads(sys.stdin.read())',
    'out = [json.dumps(json.loads(t), separators=(",", ":"), sort_keys=True) for t in docs]',
    'sys.stdout.write(json.dumps(out))',
  ].join('\n')
  const stdout = execFileSync('python3', ['-c', script], { input: JSON.stringify(texts), timeout: 30_000, maxBuffer: 64 << 20 })
  return JSON.parse(stdout.toString('utf8')) as string[]
}

function ours(text: string): string {
  return pythonCanonicalJson(parsePythonJson(Buffer.from(text, 'utf8')))
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return err instanceof KeybrokerError ? err.code : 'not-a-keybroker-error'
  }
}

const EDGE_CASES: readonly string[] = [
  // nested key order, uppercase before lowercase (code point order)
  '{"b":{"z":1,"y":{"d":[],"c":{}}},"B":"cap","a":0}',
  // non-ASCII, escaped and raw, astral (raw and as a surrogate pair), U+2028, control chars, DEL
  '{"s":"é\\u00e9 ☃ 😀 \\ud83d\\ude00 \u2028 \\n\\t\\r\\b\\f \\u0001 \u007f \\/ \\" \\\\"}',
  // keys that sort differently by code point than by UTF-16 code unit
  '{"\uE000":1,"😀":2,"\uFFFF":3,"a":4}',
  // lone surrogates (Python keeps them)
  '["\\ud800", "\\udc00x", "\\ud83d"]',
  // floats: trailing zeros, exponents, the repr thresholds, negative zero, overflow
  '[1.0, 1.50, 0.1, 1e5, 1E-7, 1e16, 1e15, 123456789012345678.0, 0.0001, 0.00001, -0.0, 1e400, -1e400, 5e-324, 1.7976931348623157e308, 2.5e-5, 1.25e+22]',
  // integers: exact beyond 2^53, negative zero, huge
  '[0, -0, 9007199254740993, -123456789012345678901234567890, 10]',
  // duplicate keys: the last value wins
  '{"a":1,"a":2}',
  // literals and whitespace
  ' \t\r\n{ "t" : true , "f" : false , "n" : null } ',
  '"just a string"',
  '[]',
]

describe('Python-canonical JSON (json_sig_tool)', () => {
  it('matches CPython json.dumps on edge cases', () => {
    const expected = pythonCanonical(EDGE_CASES)
    EDGE_CASES.forEach((text, i) => expect(ours(text), text).toBe(expected[i]))
  })

  it('reproduces the signed bytes of the Automata sample', async () => {
    const { readFile } = await import('node:fs/promises')
    const doc = await readFile(new URL('../vectors/automata/signed-golden-measurement.synthetic.ec-p256.json', import.meta.url))
    const canonical = await readFile(new URL('../vectors/automata/signed-golden-measurement.synthetic.canonical-bytes.txt', import.meta.url), 'utf8')
    const parsed = parsePythonJson(doc)
    if (parsed.kind !== 'object') throw new Error('not an object')
    const gm = parsed.entries.get('golden_measurement')
    if (gm === undefined) throw new Error('no golden_measurement')
    expect(pythonCanonicalJson(gm)).toBe(canonical)
  })

  it('formats floats as Python repr does', () => {
    const values = [1, 1.5, 0.1, 1e16, 1e15, 1e-5, 1e-4, 123.456, 2 ** 70, 5e-324, -2.5e-7, 1 / 3, 1e22, 1e21, 100]
    // toExponential() always has an exponent, so Python reads each as a float.
    const expected = pythonCanonical(values.map((v) => `[${v.toExponential()}]`))
    values.forEach((v, i) => expect(`[${pythonFloat(v)}]`).toBe(expected[i]))
  })

  it('orders keys by code point', () => {
    expect(['\uE000', '😀', 'a', 'B', ''].sort(compareCodePoints)).toEqual(['', 'B', 'a', '\uE000', '😀'])
    expect(compareCodePoints('ab', 'a')).toBe(1)
    expect(compareCodePoints('a', 'ab')).toBe(-1)
    expect(compareCodePoints('😀', '😀')).toBe(0)
  })

  it('refuses what is not strict JSON', () => {
    for (const bad of ['NaN', '[Infinity]', '-Infinity', '{"a":1,}', '[1,]', '01', '1.', '.5', '"\u0001"', '"\\x41"', '"\\u12"', '{a:1}', '[1] 2', '', '\uFEFF{}', '[', '{"a" 1}', `${'['.repeat(100)}${']'.repeat(100)}`, `1${'0'.repeat(5000)}`]) {
      expect(codeOf(() => parsePythonJson(bad)), JSON.stringify(bad.slice(0, 20))).toBe('bundle-malformed')
    }
    expect(codeOf(() => parsePythonJson(new Uint8Array([0x22, 0xff, 0x22])))).toBe('bundle-malformed')
  })

  it('property: arbitrary JSON canonicalizes exactly as CPython does', () => {
    const texts = fc.sample(
      fc.jsonValue({ maxDepth: 4, stringUnit: fc.constantFrom('grapheme', 'binary', 'grapheme-ascii') as never }),
      { numRuns: 300, seed: 7 },
    ).map((v) => JSON.stringify(v))
    const doubles = fc.sample(fc.double({ noNaN: true, noDefaultInfinity: true }), { numRuns: 300, seed: 11 }).map((d) => `[${JSON.stringify(d)}]`)
    const all = [...texts, ...doubles]
    const expected = pythonCanonical(all)
    all.forEach((text, i) => expect(ours(text), text).toBe(expected[i]))
  })

  it('property: arbitrary bytes only ever raise bundle-malformed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const code = codeOf(() => parsePythonJson(bytes))
        return code === undefined || code === 'bundle-malformed'
      }),
      { numRuns: 2000 },
    )
  })
})
