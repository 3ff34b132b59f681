import { CelScalar, celEnv, isCelError, isCelList, isCelMap, isCelType, isCelUint, parse, plan, type CelInput, type CelValue } from '@bufbuild/cel'
import { strings } from '@bufbuild/cel/ext'
import { isMessage } from '@bufbuild/protobuf'
import { isReflectMessage } from '@bufbuild/protobuf/reflect'
import { DurationSchema, TimestampSchema, durationMs, timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt'
import { KeybrokerError } from '../errors.js'
import { toHex } from '../evidence/reader.js'
import type { JsonValue } from '../evidence/types.js'
import { CelCheckError, checkCel, listOf, mapOf, objectOf, T, type CelType, type Expr, type ParsedExpr } from './cel-check.js'
import { BUDGET_EXCEEDED, COST_FUNCS, MAX_COMPREHENSION_NESTING, MAX_RULE_NODES, instrumentRule, measureRule, withBudget } from './cost.js'

/**
 * Release rules in CEL (cel.dev), compiled with @bufbuild/cel: parsed, type-checked against the
 * declared variables (src/policy/cel-check.ts) and planned once per policy version; evaluated
 * per request. A rule holds only when it evaluates to `true`: `false`, a non-bool or a runtime
 * error (a missing claim, a division by zero, an overload that does not fit a `dyn` value) all
 * fail closed, and the error is named in the trace.
 *
 * Variables (see README "Release policy"):
 * - `claims`: the verified claims (evidenceType, platform, hardwareBacked, measurement,
 *   measurements, debug, tcb, hostData, instanceId, raw);
 * - `ear`: the appraisal against the secret's reference values (status, trustVector, matched,
 *   revoked, debugAcceptable, provenance, appraisal);
 * - `request`: evidenceType, clientIp, time (a timestamp), secret, via (`attest` or `token`).
 */
export interface PolicyRuleSource {
  readonly name: string
  readonly expr: string
  readonly description?: string | undefined
}

export interface CompiledRule {
  readonly name: string
  readonly expr: string
  readonly description: string | undefined
  readonly run: (bindings: CelBindings) => CelValue | Error
  /** The variable paths the rule reads (`claims.raw.guestSvn`, `ear.status`), for explain. */
  readonly refs: readonly { readonly path: string; readonly run: (bindings: CelBindings) => CelValue | Error }[]
}

export interface CompiledPolicy {
  readonly rules: readonly CompiledRule[]
}

/** What a rule sees. `time` becomes `request.time`, a CEL timestamp. */
export interface PolicyInput {
  readonly claims: { readonly [k: string]: JsonValue }
  readonly ear: { readonly [k: string]: JsonValue }
  readonly request: { readonly [k: string]: JsonValue }
  readonly time: Date
}

export type CelBindings = { readonly claims: CelInput; readonly ear: CelInput; readonly request: CelInput }

/** One rule's outcome. `values` (explain only) are the paths the rule reads and what they held. */
export interface RuleOutcome {
  readonly rule: string
  readonly passed: boolean
  readonly reason: string
  readonly error?: string
  readonly values?: { readonly [path: string]: JsonValue }
}

export const MAX_RULES = 64
export const MAX_RULE_LENGTH = 4096
export const RULE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/

const ENV = celEnv({
  // The cost meter's functions come last: its bounded `replace` overrides the extension's.
  funcs: [...strings, ...COST_FUNCS],
  variables: {
    // Declared dyn here: the static types are checked by cel-check.ts.
    claims: CelScalar.DYN,
    ear: CelScalar.DYN,
    request: CelScalar.DYN,
  },
})

const CLAIMS_TYPE: CelType = objectOf('claims', {
  evidenceType: T.string,
  platform: T.string,
  hardwareBacked: T.bool,
  measurement: T.string,
  measurements: mapOf(T.string, T.string),
  debug: T.bool,
  tcb: mapOf(T.string, T.dyn),
  hostData: T.string,
  instanceId: T.string,
  raw: mapOf(T.string, T.dyn),
  teeTpmTie: T.string,
})
const EAR_TYPE: CelType = objectOf('ear', {
  status: T.string,
  trustVector: mapOf(T.string, T.int),
  matched: listOf(T.string),
  revoked: listOf(T.string),
  debugAcceptable: T.bool,
  referenceValues: listOf(T.string),
  provenance: listOf(mapOf(T.string, T.dyn)),
  appraisal: mapOf(T.string, T.dyn),
})
const REQUEST_TYPE: CelType = objectOf('request', {
  evidenceType: T.string,
  clientIp: T.string,
  time: T.timestamp,
  secret: T.string,
  via: T.string,
})
const VARIABLES: ReadonlyMap<string, CelType> = new Map([
  ['claims', CLAIMS_TYPE],
  ['ear', EAR_TYPE],
  ['request', REQUEST_TYPE],
])
const ROOTS: ReadonlySet<string> = new Set(VARIABLES.keys())

interface RuleProblem {
  readonly rule: string
  readonly line: number
  readonly column: number
  readonly message: string
}

function invalid(problems: readonly RuleProblem[]): KeybrokerError {
  const first = problems[0]
  const detail =
    first === undefined
      ? 'the policy is invalid'
      : `rule ${first.rule}: ${first.line}:${first.column}: ${first.message}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}`
  return new KeybrokerError('policy-invalid', detail, { extensions: { errors: problems.slice(0, 10) } })
}

function lineColumn(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, Math.max(0, offset))
  const line = before.split('\n').length
  const column = offset - (before.lastIndexOf('\n') + 1) + 1
  return { line, column }
}

