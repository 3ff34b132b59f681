import type { parse } from '@bufbuild/cel'

/** The parser's AST types, named through the public `parse` (cel-spec is not our dependency). */
export type ParsedExpr = ReturnType<typeof parse>
export type Expr = ParsedExpr['expr']

/**
 * Static type check of a parsed CEL rule against keybroker's declared variables (`claims`,
 * `ear`, `request`). @bufbuild/cel 0.6 parses, plans and evaluates, but its checker is not
 * exported and handles constants only, so this pass does what a CEL checker does for the subset
 * of types we bind: every identifier is declared, every field of a declared object exists,
 * every function exists with an overload for the argument types where they are known
 * statically (`dyn` matches anything, as in CEL), and the rule's result is `bool`.
 *
 * It does not evaluate anything and it is not a second expression language: the expression is
 * still parsed, planned and run by @bufbuild/cel.
 */
export type CelType =
  | { readonly k: 'dyn' | 'bool' | 'int' | 'uint' | 'double' | 'string' | 'bytes' | 'null' | 'timestamp' | 'duration' | 'type' }
  | { readonly k: 'list'; readonly elem: CelType }
  | { readonly k: 'map'; readonly key: CelType; readonly value: CelType }
  | { readonly k: 'object'; readonly name: string; readonly fields: ReadonlyMap<string, CelType> }

export const T = {
  dyn: { k: 'dyn' },
  bool: { k: 'bool' },
  int: { k: 'int' },
  uint: { k: 'uint' },
  double: { k: 'double' },
  string: { k: 'string' },
  bytes: { k: 'bytes' },
  null: { k: 'null' },
  timestamp: { k: 'timestamp' },
  duration: { k: 'duration' },
  type: { k: 'type' },
} as const satisfies Record<string, CelType>

export const listOf = (elem: CelType): CelType => ({ k: 'list', elem })
export const mapOf = (key: CelType, value: CelType): CelType => ({ k: 'map', key, value })
export const objectOf = (name: string, fields: Record<string, CelType>): CelType => ({ k: 'object', name, fields: new Map(Object.entries(fields)) })

export interface CheckError {
  readonly message: string
  /** Character offset in the rule's source. */
  readonly offset: number
}

export class CelCheckError extends Error {
  constructor(readonly errors: readonly CheckError[]) {
    super(errors.map((e) => e.message).join('; '))
    this.name = 'CelCheckError'
  }
}

type Sig = { readonly args: readonly (CelType | 'A' | 'listA' | 'mapKV' | 'num')[]; readonly result: CelType | 'A' | 'elem' | 'value' | 'same' }

const NUMERIC: ReadonlySet<string> = new Set(['int', 'uint', 'double'])
const ORDERED: readonly CelType[] = [T.int, T.uint, T.double, T.string, T.bytes, T.bool, T.timestamp, T.duration]

