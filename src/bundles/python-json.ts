import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/types.js'

/**
 * JSON as Python's `json` module sees it, for Automata's json_sig_tool signatures: the signed
 * bytes are `json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8")` of the
 * object that `json.load` returned. Reproducing those bytes needs more than `JSON.parse`:
 *
 * - integers are Python `int`s of any size (`JSON.parse` rounds them to doubles), and `-0` is `0`;
 * - floats are re-printed with Python's `repr` (`1.50` → `1.5`, `1e16` → `1e+16`, `1e-5` → `1e-05`,
 *   overflow → `Infinity`), not kept as written;
 * - `ensure_ascii`: every code unit outside U+0020..U+007E is escaped as `\uXXXX` (lowercase
 *   hex; astral characters as their surrogate pair), with the short escapes `\" \\ \n \r \t \b \f`;
 * - `sort_keys` orders keys by code point (not by UTF-16 code unit, as JavaScript's sort would);
 * - a duplicate key keeps its last value (a Python dict).
 *
 * Input that Python would accept but standard JSON does not (`NaN`, `Infinity`) is refused, as
 * are a byte-order mark, invalid UTF-8 and nesting deeper than {@link MAX_DEPTH}.
 */
export type PyJson =
  | { readonly kind: 'object'; readonly entries: ReadonlyMap<string, PyJson> }
  | { readonly kind: 'array'; readonly items: readonly PyJson[] }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'int'; readonly value: bigint }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'null' }

export const MAX_DEPTH = 64
/** CPython 3.11+ refuses int strings above 4300 digits (sys.int_info.default_max_str_digits). */
export const MAX_INT_DIGITS = 4300

function malformed(detail: string): KeybrokerError {
  return new KeybrokerError('bundle-malformed', detail)
}

/**
 * Parses UTF-8 JSON text as Python's `json.loads` would (strict JSON subset, see above).
 * @throws KeybrokerError `bundle-malformed` naming the offset of the first error.
 */
export function parsePythonJson(input: Uint8Array | string): PyJson {
  let text: string
  if (typeof input === 'string') text = input
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input)
    } catch (cause) {
      throw new KeybrokerError('bundle-malformed', 'JSON is not valid UTF-8', { cause })
    }
  }
  if (text.charCodeAt(0) === 0xfeff) throw malformed('JSON starts with a byte-order mark')
  const parser = new Parser(text)
  const value = parser.value(0)
  parser.skipWhitespace()
  if (!parser.atEnd()) throw malformed(`JSON: unexpected data at offset ${parser.pos}`)
  return value
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y

class Parser {
  pos = 0
  constructor(private readonly text: string) {}

  atEnd(): boolean {
    return this.pos >= this.text.length
  }

  skipWhitespace(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.pos)
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++
      else return
    }
  }

  value(depth: number): PyJson {
    if (depth > MAX_DEPTH) throw malformed(`JSON nested deeper than ${MAX_DEPTH}`)
    this.skipWhitespace()
    const c = this.text[this.pos]
    switch (c) {
      case '{':
        return this.object(depth)
      case '[':
        return this.array(depth)
      case '"':
        return { kind: 'string', value: this.string() }
      case 't':
        return this.literal('true', { kind: 'bool', value: true })
      case 'f':
        return this.literal('false', { kind: 'bool', value: false })
      case 'n':
        return this.literal('null', { kind: 'null' })
      default:
        return this.number()
    }
  }

  literal(word: string, value: PyJson): PyJson {
    if (!this.text.startsWith(word, this.pos)) throw malformed(`JSON: unexpected token at offset ${this.pos}`)
    this.pos += word.length
    return value
  }

  number(): PyJson {
    NUMBER.lastIndex = this.pos
    const m = NUMBER.exec(this.text)
    if (m === null) throw malformed(`JSON: unexpected token at offset ${this.pos}`)
    const lexeme = m[0]
    this.pos += lexeme.length
    if (m[1] === undefined && m[2] === undefined) {
      if (lexeme.replace('-', '').length > MAX_INT_DIGITS) throw malformed(`JSON: integer longer than ${MAX_INT_DIGITS} digits`)
      return { kind: 'int', value: BigInt(lexeme) }
    }
    return { kind: 'float', value: Number(lexeme) }
  }

  string(): string {
    const text = this.text
    let out = ''
    let i = this.pos + 1
    let start = i
    for (;;) {
      if (i >= text.length) throw malformed(`JSON: unterminated string at offset ${this.pos}`)
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        out += text.slice(start, i)
        this.pos = i + 1
        return out
      }
      if (c < 0x20) throw malformed(`JSON: control character in string at offset ${i}`)
      if (c !== 0x5c) {
        i++
        continue
      }
      out += text.slice(start, i)
      const e = text[i + 1]
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e
          i += 2
          break
        case 'b':
          out += '\b'
          i += 2
          break
        case 'f':
          out += '\f'
          i += 2
          break
        case 'n':
          out += '\n'
          i += 2
          break
        case 'r':
          out += '\r'
          i += 2
          break
        case 't':
          out += '\t'
          i += 2
          break
        case 'u': {
          const hex = text.slice(i + 2, i + 6)
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw malformed(`JSON: bad \\u escape at offset ${i}`)
          // Surrogate escapes stay code units: a valid pair forms one astral character, a lone
          // surrogate stays lone, exactly as Python's decoder does.
          out += String.fromCharCode(parseInt(hex, 16))
          i += 6
          break
        }
        default:
          throw malformed(`JSON: bad escape at offset ${i}`)
      }
      start = i
    }
  }

  array(depth: number): PyJson {
    this.pos++
    const items: PyJson[] = []
    this.skipWhitespace()
    if (this.text[this.pos] === ']') {
      this.pos++
      return { kind: 'array', items }
    }
    for (;;) {
      items.push(this.value(depth + 1))
      this.skipWhitespace()
      const c = this.text[this.pos++]
      if (c === ']') return { kind: 'array', items }
      if (c !== ',') throw malformed(`JSON: expected , or ] at offset ${this.pos - 1}`)
    }
  }

  object(depth: number): PyJson {
    this.pos++
    const entries = new Map<string, PyJson>()
    this.skipWhitespace()
    if (this.text[this.pos] === '}') {
      this.pos++
      return { kind: 'object', entries }
    }
    for (;;) {
      this.skipWhitespace()
      if (this.text[this.pos] !== '"') throw malformed(`JSON: expected a key at offset ${this.pos}`)
      const key = this.string()
      this.skipWhitespace()
      if (this.text[this.pos++] !== ':') throw malformed(`JSON: expected : at offset ${this.pos - 1}`)
      entries.set(key, this.value(depth + 1))
      this.skipWhitespace()
      const c = this.text[this.pos++]
      if (c === '}') return { kind: 'object', entries }
      if (c !== ',') throw malformed(`JSON: expected , or } at offset ${this.pos - 1}`)
    }
  }
}

