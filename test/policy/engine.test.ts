import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { KeybrokerError } from '../../src/errors.js'
import { compilePolicy, DEFAULT_POLICY, evaluatePolicy, policyBindings, type PolicyInput } from '../../src/policy/index.js'
import type { JsonValue } from '../../src/evidence/types.js'
import { isError, jsonDoc, oracle, passes, rawDoc, rule, ruleText } from './cel-oracle.js'

const INPUT: PolicyInput = {
  claims: {
    evidenceType: 'snp',
    platform: 'amd-sev-snp',
    hardwareBacked: true,
    measurement: 'ab'.repeat(48),
    measurements: { hostData: '00'.repeat(32) },
    debug: false,
    tcb: { snp: 8, microcode: 115 },
    raw: { guestSvn: 4, product: 'Milan', policyFlags: { debug: false, smt: true }, ratio: 0.5 },
  },
  ear: {
    status: 'affirming',
    trustVector: { executables: 2, configuration: 2, hardware: 2 },
    matched: ['web-v3'],
    revoked: [],
    debugAcceptable: true,
    referenceValues: ['web-v3'],
    provenance: [{ set: 'web-v3', source: 'bundle', signer: 'ab'.repeat(32) }],
    appraisal: { 'web-v3': { matched: true, claims: { 'tcb.snp': true } } },
  },
  request: { evidenceType: 'snp', clientIp: '10.1.2.3', secret: 'db', via: 'attest' },
  time: new Date('2026-06-01T12:00:00Z'),
}
const BINDINGS = policyBindings(INPUT)

function outcomes(rules: { name: string; expr: string }[], input = BINDINGS, explain = false) {
  return evaluatePolicy(compilePolicy(rules), input, { explain })
}

function compileError(expr: string): { code: string | undefined; errors: unknown } {
  try {
    compilePolicy([{ name: 'r', expr }])
    return { code: undefined, errors: undefined }
  } catch (err) {
    return { code: err instanceof KeybrokerError ? err.code : 'not-a-keybroker-error', errors: err instanceof KeybrokerError ? err.extensions?.['errors'] : String(err) }
  }
}

