/**
 * A small CEL oracle for the rules the engine property generates: a grammar of boolean rules
 * over dynamic JSON paths and a direct evaluator of the same rules on the JSON document, written
 * from the CEL language definition (cel-spec `doc/langdef.md`), not from @bufbuild/cel:
 *
 * - selecting a key a map lacks, or a field of a non-map, is an error ("Field Selection");
 *   `has(m.f)` is presence in a map, and an error on anything else ("Macros");
 * - `==` / `!=` never fail: values of different types are unequal, numbers compare by value
 *   across int and double, lists and maps element-wise ("Equality", heterogeneous equality);
 * - `<` `<=` `>` `>=` are defined between numbers (by value), strings (by code point) and bools;
 *   anything else is a no-matching-overload error ("Ordering");
 * - `&&` and `||` are commutative over errors: `false && error` is false, `true || error` is
 *   true, otherwise an error wins ("Logical Operators"); `!error` and a ternary on an error
 *   condition are errors;
 * - `size` counts code points of a string, elements of a list, entries of a map;
 * - `e in list` is `exists(x, x == e)`, `k in map` is key presence; `exists` over a map ranges
 *   over its keys; `exists` is true if any element is, else an error if any was, else false.
 *
 * JSON integers become CEL ints and other numbers doubles; comparisons are by value across the
 * two, so the oracle keeps plain numbers.
 */
import fc from 'fast-check'
import type { JsonValue } from '../../src/evidence/types.js'

export type Literal = number | string | boolean | null
export type Path = readonly string[] // e.g. ['raw', 'x', 'y'] for claims.raw.x.y

export type Rule =
  | { readonly k: 'cmp'; readonly path: Path; readonly op: '==' | '!=' | '<' | '<=' | '>' | '>='; readonly lit: Literal }
  | { readonly k: 'has'; readonly path: Path }
  | { readonly k: 'size'; readonly path: Path; readonly op: '==' | '>'; readonly n: number }
  | { readonly k: 'exists'; readonly path: Path; readonly lit: Literal }
  | { readonly k: 'in'; readonly lit: Literal; readonly path: Path }
  | { readonly k: 'not'; readonly a: Rule }
  | { readonly k: 'and' | 'or'; readonly a: Rule; readonly b: Rule }
  | { readonly k: 'cond'; readonly c: Rule; readonly a: Rule; readonly b: Rule }

const ERROR = Symbol('error')
type Outcome = boolean | typeof ERROR
const BUFBUILD_HAS_ON_NON_MAP: Outcome = false

/**
 * Key presence for `has()` and `in`. Deviation of @bufbuild/cel 0.6, kept by name: a key whose
 * value is JSON null counts as absent (`has({"a": null}.a)` and `"a" in {"a": null}` are false;
 * in cel-spec and cel-go they are true). Selecting it still gives null, and `== null` holds.
 */
function hasKey(m: { [k: string]: JsonValue }, k: string): boolean {
  return Object.hasOwn(m, k) && m[k] !== null
}

function literalText(v: Literal): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(1)
  return String(v)
}

const pathText = (p: Path): string => `claims.${p.join('.')}`

/** The rule as CEL source. */
export function ruleText(r: Rule): string {
  switch (r.k) {
    case 'cmp':
      return `${pathText(r.path)} ${r.op} ${literalText(r.lit)}`
    case 'has':
      return `has(${pathText(r.path)})`
    case 'size':
      return `size(${pathText(r.path)}) ${r.op} ${r.n}`
    case 'exists':
      return `${pathText(r.path)}.exists(e, e == ${literalText(r.lit)})`
    case 'in':
      return `${literalText(r.lit)} in ${pathText(r.path)}`
    case 'not':
      return `!(${ruleText(r.a)})`
    case 'and':
      return `(${ruleText(r.a)}) && (${ruleText(r.b)})`
    case 'or':
      return `(${ruleText(r.a)}) || (${ruleText(r.b)})`
    case 'cond':
      return `(${ruleText(r.c)}) ? (${ruleText(r.a)}) : (${ruleText(r.b)})`
  }
}

type Value = JsonValue | typeof ERROR

const isMap = (v: JsonValue): v is { [k: string]: JsonValue } => v !== null && typeof v === 'object' && !Array.isArray(v)

function select(doc: JsonValue, path: Path): Value {
  let v: JsonValue = doc
  for (const k of path) {
    if (!isMap(v) || !Object.hasOwn(v, k)) return ERROR
    v = Object.getOwnPropertyDescriptor(v, k)?.value as JsonValue
  }
  return v
}

function equal(a: JsonValue, b: JsonValue): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b
  if (a === null || b === null) return a === b
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    return a.every((x, i) => equal(x, b[i] as JsonValue))
  }
  if (isMap(a) || isMap(b)) {
    if (!isMap(a) || !isMap(b)) return false
    const ka = Object.keys(a)
    if (ka.length !== Object.keys(b).length) return false
    return ka.every((k) => Object.hasOwn(b, k) && equal(a[k] as JsonValue, b[k] as JsonValue))
  }
  return typeof a === typeof b && a === b
}

function codePoints(s: string): number[] {
  return [...s].map((c) => c.codePointAt(0) ?? 0)
}

function order(a: JsonValue, b: JsonValue): number | typeof ERROR {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b)
  if (typeof a === 'string' && typeof b === 'string') {
    const x = codePoints(a)
    const y = codePoints(b)
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0)
    return x.length - y.length
  }
  return ERROR
}