/**
 * Compiles a policy's rules: names unique and well-formed, each expression parsed, type-checked
 * and planned. Pure; cache the result per policy version.
 * @throws KeybrokerError `policy-invalid` naming each bad rule with line, column and message.
 */
export function compilePolicy(rules: readonly PolicyRuleSource[]): CompiledPolicy {
  if (rules.length === 0 || rules.length > MAX_RULES) {
    throw invalid([{ rule: '-', line: 1, column: 1, message: `a policy has 1 to ${MAX_RULES} rules` }])
  }
  const problems: RuleProblem[] = []
  const names = new Set<string>()
  const compiled: CompiledRule[] = []
  for (const rule of rules) {
    if (!RULE_NAME.test(rule.name)) problems.push({ rule: rule.name.slice(0, 64), line: 1, column: 1, message: 'rule names are lowercase letters, digits, ".", "_", "-" (at most 64)' })
    else if (names.has(rule.name)) problems.push({ rule: rule.name, line: 1, column: 1, message: 'duplicate rule name' })
    names.add(rule.name)
    if (rule.expr.length === 0 || rule.expr.length > MAX_RULE_LENGTH) {
      problems.push({ rule: rule.name, line: 1, column: 1, message: `an expression of 1 to ${MAX_RULE_LENGTH} characters` })
      continue
    }
    const result = compileRule(rule)
    if ('problems' in result) problems.push(...result.problems)
    else compiled.push(result.rule)
  }
  if (problems.length > 0) throw invalid(problems)
  return { rules: compiled }
}