/** Global functions and operators (cel-spec "Standard Definitions"), by name. */
const FUNCTIONS: ReadonlyMap<string, readonly Sig[]> = new Map<string, readonly Sig[]>([
  ['_==_', [{ args: ['A', 'A'], result: T.bool }]],
  ['_!=_', [{ args: ['A', 'A'], result: T.bool }]],
  ...(['_<_', '_<=_', '_>_', '_>=_'] as const).map((op): [string, readonly Sig[]] => [
    op,
    [{ args: ['num', 'num'], result: T.bool }, ...ORDERED.filter((t) => !NUMERIC.has(t.k)).map((t) => ({ args: [t, t], result: T.bool }))],
  ]),
  ['_&&_', [{ args: [T.bool, T.bool], result: T.bool }]],
  ['_||_', [{ args: [T.bool, T.bool], result: T.bool }]],
  ['!_', [{ args: [T.bool], result: T.bool }]],
  ['@not_strictly_false', [{ args: [T.bool], result: T.bool }]],
  ['-_', [{ args: [T.int], result: T.int }, { args: [T.double], result: T.double }]],
  ['_?_:_', [{ args: [T.bool, 'A', 'A'], result: 'A' }]],
  [
    '_+_',
    [
      ...[T.int, T.uint, T.double, T.string, T.bytes, T.duration].map((t) => ({ args: [t, t], result: t })),
      { args: ['listA', 'listA'], result: 'same' },
      { args: [T.timestamp, T.duration], result: T.timestamp },
      { args: [T.duration, T.timestamp], result: T.timestamp },
    ],
  ],
  [
    '_-_',
    [
      ...[T.int, T.uint, T.double, T.duration].map((t) => ({ args: [t, t], result: t })),
      { args: [T.timestamp, T.timestamp], result: T.duration },
      { args: [T.timestamp, T.duration], result: T.timestamp },
    ],
  ],
  ['_*_', [T.int, T.uint, T.double].map((t) => ({ args: [t, t], result: t }))],
  ['_/_', [T.int, T.uint, T.double].map((t) => ({ args: [t, t], result: t }))],
  ['_%_', [T.int, T.uint].map((t) => ({ args: [t, t], result: t }))],
  ['_[_]', [{ args: ['listA', T.int], result: 'elem' }, { args: ['mapKV', 'A'], result: 'value' }]],
  ['@in', [{ args: ['A', 'listA'], result: T.bool }, { args: ['A', 'mapKV'], result: T.bool }]],
  ['size', [T.string, T.bytes, listOf(T.dyn), mapOf(T.dyn, T.dyn)].map((t) => ({ args: [t], result: T.int }))],
  ['matches', [{ args: [T.string, T.string], result: T.bool }]],
  ['int', [T.int, T.uint, T.double, T.string, T.timestamp].map((t) => ({ args: [t], result: T.int }))],
  ['uint', [T.int, T.uint, T.double, T.string].map((t) => ({ args: [t], result: T.uint }))],
  ['double', [T.int, T.uint, T.double, T.string].map((t) => ({ args: [t], result: T.double }))],
  ['string', [T.int, T.uint, T.double, T.string, T.bytes, T.bool, T.timestamp, T.duration].map((t) => ({ args: [t], result: T.string }))],
  ['bytes', [T.string, T.bytes].map((t) => ({ args: [t], result: T.bytes }))],
  ['bool', [T.bool, T.string].map((t) => ({ args: [t], result: T.bool }))],
  ['timestamp', [T.string, T.timestamp, T.int].map((t) => ({ args: [t], result: T.timestamp }))],
  ['duration', [T.string, T.duration].map((t) => ({ args: [t], result: T.duration }))],
  ['dyn', [{ args: ['A'], result: T.dyn }]],
  ['type', [{ args: ['A'], result: T.type }]],
])

const TIME_GETTERS = ['getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfWeek', 'getDayOfYear', 'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds']

/** Receiver-style functions: `target.name(args)`, keyed by name, the receiver first in `args`. */
const METHODS: ReadonlyMap<string, readonly Sig[]> = new Map<string, readonly Sig[]>([
  ['size', [T.string, T.bytes, listOf(T.dyn), mapOf(T.dyn, T.dyn)].map((t) => ({ args: [t], result: T.int }))],
  ['contains', [{ args: [T.string, T.string], result: T.bool }]],
  ['startsWith', [{ args: [T.string, T.string], result: T.bool }]],
  ['endsWith', [{ args: [T.string, T.string], result: T.bool }]],
  ['matches', [{ args: [T.string, T.string], result: T.bool }]],
  ...TIME_GETTERS.map((g): [string, readonly Sig[]] => [
    g,
    [
      { args: [T.timestamp], result: T.int },
      { args: [T.timestamp, T.string], result: T.int },
      ...(['getHours', 'getMinutes', 'getSeconds', 'getMilliseconds'].includes(g) ? [{ args: [T.duration], result: T.int }] : []),
    ],
  ]),
  // The strings extension (@bufbuild/cel/ext), registered in the environment.
  ['charAt', [{ args: [T.string, T.int], result: T.string }]],
  ['indexOf', [{ args: [T.string, T.string], result: T.int }, { args: [T.string, T.string, T.int], result: T.int }]],
  ['lastIndexOf', [{ args: [T.string, T.string], result: T.int }, { args: [T.string, T.string, T.int], result: T.int }]],
  ['lowerAscii', [{ args: [T.string], result: T.string }]],
  ['upperAscii', [{ args: [T.string], result: T.string }]],
  ['replace', [{ args: [T.string, T.string, T.string], result: T.string }, { args: [T.string, T.string, T.string, T.int], result: T.string }]],
  ['split', [{ args: [T.string, T.string], result: listOf(T.string) }, { args: [T.string, T.string, T.int], result: listOf(T.string) }]],
  ['substring', [{ args: [T.string, T.int], result: T.string }, { args: [T.string, T.int, T.int], result: T.string }]],
  ['trim', [{ args: [T.string], result: T.string }]],
  ['join', [{ args: [listOf(T.string)], result: T.string }, { args: [listOf(T.string), T.string], result: T.string }]],
])

export function typeName(t: CelType): string {
  switch (t.k) {
    case 'list':
      return `list(${typeName(t.elem)})`
    case 'map':
      return `map(${typeName(t.key)}, ${typeName(t.value)})`
    case 'object':
      return t.name
    default:
      return t.k
  }
}