describe('CEL release rules', () => {
  it('evaluates the CEL the rules are written in: operators, macros, strings, timestamps, maps', () => {
    const rules = [
      'claims.raw.guestSvn >= 3 && claims.tcb.snp >= 8',
      'claims.raw.guestSvn + 1 == 5',
      'claims.raw.ratio < 1.0',
      'claims.raw.product in ["Milan", "Genoa"]',
      '!claims.raw.policyFlags.debug',
      'has(claims.raw.guestSvn) && !has(claims.raw.nope)',
      'claims.measurement.startsWith("abab") && claims.measurement.matches("^[0-9a-f]{96}$")',
      'size(claims.measurement) == 96',
      'ear.matched.exists(s, s == "web-v3") && ear.matched.all(s, s.startsWith("web"))',
      'ear.provenance.exists(p, p.source == "bundle")',
      'ear.appraisal["web-v3"].claims["tcb.snp"]',
      'ear.trustVector["executables"] <= 3',
      'request.time > timestamp("2026-01-01T00:00:00Z") && request.time.getFullYear() == 2026',
      'request.time - timestamp("2026-06-01T00:00:00Z") < duration("24h")',
      'request.clientIp.startsWith("10.") || request.clientIp == ""',
      'claims.platform.upperAscii() == "AMD-SEV-SNP"',
      '{"a": 1}["a"] == 1 && [1, 2, 3].map(x, x * 2)[2] == 6 && [1, 2].filter(x, x > 1).size() == 1',
      'claims.debug ? false : true',
      'int(claims.raw.ratio * 10.0) == 5',
      'string(claims.tcb.snp) == "8"',
    ].map((expr, i) => ({ name: `r${i}`, expr }))
    const result = outcomes(rules)
    expect(result.filter((r) => !r.passed)).toEqual([])
  })

  it('refuses rules that do not parse or type-check, with line and column', () => {
    const cases: [string, number, number][] = [
      ['claims.debug ==', 1, 14],
      ['claims.debgu', 1, 7],
      ['secrets.x', 1, 1],
      ['claims.debug + 1 == 2', 1, 14],
      ['claims.measurement', 1, 7],
      ['frob(1)', 1, 1],
      ['claims.measurement.nope()', 1, 19],
      ['startsWith("a", "b")', 1, 1],
      ['1 == "a"', 1, 2],
      ['claims.debug &&\n  ear.statuss == "affirming"', 2, 6],
      ['request.time > 5', 1, 14],
      ['google.protobuf.Duration{seconds: 1} == duration("1s")', 1, 1],
    ]
    for (const [expr, line, column] of cases) {
      const { code, errors } = compileError(expr)
      expect(code, expr).toBe('policy-invalid')
      expect((errors as { line: number; column: number }[])[0], expr).toMatchObject({ rule: 'r', line, column })
    }
  })

  it('refuses bad rule sets: none, too many, duplicate or bad names, empty or long expressions', () => {
    const code = (rules: { name: string; expr: string }[]) => {
      try {
        compilePolicy(rules)
        return undefined
      } catch (err) {
        return err instanceof KeybrokerError ? err.code : 'other'
      }
    }
    expect(code([])).toBe('policy-invalid')
    expect(code(Array.from({ length: 65 }, (_, i) => ({ name: `r${i}`, expr: 'true' })))).toBe('policy-invalid')
    expect(code([{ name: 'a', expr: 'true' }, { name: 'a', expr: 'true' }])).toBe('policy-invalid')
    expect(code([{ name: 'Bad Name', expr: 'true' }])).toBe('policy-invalid')
    expect(code([{ name: 'a', expr: '' }])).toBe('policy-invalid')
    expect(code([{ name: 'a', expr: `true${' && true'.repeat(600)}` }])).toBe('policy-invalid')
  })

  it('fails closed on runtime errors and non-bool results, naming the rule and the error', () => {
    const result = outcomes([
      { name: 'missing', expr: 'claims.raw.nope > 1' },
      { name: 'divide', expr: '1 / (claims.tcb.snp - 8) == 1' },
      { name: 'index', expr: 'ear.matched[5] == "x"' },
      { name: 'dyn-type', expr: 'claims.raw.product > 3' },
      { name: 'dyn-not-bool', expr: 'claims.raw.guestSvn' },
      { name: 'false', expr: 'false' },
      { name: 'true', expr: 'true' },
    ])
    expect(result.map((r) => [r.rule, r.passed, r.error === undefined])).toEqual([
      ['missing', false, false],
      ['divide', false, false],
      ['index', false, false],
      ['dyn-type', false, false],
      ['dyn-not-bool', false, false],
      ['false', false, true],
      ['true', true, true],
    ])
    expect(result[0]?.reason).toMatch(/^evaluation error \(fails closed\)/)
  })

  it('explains: the values of the paths each rule reads, not of comprehension variables', () => {
    const [r1, r2, r3] = outcomes(
      [
        { name: 'svn', expr: 'claims.raw.guestSvn >= 5 && claims.tcb.snp >= 8' },
        { name: 'loop', expr: 'ear.matched.exists(s, s == claims.raw.product)' },
        { name: 'time', expr: 'request.time < timestamp("2026-01-01T00:00:00Z")' },
      ],
      BINDINGS,
      true,
    )
    expect(r1).toMatchObject({ passed: false, values: { 'claims.raw.guestSvn': 4, 'claims.tcb.snp': 8 } })
    expect(r2?.values).toEqual({ 'ear.matched': ['web-v3'], 'claims.raw.product': 'Milan' })
    expect(r3?.values).toEqual({ 'request.time': '2026-06-01T12:00:00.000Z' })
    const missing = outcomes([{ name: 'm', expr: 'claims.raw.nope == 1' }], BINDINGS, true)[0]
    expect(missing?.values?.['claims.raw.nope']).toEqual({ error: expect.any(String) })
  })

  it('the default rules read only ear', () => {
    expect(evaluatePolicy(DEFAULT_POLICY, BINDINGS).every((r) => r.passed)).toBe(true)
    const denied = policyBindings({ ...INPUT, ear: { ...INPUT.ear, status: 'warning', matched: [], debugAcceptable: false } })
    expect(evaluatePolicy(DEFAULT_POLICY, denied).filter((r) => !r.passed).map((r) => r.rule)).toEqual([
      'measurement-in-reference-values',
      'debug-disabled',
      'ear-status-affirming',
    ])
  })

  it('property: arbitrary rule text compiles or is policy-invalid, nothing else', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 60 }),
          fc.array(fc.constantFrom('claims', 'ear', 'request', '.', 'raw', 'debug', '(', ')', '[', ']', '==', '&&', '!', '1', '"x"', 'size', 'has', ',', ' ', 'exists', 'x', '?', ':', '+', 'in'), { maxLength: 12 }).map((t) => t.join('')),
        ),
        (expr) => {
          const { code } = compileError(expr)
          return code === undefined || code === 'policy-invalid'
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('property: generated rules over any claims document agree with an independent CEL oracle (test/policy/cel-oracle.ts)', () => {
    fc.assert(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 4 }), rawDoc, jsonDoc, (rules, raw, tcb) => {
        const sources = rules.map((r, i) => ({ name: `r${i}`, expr: ruleText(r) }))
        const input = policyBindings({ ...INPUT, claims: { ...INPUT.claims, raw, tcb } })
        const result = evaluatePolicy(compilePolicy(sources), input, { explain: true })
        const claims = { raw, tcb }
        expect(result.map((r) => r.rule)).toEqual(sources.map((r) => r.name))
        for (const [i, r] of rules.entries()) {
          const expected = oracle(r, claims)
          const got = result[i]
          const where = `${sources[i]?.expr} on ${JSON.stringify(claims)}`
          expect(got?.passed, where).toBe(passes(expected))
          // An evaluation error is reported as one (fails closed, named), a plain false is not.
          expect(got?.error !== undefined, where).toBe(isError(expected))
        }
      }),
      { numRuns: 600 },
    )
  })

  it('the oracle itself: hand-checked outcomes of CEL error and equality semantics', () => {
    const claims = { raw: { guestSvn: 4, x: { y: 'z' }, list: [1.0, 'a'] }, tcb: 7 }
    const cmp = (path: string[], op: '==' | '<', lit: number | string | null) => oracle({ k: 'cmp', path, op, lit }, claims)
    expect(cmp(['raw', 'guestSvn'], '==', 4)).toBe(true)
    expect(cmp(['raw', 'guestSvn'], '==', 'z')).toBe(false) // heterogeneous equality: no error
    expect(isError(cmp(['raw', 'guestSvn'], '<', 'z'))).toBe(true) // no ordering int < string
    expect(isError(cmp(['raw', 'nope'], '==', 1))).toBe(true) // missing key
    expect(isError(cmp(['tcb', 'snp'], '==', 1))).toBe(true) // select on an int
    const missing = { k: 'cmp', path: ['raw', 'nope'], op: '==', lit: 1 } as const
    const yes = { k: 'cmp', path: ['raw', 'x', 'y'], op: '==', lit: 'z' } as const
    expect(oracle({ k: 'or', a: missing, b: yes }, claims)).toBe(true)
    expect(oracle({ k: 'and', a: missing, b: { k: 'not', a: yes } }, claims)).toBe(false)
    expect(isError(oracle({ k: 'and', a: missing, b: yes }, claims))).toBe(true)
    expect(oracle({ k: 'exists', path: ['raw', 'list'], lit: 1 }, claims)).toBe(true)
    expect(oracle({ k: 'in', lit: 'y', path: ['raw', 'x'] }, claims)).toBe(true)
    // The two named deviations of @bufbuild/cel from cel-spec the oracle follows, pinned on the
    // engine itself so that a library upgrade that changes them is noticed here.
    const engine = (expr: string, raw: Record<string, JsonValue>) => {
      const [r] = evaluatePolicy(compilePolicy([{ name: 'r', expr }]), policyBindings({ ...INPUT, claims: { ...INPUT.claims, raw } }))
      return r?.error === undefined ? r?.passed : 'error'
    }
    expect(engine('has(claims.raw.a)', { a: null })).toBe(false)
    expect(engine('"a" in claims.raw', { a: null })).toBe(false)
    expect(engine('claims.raw.a == null', { a: null })).toBe(true)
    expect(engine('!has(claims.raw.a.b)', { a: 3 })).toBe(true)
    expect(engine('!has(claims.raw.a.b)', { c: 3 })).toBe('error')
  })
})
