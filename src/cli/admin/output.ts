/** The admin CLI's output: tables and records for people, the service's JSON with `--json`. */

export interface Column {
  readonly header: string
  /** A field name, or a function of the row. */
  readonly value: string | ((row: Record<string, unknown>) => unknown)
}

/** One cell: strings as they are, arrays comma-joined, null/undefined as `-`, objects as JSON. */
export function cell(v: unknown): string {
  if (v === null || v === undefined) return '-'
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v)
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.map((x) => (typeof x === 'object' && x !== null ? JSON.stringify(x) : cell(x))).join(',')
  return JSON.stringify(v)
}

export function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v)) : {}
}

export function asRows(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.map(asRecord) : []
}

/** A table: a header line and one line per row, columns padded to their widest cell. */
export function formatTable(rows: readonly Record<string, unknown>[], columns: readonly Column[]): string {
  const cells = rows.map((row) => columns.map((c) => cell(typeof c.value === 'string' ? row[c.value] : c.value(row)).replace(/\s+/g, ' ')))
  const headers = columns.map((c) => c.header)
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)))
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()
  return `${[line(headers), ...cells.map(line)].join('\n')}\n`
}

/** A record: `key: value` lines, keys aligned; nested objects as compact JSON. */
export function formatRecord(record: Record<string, unknown>): string {
  const keys = Object.keys(record)
  const width = Math.max(0, ...keys.map((k) => k.length))
  return keys.map((k) => `${`${k}:`.padEnd(width + 1)} ${cell(record[k])}`).join('\n') + '\n'
}

export function formatJson(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`
}

/** The rule names of a problem's `failedRules` (objects with `rule`, or plain names). */
export function failedRuleNames(problem: Record<string, unknown>): string[] | undefined {
  const rules = problem['failedRules']
  if (!Array.isArray(rules)) return undefined
  return rules.map((r) => (typeof r === 'object' && r !== null && 'rule' in r ? cell(r.rule) : cell(r)))
}