/** The rule's outcome on `claims`: true, false or an evaluation error (which fails closed). */
export function oracle(r: Rule, claims: JsonValue): Outcome {
  switch (r.k) {
    case 'cmp': {
      const v = select(claims, r.path)
      if (v === ERROR) return ERROR
      if (r.op === '==') return equal(v, r.lit)
      if (r.op === '!=') return !equal(v, r.lit)
      const c = order(v, r.lit)
      if (c === ERROR) return ERROR
      return { '<': c < 0, '<=': c <= 0, '>': c > 0, '>=': c >= 0 }[r.op]
    }
    case 'has': {
      const parent = select(claims, r.path.slice(0, -1))
      if (parent === ERROR) return ERROR
      // Deviation of @bufbuild/cel 0.6, kept by name: on a value that is neither a map nor a
      // message, cel-spec (and cel-go) give an error; @bufbuild/cel gives false. Either fails a
      // bare has(); under a negation it makes `!has(a.b)` hold where a is not a map.
      if (!isMap(parent)) return BUFBUILD_HAS_ON_NON_MAP
      return hasKey(parent, r.path[r.path.length - 1] ?? '')
    }
    case 'size': {
      const v = select(claims, r.path)
      if (v === ERROR) return ERROR
      const n = typeof v === 'string' ? codePoints(v).length : Array.isArray(v) ? v.length : isMap(v) ? Object.keys(v).length : undefined
      if (n === undefined) return ERROR
      return r.op === '==' ? n === r.n : n > r.n
    }
    case 'exists': {
      const v = select(claims, r.path)
      if (v === ERROR) return ERROR
      const range = Array.isArray(v) ? v : isMap(v) ? Object.keys(v) : undefined
      if (range === undefined) return ERROR
      return range.some((e) => equal(e, r.lit))
    }
    case 'in': {
      const v = select(claims, r.path)
      if (v === ERROR) return ERROR
      if (Array.isArray(v)) return v.some((e) => equal(e, r.lit))
      // Map keys are int, uint, bool or string; null is no key type (an error, as in cel-go).
      if (isMap(v)) return r.lit === null ? ERROR : typeof r.lit === 'string' && hasKey(v, r.lit)
      return ERROR
    }
    case 'not': {
      const a = oracle(r.a, claims)
      return a === ERROR ? ERROR : !a
    }
    case 'and': {
      const a = oracle(r.a, claims)
      const b = oracle(r.b, claims)
      if (a === false || b === false) return false
      return a === ERROR || b === ERROR ? ERROR : true
    }
    case 'or': {
      const a = oracle(r.a, claims)
      const b = oracle(r.b, claims)
      if (a === true || b === true) return true
      return a === ERROR || b === ERROR ? ERROR : false
    }
    case 'cond': {
      const c = oracle(r.c, claims)
      if (c === ERROR) return ERROR
      return c ? oracle(r.a, claims) : oracle(r.b, claims)
    }
  }
}

/** `true` passes; `false` and errors fail (fail closed). */
export const passes = (o: Outcome): boolean => o === true
export const isError = (o: Outcome): boolean => o === ERROR

// Generators: keys and literals from small sets so that paths exist and values match often.
const KEYS = ['guestSvn', 'x', 'list', 'y'] as const
export const literal: fc.Arbitrary<Literal> = fc.constantFrom<Literal>(0, 1, 3, -1, 1.5, 2.5, 'z', 'a', '', 'guestSvn', true, false, null)
const dynPath: fc.Arbitrary<Path> = fc.oneof(
  fc.constantFrom(...KEYS).map((k) => ['raw', k]),
  fc.tuple(fc.constantFrom(...KEYS), fc.constantFrom(...KEYS)).map(([a, b]) => ['raw', a, b]),
  fc.constantFrom('snp', 'microcode').map((k) => ['tcb', k]),
)

export const rule: fc.Arbitrary<Rule> = fc.letrec<{ rule: Rule }>((tie) => ({
  rule: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ k: fc.constant('cmp' as const), path: dynPath, op: fc.constantFrom('==' as const, '!=' as const), lit: literal }),
    // No ordering is declared for null, so the checker refuses `x < null` at compile time.
    fc.record({ k: fc.constant('cmp' as const), path: dynPath, op: fc.constantFrom('<' as const, '<=' as const, '>' as const, '>=' as const), lit: literal.filter((l) => l !== null) }),
    fc.record({ k: fc.constant('has' as const), path: dynPath }),
    fc.record({ k: fc.constant('size' as const), path: fc.oneof(dynPath, fc.constant(['raw'])), op: fc.constantFrom('==' as const, '>' as const), n: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ k: fc.constant('exists' as const), path: dynPath, lit: literal }),
    fc.record({ k: fc.constant('in' as const), lit: literal, path: fc.oneof(dynPath, fc.constant(['raw'])) }),
    fc.record({ k: fc.constant('not' as const), a: tie('rule') }),
    fc.record({ k: fc.constantFrom('and' as const, 'or' as const), a: tie('rule'), b: tie('rule') }),
    fc.record({ k: fc.constant('cond' as const), c: tie('rule'), a: tie('rule'), b: tie('rule') }),
  ),
})).rule

/** JSON values biased towards the literals and keys the rules use. */
export const jsonDoc: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    literal as fc.Arbitrary<JsonValue>,
    fc.jsonValue({ maxDepth: 0 }) as fc.Arbitrary<JsonValue>,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS, 'snp', 'z'), tie('v'), { maxKeys: 3 }),
  ),
})).v

export const rawDoc: fc.Arbitrary<{ [k: string]: JsonValue }> = fc.dictionary(fc.constantFrom(...KEYS, 'other'), jsonDoc, { maxKeys: 4 })
