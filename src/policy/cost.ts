import { CelScalar, celFunc, celMethod, isCelList, isCelMap, parse } from '@bufbuild/cel'
import type { Expr, ParsedExpr } from './cel-check.js'

/**
 * Bounds on what a release rule may cost (README, "Reliability and security").
 *
 * At compile time a rule may nest at most {@link MAX_COMPREHENSION_NESTING} comprehensions
 * (`all`, `exists`, `exists_one`, `map`, `filter`) and hold at most {@link MAX_RULE_NODES}
 * expression nodes: beyond, `policy-invalid` names the rule. At evaluation, every comprehension
 * step and every function result is charged to a meter shared by all rules of one evaluation —
 * 1 unit per step or call plus 1 per 16 elements or characters of the value produced — and
 * evaluation stops at {@link MAX_EVALUATION_COST} units: the rule being evaluated and every rule
 * after it fail closed with the error {@link BUDGET_EXCEEDED}. `replace` refuses to build a
 * string over {@link MAX_STRING_CHARS} characters before building it.
 */
export const MAX_COMPREHENSION_NESTING = 3
export const MAX_RULE_NODES = 512
export const MAX_EVALUATION_COST = 100_000
export const MAX_STRING_CHARS = 1 << 20
/** The stable name of the budget failure, at the start of the rule's `error`. */
export const BUDGET_EXCEEDED = 'evaluation-budget-exceeded'

const COST_FUNCTION = 'keybroker.cost'

/** The meter of the evaluation in progress: CEL evaluation is synchronous, so one at a time. */
let meter: { remaining: number; exceeded: boolean } | undefined

class BudgetExceededError extends Error {
  constructor() {
    super(`${BUDGET_EXCEEDED}: the policy's evaluation exceeded ${MAX_EVALUATION_COST} cost units`)
  }
}

function sizeOf(v: unknown): number {
  if (typeof v === 'string') return v.length
  if (v instanceof Uint8Array) return v.byteLength
  if (isCelList(v)) return v.size
  if (isCelMap(v)) return v.size
  return 0
}

function charge(units: number): void {
  if (meter === undefined) return
  meter.remaining -= units
  if (meter.remaining < 0) {
    meter.exceeded = true
    throw new BudgetExceededError()
  }
}

/** Functions the instrumented rules call; registered in the CEL environment. */
export const COST_FUNCS = [
  celFunc(COST_FUNCTION, [CelScalar.DYN], CelScalar.DYN, (v) => {
    charge(1 + Math.floor(sizeOf(v) / 16))
    return v
  }),
  // The strings extension's replace, refusing a result over MAX_STRING_CHARS before building it
  // ("".replace("", s) inserts s between every character: the one operation that multiplies sizes).
  celMethod('replace', CelScalar.STRING, [CelScalar.STRING, CelScalar.STRING], CelScalar.STRING, function (from, to) {
    return boundedReplace(this, from, to, -1n)
  }),
  celMethod('replace', CelScalar.STRING, [CelScalar.STRING, CelScalar.STRING, CelScalar.INT], CelScalar.STRING, function (from, to, n) {
    return boundedReplace(this, from, to, n)
  }),
]

function boundedReplace(s: string, from: string, to: string, n: bigint): string {
  if (n === 0n) return s
  const occurrences = from === '' ? s.length + 1 : s.split(from).length - 1
  const count = n < 0n ? occurrences : Math.min(occurrences, Number(n > BigInt(occurrences) ? BigInt(occurrences) : n))
  const size = s.length + count * (to.length - from.length)
  if (size > MAX_STRING_CHARS) throw new Error(`replace would build ${size} characters; at most ${MAX_STRING_CHARS}`)
  if (from === '') {
    // Go's strings.Replace semantics (cel-go): insert before every character and at the end, up to n times.
    const chars = [...s]
    let out = ''
    let done = 0
    for (let i = 0; i <= chars.length; i++) {
      if (done < count) {
        out += to
        done += 1
      }
      if (i < chars.length) out += chars[i]
    }
    return out
  }
  let out = ''
  let rest = s
  for (let done = 0; done < count; done++) {
    const at = rest.indexOf(from)
    if (at < 0) break
    out += rest.slice(0, at) + to
    rest = rest.slice(at + from.length)
  }
  return out + rest
}