function isDyn(t: CelType): boolean {
  return t.k === 'dyn'
}

/** May a value of static type `actual` be passed where `want` is expected? */
function assignable(want: CelType, actual: CelType): boolean {
  if (isDyn(want) || isDyn(actual)) return true
  if (want.k === 'list' && actual.k === 'list') return assignable(want.elem, actual.elem)
  if (want.k === 'map' && (actual.k === 'map' || actual.k === 'object')) return actual.k === 'object' || (assignable(want.key, actual.key) && assignable(want.value, actual.value))
  return want.k === actual.k
}

/** The most specific type both may have: equal types stay, anything else becomes dyn. */
function join(a: CelType, b: CelType): CelType {
  if (isDyn(a)) return b
  if (isDyn(b)) return a
  if (a.k === 'null') return b
  if (b.k === 'null') return a
  return typeName(a) === typeName(b) ? a : T.dyn
}

function comparable(a: CelType, b: CelType): boolean {
  if (isDyn(a) || isDyn(b) || a.k === 'null' || b.k === 'null') return true
  if (NUMERIC.has(a.k) && NUMERIC.has(b.k)) return true
  if (a.k === 'list' && b.k === 'list') return comparable(a.elem, b.elem)
  if ((a.k === 'map' || a.k === 'object') && (b.k === 'map' || b.k === 'object')) return true
  return a.k === b.k
}

interface Scope {
  lookup(name: string): CelType | undefined
}

function scopeOf(vars: ReadonlyMap<string, CelType>, parent?: Scope): Scope {
  return { lookup: (name) => vars.get(name) ?? parent?.lookup(name) }
}

/**
 * Type-checks `parsed` with `variables` declared. Returns the result type.
 * @throws CelCheckError listing the errors with their source offsets.
 */