function compileRule(rule: PolicyRuleSource): { rule: CompiledRule } | { problems: RuleProblem[] } {
  let parsed: ParsedExpr
  try {
    parsed = parse(rule.expr)
  } catch (err) {
    const offset = parseErrorOffset(err)
    return { problems: [{ rule: rule.name, ...lineColumn(rule.expr, offset), message: syntaxMessage(err) }] }
  }
  try {
    checkCel(parsed, VARIABLES)
  } catch (err) {
    if (err instanceof CelCheckError) {
      return { problems: err.errors.map((e) => ({ rule: rule.name, ...lineColumn(rule.expr, e.offset), message: e.message })) }
    }
    throw err
  }
  // Static bounds (src/policy/cost.ts): checked before anything is planned or run.
  const { nesting, nodes } = measureRule(parsed.expr)
  if (nesting > MAX_COMPREHENSION_NESTING) {
    return { problems: [{ rule: rule.name, line: 1, column: 1, message: `comprehensions (all, exists, exists_one, map, filter) nested ${nesting} deep; at most ${MAX_COMPREHENSION_NESTING}` }] }
  }
  if (nodes > MAX_RULE_NODES) {
    return { problems: [{ rule: rule.name, line: 1, column: 1, message: `expression of ${nodes} nodes; at most ${MAX_RULE_NODES}` }] }
  }
  const run = plan(ENV, instrumentRule(parsed))
  const refs = collectRefs(parsed.expr).map((r) => ({ path: r.path, run: plan(ENV, r.expr) }))
  return { rule: { name: rule.name, expr: rule.expr, description: rule.description, run, refs } }
}

/** The parser (peggy) reports `location.start.offset`; anything else points at the start. */
function parseErrorOffset(err: unknown): number {
  if (err instanceof Error && 'location' in err) {
    const location: unknown = err.location
    if (location !== null && typeof location === 'object' && 'start' in location) {
      const start: unknown = location.start
      if (start !== null && typeof start === 'object' && 'offset' in start && typeof start.offset === 'number') return start.offset
    }
  }
  return 0
}

function syntaxMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : 'syntax error'
  // "<input>:1:10: found + but …": the position is reported separately.
  return `syntax error: ${message.replace(/^<input>:\d+:\d+:\s*/, '').slice(0, 200)}`
}

/** Maximal `claims.a.b` / `ear.x` / `request.y` chains in the rule, de-duplicated, in order. */
function collectRefs(root: Expr): { path: string; expr: Expr }[] {
  const out = new Map<string, Expr>()
  const visit = (e: Expr | undefined, bound: ReadonlySet<string>): void => {
    if (e === undefined) return
    const path = selectPath(e)
    if (path !== undefined) {
      const head = path.split('.')[0] ?? ''
      if (ROOTS.has(head) && !bound.has(head)) {
        if (!out.has(path)) out.set(path, e)
        return
      }
    }
    const k = e.exprKind
    switch (k.case) {
      case 'selectExpr':
        visit(k.value.operand, bound)
        return
      case 'callExpr':
        visit(k.value.target, bound)
        for (const a of k.value.args) visit(a, bound)
        return
      case 'listExpr':
        for (const x of k.value.elements) visit(x, bound)
        return
      case 'structExpr':
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') visit(entry.keyKind.value, bound)
          visit(entry.value, bound)
        }
        return
      case 'comprehensionExpr': {
        const c = k.value
        visit(c.iterRange, bound)
        const inner = new Set([...bound, c.iterVar, c.iterVar2, c.accuVar])
        visit(c.accuInit, bound)
        visit(c.loopCondition, inner)
        visit(c.loopStep, inner)
        visit(c.result, inner)
        return
      }
      default:
        return
    }
  }
  visit(root, new Set())
  return [...out].slice(0, 32).map(([path, expr]) => ({ path, expr }))
}

function selectPath(e: Expr): string | undefined {
  const k = e.exprKind
  if (k.case === 'identExpr') return k.value.name
  if (k.case === 'selectExpr' && !k.value.testOnly && k.value.operand !== undefined) {
    const inner = selectPath(k.value.operand)
    return inner === undefined ? undefined : `${inner}.${k.value.field}`
  }
  return undefined
}

/** JSON → CEL input: integers become CEL `int` (bigint), other numbers `double`. */
export function toCelInput(v: JsonValue): CelInput {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : v
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map((x: JsonValue) => toCelInput(x))
  const out: { [k: string]: CelInput } = {}
  for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: toCelInput(x), enumerable: true, writable: true, configurable: true })
  return out
}

/** Builds the CEL bindings once per request (shared by every rule of every secret). */
export function policyBindings(input: PolicyInput): CelBindings {
  const request: { [k: string]: CelInput } = { time: timestampFromDate(input.time) }
  for (const [k, v] of Object.entries(input.request)) if (k !== 'time') request[k] = toCelInput(v)
  return { claims: toCelInput(input.claims), ear: toCelInput(input.ear), request }
}

