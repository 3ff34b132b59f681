/**
 * Benchmark (not a test): how long the worst rule the cost bounds admit blocks the event loop.
 * In one run, in process: a rule that spends the whole evaluation budget (three nested
 * comprehensions over 100-element lists, stopped at MAX_EVALUATION_COST), against the 10-rule
 * release policy of bench/policy.ts's size class (one cheap rule), and the compile-time refusal of
 * the 7-nested rule. Read the ratio (budget-exhausting / cheap) and the absolute ms.
 *
 *   npm run build && node dist/bench/policy-budget.js
 */
import { MAX_EVALUATION_COST, compilePolicy, evaluatePolicy, policyBindings } from '../src/policy/index.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20)
const HUNDRED = `[${Array.from({ length: 100 }, (_, i) => i).join(',')}]`
const TEN = `[${Array.from({ length: 10 }, (_, i) => i).join(', ')}]`
const costly = compilePolicy([{ name: 'costly', expr: `${HUNDRED}.all(a, ${HUNDRED}.all(b, ${HUNDRED}.all(c, a + b + c >= 0)))` }])
const cheap = compilePolicy([{ name: 'cheap', expr: 'claims.debug == false && ear.status == "affirming"' }])
const bindings = policyBindings({ claims: { debug: false }, ear: { status: 'affirming' }, request: {}, time: new Date() })

function time(fn: () => void, rounds: number): number {
  const started = performance.now()
  for (let i = 0; i < rounds; i++) fn()
  return (performance.now() - started) / rounds
}

const costlyMs = time(() => evaluatePolicy(costly, bindings), ROUNDS)
const cheapMs = time(() => evaluatePolicy(cheap, bindings), ROUNDS * 1000)
const seven = `${TEN}.all(a, ${TEN}.all(b, ${TEN}.all(c, ${TEN}.all(d, ${TEN}.all(e, ${TEN}.all(f, ${TEN}.all(g, a + b + c + d + e + f + g >= 0)))))))`
const refuseMs = time(() => {
  try {
    compilePolicy([{ name: 'seven', expr: seven }])
  } catch {
    // refused, as expected
  }
}, ROUNDS)
console.log(
  JSON.stringify({
    budgetUnits: MAX_EVALUATION_COST,
    budgetExhaustedMs: Number(costlyMs.toFixed(1)),
    cheapRuleMs: Number(cheapMs.toFixed(4)),
    ratio: Math.round(costlyMs / cheapMs),
    sevenNestedRefusedMs: Number(refuseMs.toFixed(2)),
  }),
)