export function checkCel(parsed: ParsedExpr, variables: ReadonlyMap<string, CelType>): CelType {
  const positions = parsed.sourceInfo?.positions ?? {}
  const errors: CheckError[] = []
  const fail = (e: Expr, message: string): CelType => {
    errors.push({ message, offset: positions[e.id.toString()] ?? 0 })
    return T.dyn
  }

  const check = (e: Expr, scope: Scope): CelType => {
    const kind = e.exprKind
    switch (kind.case) {
      case 'constExpr': {
        const c = kind.value.constantKind
        switch (c.case) {
          case 'boolValue':
            return T.bool
          case 'int64Value':
            return T.int
          case 'uint64Value':
            return T.uint
          case 'doubleValue':
            return T.double
          case 'stringValue':
            return T.string
          case 'bytesValue':
            return T.bytes
          case 'nullValue':
            return T.null
          default:
            return T.dyn
        }
      }
      case 'identExpr': {
        const t = scope.lookup(kind.value.name)
        return t ?? fail(e, `undeclared reference to '${kind.value.name}' (use claims, ear or request)`)
      }
      case 'selectExpr': {
        const operand = kind.value.operand
        if (operand === undefined) return fail(e, 'select without operand')
        const t = check(operand, scope)
        const field = kind.value.field
        let result: CelType
        if (t.k === 'object') {
          const f = t.fields.get(field)
          result = f ?? fail(e, `undefined field '${field}' of ${t.name}; known: ${[...t.fields.keys()].join(', ')}`)
        } else if (t.k === 'map') {
          if (!assignable(t.key, T.string)) result = fail(e, `field selection on ${typeName(t)}`)
          else result = t.value
        } else if (isDyn(t)) result = T.dyn
        else result = fail(e, `type ${typeName(t)} has no field '${field}'`)
        return kind.value.testOnly ? T.bool : result
      }
      case 'callExpr': {
        const name = kind.value.function
        const target = kind.value.target
        const args = [...(target === undefined ? [] : [check(target, scope)]), ...kind.value.args.map((a) => check(a, scope))]
        const table = target === undefined ? FUNCTIONS : METHODS
        const sigs = table.get(name)
        if (sigs === undefined) {
          if (target === undefined && METHODS.has(name)) return fail(e, `'${name}' is a method: write x.${name}(…)`)
          return fail(e, `undeclared function '${name}'`)
        }
        if ((name === '_==_' || name === '_!=_') && args.length === 2 && !comparable(args[0] ?? T.dyn, args[1] ?? T.dyn)) {
          return fail(e, `no matching overload for '${name}' applied to (${args.map(typeName).join(', ')})`)
        }
        const results = sigs.flatMap((sig) => {
          const r = applySig(sig, args)
          return r === undefined ? [] : [r]
        })
        if (results.length === 0) return fail(e, `no matching overload for '${displayName(name)}' applied to (${args.map(typeName).join(', ')})`)
        return results.reduce((a, b) => (typeName(a) === typeName(b) ? a : T.dyn))
      }
      case 'listExpr': {
        const elems = kind.value.elements.map((x) => check(x, scope))
        return listOf(elems.length === 0 ? T.dyn : elems.reduce(join))
      }
      case 'structExpr': {
        if (kind.value.messageName !== '') return fail(e, `message construction (${kind.value.messageName}) is not available`)
        let key: CelType = T.dyn
        let value: CelType = T.dyn
        kind.value.entries.forEach((entry, i) => {
          const k = entry.keyKind.case === 'mapKey' ? check(entry.keyKind.value, scope) : T.string
          const v = entry.value === undefined ? T.dyn : check(entry.value, scope)
          key = i === 0 ? k : join(key, k)
          value = i === 0 ? v : join(value, v)
        })
        return mapOf(key, value)
      }
      case 'comprehensionExpr': {
        const c = kind.value
        const range = c.iterRange === undefined ? T.dyn : check(c.iterRange, scope)
        let iter: CelType
        let iter2: CelType = T.dyn
        if (range.k === 'list') {
          iter = c.iterVar2 === '' ? range.elem : T.int
          iter2 = range.elem
        } else if (range.k === 'map') {
          iter = range.key
          iter2 = range.value
        } else if (range.k === 'object') {
          iter = T.string
        } else if (isDyn(range)) iter = T.dyn
        else return fail(c.iterRange ?? e, `cannot iterate over ${typeName(range)}`)
        const accuInit = c.accuInit === undefined ? T.dyn : check(c.accuInit, scope)
        const accuVars = new Map<string, CelType>([[c.accuVar, accuInit.k === 'list' ? listOf(T.dyn) : accuInit]])
        const outer = scopeOf(accuVars, scope)
        const iterVars = new Map<string, CelType>([[c.iterVar, iter]])
        if (c.iterVar2 !== '') iterVars.set(c.iterVar2, iter2)
        const inner = scopeOf(iterVars, outer)
        if (c.loopCondition !== undefined) check(c.loopCondition, inner)
        if (c.loopStep !== undefined) check(c.loopStep, inner)
        return c.result === undefined ? T.dyn : check(c.result, outer)
      }
      default:
        return fail(e, 'unsupported expression')
    }
  }

  const root = parsed.expr
  if (root === undefined) throw new CelCheckError([{ message: 'empty expression', offset: 0 }])
  const result = check(root, scopeOf(variables))
  if (errors.length === 0 && !isDyn(result) && result.k !== 'bool') {
    errors.push({ message: `a rule must be a bool expression, this one is ${typeName(result)}`, offset: positions[root.id.toString()] ?? 0 })
  }
  if (errors.length > 0) throw new CelCheckError(errors)
  return result
}

function displayName(name: string): string {
  return name
}

/** The result type of `sig` applied to `args`, or `undefined` if the arguments do not fit. */
function applySig(sig: Sig, args: readonly CelType[]): CelType | undefined {
  if (sig.args.length !== args.length) return undefined
  let a: CelType | undefined
  let listA: CelType | undefined
  let mapKV: CelType | undefined
  for (let i = 0; i < args.length; i++) {
    const want = sig.args[i] ?? T.dyn
    const got = args[i] ?? T.dyn
    if (want === 'A') {
      if (a !== undefined && !comparable(a, got)) return undefined
      a = a === undefined ? got : join(a, got)
    } else if (want === 'num') {
      if (!isDyn(got) && !NUMERIC.has(got.k)) return undefined
    } else if (want === 'listA') {
      if (!isDyn(got) && got.k !== 'list') return undefined
      if (got.k === 'list' && a !== undefined && !comparable(a, got.elem)) return undefined
      listA = listA === undefined ? got : join(listA, got)
    } else if (want === 'mapKV') {
      if (!isDyn(got) && got.k !== 'map' && got.k !== 'object') return undefined
      mapKV = got
    } else if (!assignable(want, got)) return undefined
  }
  switch (sig.result) {
    case 'A':
      return a ?? T.dyn
    case 'same':
      return listA ?? T.dyn
    case 'elem':
      return listA !== undefined && listA.k === 'list' ? listA.elem : T.dyn
    case 'value':
      if (mapKV === undefined) return T.dyn
      if (mapKV.k === 'map') return mapKV.value
      return T.dyn
    default:
      return sig.result
  }
}