/**
 * Evaluates every rule (a denial names all failed ones). With `explain`, each outcome also
 * carries the values of the paths the rule reads.
 */
export function evaluatePolicy(policy: CompiledPolicy, bindings: CelBindings, options: { readonly explain?: boolean } = {}): RuleOutcome[] {
  return withBudget((exceeded) => policy.rules.map((rule) => evaluateRule(rule, bindings, options, exceeded)))
}

/**
 * One rule under the evaluation's cost meter. Once the budget is exceeded — in this rule or an
 * earlier one — the rule fails closed with `evaluation-budget-exceeded`, whatever its value
 * (`||` may have absorbed the error), and later rules are not run at all.
 */
function evaluateRule(rule: CompiledRule, bindings: CelBindings, options: { readonly explain?: boolean }, exceeded: () => boolean): RuleOutcome {
  const described = rule.description ?? rule.expr
  const overBudget = (): RuleOutcome => ({
    rule: rule.name,
    passed: false,
    reason: `evaluation budget exceeded (fails closed): ${described}`,
    error: `${BUDGET_EXCEEDED}: the policy's evaluation exceeded its cost budget`,
  })
  if (exceeded()) return overBudget()
  const result = safeRun(rule.run, bindings)
  if (exceeded()) return overBudget()
  const values = options.explain === true ? Object.fromEntries(rule.refs.map((r) => [r.path, celToJson(safeRun(r.run, bindings))])) : undefined
  let outcome: RuleOutcome
  if (isCelError(result) || result instanceof Error) {
    outcome = { rule: rule.name, passed: false, reason: `evaluation error (fails closed): ${described}`, error: errorText(result) }
  } else if (result === true) {
    outcome = { rule: rule.name, passed: true, reason: `holds: ${described}` }
  } else if (result === false) {
    outcome = { rule: rule.name, passed: false, reason: `does not hold: ${described}` }
  } else {
    outcome = { rule: rule.name, passed: false, reason: `not a bool (fails closed): ${described}`, error: 'the rule did not evaluate to a bool' }
  }
  return values === undefined ? outcome : { ...outcome, values }
}

function safeRun(run: (b: CelBindings) => CelValue | Error, bindings: CelBindings): CelValue | Error {
  try {
    return run(bindings)
  } catch (err) {
    // @bufbuild/cel returns errors as values; anything thrown is still a failed rule, never a 500.
    return err instanceof Error ? err : new Error('evaluation failed')
  }
}

function errorText(err: Error): string {
  return err.message.slice(0, 300)
}

/** A CEL value as JSON for traces: int → number (or decimal string beyond 2^53), bytes → hex. */
export function celToJson(v: CelValue | Error, depth = 0): JsonValue {
  if (v instanceof Error || isCelError(v)) return { error: errorText(v) }
  if (depth > 16) return '…'
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v)
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()
  if (isCelUint(v)) return celToJson(v.value, depth)
  if (v instanceof Uint8Array) return toHex(v)
  if (isCelList(v)) return [...v].slice(0, 100).map((x) => celToJson(x, depth + 1))
  if (isCelMap(v)) {
    const out: { [k: string]: JsonValue } = {}
    let n = 0
    for (const [k, x] of v) {
      if (n++ >= 100) break
      Object.defineProperty(out, String(isCelUint(k) ? k.value : k), { value: celToJson(x, depth + 1), enumerable: true, writable: true, configurable: true })
    }
    return out
  }
  if (isCelType(v)) return `type(${v.name})`
  if (isReflectMessage(v)) {
    if (isMessage(v.message, TimestampSchema)) return timestampDate(v.message).toISOString()
    if (isMessage(v.message, DurationSchema)) return `${durationMs(v.message) / 1000}s`
    return v.desc.typeName
  }
  return null
}
