import type { JsonValue } from '../evidence/index.js'

/** True for JSON data (finite numbers, bounded depth): what parsed request bodies hold. */
export function isJsonValue(v: unknown, depth = 0): v is JsonValue {
  if (depth > 32) return false
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true
  if (typeof v === 'number') return Number.isFinite(v)
  if (Array.isArray(v)) return v.every((x) => isJsonValue(x, depth + 1))
  return typeof v === 'object' && Object.values(v).every((x) => isJsonValue(x, depth + 1))
}

/** The JSON object `v`, or `{}` for anything else. */
export function jsonRecord(v: unknown): Record<string, JsonValue> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return {}
  const out: Record<string, JsonValue> = {}
  for (const [k, x] of Object.entries(v)) if (isJsonValue(x)) Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true })
  return out
}