/** Compares two strings by Unicode code point, as Python's `str` ordering does. */
export function compareCodePoints(a: string, b: string): number {
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i) ?? 0
    const y = b.codePointAt(j) ?? 0
    if (x !== y) return x < y ? -1 : 1
    i += x > 0xffff ? 2 : 1
    j += y > 0xffff ? 2 : 1
  }
  return a.length - i === b.length - j ? 0 : i >= a.length ? -1 : 1
}

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  0x22: '\\"',
  0x5c: '\\\\',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x08: '\\b',
  0x0c: '\\f',
}

/** Python `json.dumps(s)` with `ensure_ascii=True`. */
export function pythonString(s: string): string {
  let out = '"'
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const short = SHORT_ESCAPES[c]
    if (short !== undefined) out += short
    else if (c >= 0x20 && c <= 0x7e) out += s[i]
    else out += `\\u${c.toString(16).padStart(4, '0')}`
  }
  return `${out}"`
}

/**
 * Python's `repr(float)` (the shortest round-tripping digits; exponent form when the decimal
 * exponent is below -4 or above 16, as CPython's `format_float_short` with mode 'r'), and
 * `json`'s `Infinity` / `-Infinity` / `NaN` for non-finite values.
 */
export function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN'
  if (x === Infinity) return 'Infinity'
  if (x === -Infinity) return '-Infinity'
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0'
  const sign = x < 0 ? '-' : ''
  // toExponential() without an argument gives the shortest digits that round-trip.
  const [mantissa = '', exp = '0'] = Math.abs(x).toExponential().split('e')
  const digits = mantissa.replace('.', '')
  const decpt = Number(exp) + 1
  if (decpt <= -4 || decpt > 16) {
    const e = decpt - 1
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits
    return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`
  if (decpt < digits.length) return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`
  return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`
}

/** `json.dumps(value, separators=(",", ":"), sort_keys=True)` (ASCII only, so also its UTF-8 bytes). */
export function pythonCanonicalJson(value: PyJson): string {
  switch (value.kind) {
    case 'null':
      return 'null'
    case 'bool':
      return value.value ? 'true' : 'false'
    case 'int':
      return value.value.toString()
    case 'float':
      return pythonFloat(value.value)
    case 'string':
      return pythonString(value.value)
    case 'array':
      return `[${value.items.map(pythonCanonicalJson).join(',')}]`
    case 'object': {
      const keys = [...value.entries.keys()].sort(compareCodePoints)
      return `{${keys.map((k) => `${pythonString(k)}:${pythonCanonicalJson(value.entries.get(k) ?? { kind: 'null' })}`).join(',')}}`
    }
  }
}

/**
 * A plain JSON value of `value` for mapping into reference values. Integers beyond 2^53 become
 * their decimal string (they are never measurements; nothing is rounded silently).
 */
export function toJsonValue(value: PyJson): JsonValue {
  switch (value.kind) {
    case 'null':
      return null
    case 'bool':
    case 'string':
      return value.value
    case 'int':
      return value.value >= BigInt(Number.MIN_SAFE_INTEGER) && value.value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value.value)
        : value.value.toString()
    case 'float':
      return Number.isFinite(value.value) ? value.value : String(value.value)
    case 'array':
      return value.items.map(toJsonValue)
    case 'object': {
      const out: Record<string, JsonValue> = {}
      // defineProperty: a key named "__proto__" is data, never the prototype.
      for (const [k, v] of value.entries) Object.defineProperty(out, k, { value: toJsonValue(v), enumerable: true, writable: true, configurable: true })
      return out
    }
  }
}