/** What the static bounds found in a rule: the deepest comprehension nesting and the node count. */
export function measureRule(root: Expr): { nesting: number; nodes: number } {
  let nodes = 0
  const visit = (e: Expr | undefined, depth: number): number => {
    if (e === undefined) return depth
    nodes += 1
    const k = e.exprKind
    switch (k.case) {
      case 'selectExpr':
        return visit(k.value.operand, depth)
      case 'callExpr':
        return Math.max(visit(k.value.target, depth), ...k.value.args.map((a) => visit(a, depth)))
      case 'listExpr':
        return Math.max(depth, ...k.value.elements.map((x) => visit(x, depth)))
      case 'structExpr':
        return Math.max(depth, ...k.value.entries.map((en) => Math.max(en.keyKind.case === 'mapKey' ? visit(en.keyKind.value, depth) : depth, visit(en.value, depth))))
      case 'comprehensionExpr': {
        const c = k.value
        const inner = depth + 1
        return Math.max(inner, visit(c.iterRange, depth), visit(c.accuInit, depth), visit(c.loopCondition, inner), visit(c.loopStep, inner), visit(c.result, inner))
      }
      default:
        return depth
    }
  }
  const nesting = visit(root, 0)
  return { nesting, nodes }
}

/**
 * A copy of the rule with every call's result and every comprehension's loop condition passed
 * through the cost function (ids above the parser's, so positions in errors stay right).
 */
export function instrumentRule(parsed: ParsedExpr): ParsedExpr {
  let nextId = maxId(parsed.expr) + 1n
  const template = parse(`${COST_FUNCTION.replace('.', '_')}(x)`).expr
  const wrap = (inner: Expr): Expr => {
    const w = structuredClone(template) as Expr
    if (w.exprKind.case !== 'callExpr') throw new TypeError('cost wrapper template')
    w.id = nextId++
    w.exprKind.value.function = COST_FUNCTION
    w.exprKind.value.args = [inner]
    return w
  }
  const walk = (e: Expr | undefined): Expr | undefined => {
    if (e === undefined) return undefined
    const k = e.exprKind
    switch (k.case) {
      case 'selectExpr':
        k.value.operand = walk(k.value.operand)
        return e
      case 'callExpr':
        k.value.target = walk(k.value.target)
        k.value.args = k.value.args.map((a) => walk(a) ?? a)
        return wrap(e)
      case 'listExpr':
        k.value.elements = k.value.elements.map((x) => walk(x) ?? x)
        return e
      case 'structExpr':
        for (const en of k.value.entries) {
          if (en.keyKind.case === 'mapKey') en.keyKind.value = walk(en.keyKind.value) ?? en.keyKind.value
          en.value = walk(en.value)
        }
        return e
      case 'comprehensionExpr': {
        const c = k.value
        c.iterRange = walk(c.iterRange)
        c.accuInit = walk(c.accuInit)
        const cond = walk(c.loopCondition)
        c.loopCondition = cond === undefined ? undefined : cond.exprKind.case === 'callExpr' && cond.exprKind.value.function === COST_FUNCTION ? cond : wrap(cond)
        c.loopStep = walk(c.loopStep)
        c.result = walk(c.result)
        return e
      }
      default:
        return e
    }
  }
  const copy = structuredClone(parsed) as ParsedExpr
  copy.expr = walk(copy.expr) ?? copy.expr
  return copy
}

function maxId(e: Expr | undefined): bigint {
  let max = 0n
  const seen = (x: unknown): void => {
    if (x === null || typeof x !== 'object') return
    if (Array.isArray(x)) {
      for (const y of x) seen(y)
      return
    }
    const o = x as Record<string, unknown>
    if (o['$typeName'] === 'cel.expr.Expr' && typeof o['id'] === 'bigint' && o['id'] > max) max = o['id']
    for (const v of Object.values(o)) seen(v)
  }
  seen(e)
  return max
}

/**
 * Runs `evaluate` with a fresh meter of {@link MAX_EVALUATION_COST} units.
 * @returns its result and whether the budget was exceeded (rules evaluated after that must fail).
 */
export function withBudget<T>(evaluate: (exceeded: () => boolean) => T): T {
  const previous = meter
  meter = { remaining: MAX_EVALUATION_COST, exceeded: false }
  const current = meter
  try {
    return evaluate(() => current.exceeded)
  } finally {
    meter = previous
  }
}
