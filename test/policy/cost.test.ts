import { describe, expect, it } from 'vitest'
import { KeybrokerError } from '../../src/errors.js'
import { BUDGET_EXCEEDED, MAX_COMPREHENSION_NESTING, compilePolicy, evaluatePolicy, policyBindings, type PolicyInput } from '../../src/policy/index.js'

const TEN = `[${Array.from({ length: 10 }, (_, i) => i).join(', ')}]`
const HUNDRED = `[${Array.from({ length: 100 }, (_, i) => i).join(',')}]`

/** The policy: 7 comprehensions nested over 10-element lists (10^7 steps, 8.5 s before). */
const SEVEN_NESTED = `${TEN}.all(a, ${TEN}.all(b, ${TEN}.all(c, ${TEN}.all(d, ${TEN}.all(e, ${TEN}.all(f, ${TEN}.all(g, a + b + c + d + e + f + g >= 0)))))))`
/** Passes the static bounds (3 levels, < 512 nodes) but needs 10^6 steps. */
const TOO_COSTLY = `${HUNDRED}.all(a, ${HUNDRED}.all(b, ${HUNDRED}.all(c, a + b + c >= 0)))`

const INPUT: PolicyInput = {
  claims: { evidenceType: 'sample', measurement: 'ab', debug: false, raw: { events: Array.from({ length: 1000 }, (_, i) => `event-${i}`) } },
  ear: { status: 'affirming' },
  request: { via: 'attest' },
  time: new Date('2026-06-01T12:00:00Z'),
}
const BINDINGS = policyBindings(INPUT)

function compileProblem(rules: { name: string; expr: string }[]): { code: string; detail: string } {
  try {
    compilePolicy(rules)
  } catch (err) {
    if (err instanceof KeybrokerError) return { code: err.code, detail: err.detail }
    throw err
  }
  throw new Error('compiled')
}

describe('policy cost bounds', () => {
  it('refuses the issue\'s 7 nested comprehensions at compile time as policy-invalid, naming the rule', () => {
    const problem = compileProblem([{ name: 'fine', expr: 'true' }, { name: 'nested-seven', expr: SEVEN_NESTED }])
    expect(problem.code).toBe('policy-invalid')
    expect(problem.detail).toContain('rule nested-seven')
    expect(problem.detail).toContain(`nested 7 deep; at most ${MAX_COMPREHENSION_NESTING}`)
  })

  it('refuses a rule beyond the node bound', () => {
    const big = Array.from({ length: 300 }, (_, i) => `request.via == "v${i}"`).join(' || ')
    expect(big.length).toBeLessThan(8192)
    const problem = compileProblem([{ name: 'huge', expr: big.slice(0, 4096).replace(/\|\|[^|]*$/, '') }])
    expect(problem).toMatchObject({ code: 'policy-invalid' })
    expect(problem.detail).toMatch(/rule huge: .*nodes; at most 512/)
  })

  it('stops a rule that compiles but exceeds the evaluation budget, failing closed with a named error; later rules are not run', () => {
    const policy = compilePolicy([
      { name: 'costly', expr: TOO_COSTLY },
      { name: 'after', expr: 'true' },
    ])
    const [costly, after] = evaluatePolicy(policy, BINDINGS, { explain: true })
    expect(costly).toMatchObject({ rule: 'costly', passed: false })
    expect(costly?.error).toMatch(new RegExp(`^${BUDGET_EXCEEDED}`))
    expect(after).toMatchObject({ rule: 'after', passed: false })
    expect(after?.error).toMatch(new RegExp(`^${BUDGET_EXCEEDED}`))
    // A fresh evaluation has a fresh budget: a cheap policy afterwards is unaffected.
    expect(evaluatePolicy(compilePolicy([{ name: 'cheap', expr: 'true' }]), BINDINGS)[0]?.passed).toBe(true)
  })

  it('fails closed even where || would absorb the error', () => {
    const [r] = evaluatePolicy(compilePolicy([{ name: 'absorbed', expr: `${TOO_COSTLY} || true` }]), BINDINGS)
    expect(r).toMatchObject({ passed: false })
    expect(r?.error).toMatch(new RegExp(`^${BUDGET_EXCEEDED}`))
  })

  it('charges by the size of what is built: a string doubled in nested comprehensions stops', () => {
    const s = 'x'.repeat(1000)
    const doubling = `["${s}"].all(a, [a + a + a + a + a + a + a + a].all(b, [b + b + b + b + b + b + b + b].all(c, size(c + c + c + c + c + c + c + c) > 0)))`
    const [r] = evaluatePolicy(compilePolicy([{ name: 'doubling', expr: doubling }]), BINDINGS)
    expect(r?.passed).toBe(false)
    expect(r?.error).toMatch(new RegExp(`^${BUDGET_EXCEEDED}`))
  })

  it('refuses a replace that would multiply a string beyond the bound, before building it', () => {
    const [r] = evaluatePolicy(compilePolicy([{ name: 'blowup', expr: `size("${'a'.repeat(2000)}".replace("", "${'b'.repeat(2000)}")) > 0` }]), BINDINGS)
    expect(r?.passed).toBe(false)
    expect(r?.error).toContain('replace would build')
    // Ordinary replaces keep their meaning.
    const ok = evaluatePolicy(
      compilePolicy([
        { name: 'r1', expr: '"a-b-c".replace("-", "+") == "a+b+c"' },
        { name: 'r2', expr: '"a-b-c".replace("-", "+", 1) == "a+b-c"' },
        { name: 'r3', expr: '"ab".replace("", "-") == "-a-b-"' },
      ]),
      BINDINGS,
    )
    expect(ok.map((o) => [o.rule, o.passed, o.error])).toEqual([
      ['r1', true, undefined],
      ['r2', true, undefined],
      ['r3', true, undefined],
    ])
  })

  it('lets ordinary rules over long claim lists through: exists, map and filter over 1000 entries', () => {
    const rules = [
      { name: 'exists', expr: 'claims.raw.events.exists(e, e == "event-999")' },
      { name: 'map', expr: 'size(claims.raw.events.map(e, e + "!")) == 1000' },
      { name: 'filter', expr: 'size(claims.raw.events.filter(e, e.endsWith("7"))) == 100' },
      { name: 'nested', expr: `${TEN}.all(a, ${TEN}.exists(b, claims.raw.events.exists(e, e == "event-" + string(a * 10 + b))))` },
    ]
    expect(evaluatePolicy(compilePolicy(rules), BINDINGS).map((o) => [o.rule, o.passed, o.error])).toEqual(rules.map((r) => [r.name, true, undefined]))
  })
})
