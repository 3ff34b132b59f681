/**
 * The hash chain of the audit log: pure functions, no I/O, no clock.
 *
 * Each entry's `hash` covers its own fields and the previous entry's hash, so changing, removing
 * or reordering any entry breaks every later link (the head row in storage pins the last hash,
 * so a removed tail is caught too).
 */
import { createHash } from 'node:crypto'

/** A JSON value as it survives a round trip through a `jsonb` column. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue }

/** Structured detail of an audit entry (rule names, versions, digests — never secret values). */
export type AuditDetail = { readonly [key: string]: JsonValue }

/** The hashed fields of an audit entry. */
export interface AuditHashInput {
  /** Position in the log, 1-based and gap-free. */
  readonly id: number
  readonly at: Date
  readonly actor: string
  readonly action: string
  readonly subject: string
  readonly outcome: string
  readonly detail: AuditDetail
}

/** The `prevHash` of entry 1: 64 zero hex digits (32 zero bytes). */
export const GENESIS_HASH = '0'.repeat(64)

const HASH_HEX = /^[0-9a-f]{64}$/

/**
 * Canonical JSON text of a value: object keys sorted by UTF-16 code units (JavaScript's default
 * sort), no whitespace, strings and numbers exactly as `JSON.stringify` writes them. Object
 * members whose value is `undefined` are omitted, as `JSON.stringify` and `jsonb` both do.
 *
 * @throws TypeError for a non-finite number or a value that is not JSON (function, bigint,
 *   symbol, `undefined` outside an object) — such a value would not survive `jsonb` unchanged.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('audit detail: non-finite number')
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v: unknown) => canonicalJson(v)).join(',')}]`
      if (value instanceof Date) throw new TypeError('audit detail: Date is not JSON; pass an ISO string')
      const members: string[] = []
      for (const key of Object.keys(value).sort()) {
        const member: unknown = Reflect.get(value, key)
        if (member === undefined) continue
        members.push(`${JSON.stringify(key)}:${canonicalJson(member)}`)
      }
      return `{${members.join(',')}}`
    }
    default:
      throw new TypeError(`audit detail: ${typeof value} is not JSON`)
  }
}

/**
 * SHA-256 (lowercase hex) of an entry linked to `prevHash`.
 *
 * The hashed bytes are the UTF-8 encoding of this JSON text, keys in exactly this order and no
 * whitespace:
 *
 * ```
 * {"id":<id>,"at":"<at.toISOString()>","actor":<s>,"action":<s>,"subject":<s>,"outcome":<s>,"detail":<canonicalJson(detail)>,"prevHash":"<64 hex>"}
 * ```
 *
 * where `<id>` is the decimal integer, each `<s>` is `JSON.stringify` of the string, and
 * `canonicalJson` sorts object keys (see there). Example, for entry 1:
 * `{"id":1,"at":"2026-01-02T03:04:05.006Z","actor":"admin:t1","action":"secret.create","subject":"db-password","outcome":"success","detail":{"version":1},"prevHash":"000…000"}`.
 * The fixed key order and JSON string escaping make the encoding unambiguous: no two different
 * entries serialize to the same bytes. `at` has millisecond precision, which a `timestamptz`
 * column (microseconds) stores exactly.
 *
 * @throws TypeError if `id` is not a positive safe integer, `at` is an invalid date, `prevHash`
 *   is not 64 lowercase hex digits, or `detail` is not JSON (see {@link canonicalJson}).
 */
export function computeAuditHash(prevHash: string, entry: AuditHashInput): string {
  if (!Number.isSafeInteger(entry.id) || entry.id < 1) throw new TypeError('audit entry id must be a positive integer')
  if (Number.isNaN(entry.at.getTime())) throw new TypeError('audit entry time is invalid')
  if (!HASH_HEX.test(prevHash)) throw new TypeError('previous audit hash must be 64 lowercase hex digits')
  const text =
    `{"id":${entry.id}` +
    `,"at":${JSON.stringify(entry.at.toISOString())}` +
    `,"actor":${JSON.stringify(entry.actor)}` +
    `,"action":${JSON.stringify(entry.action)}` +
    `,"subject":${JSON.stringify(entry.subject)}` +
    `,"outcome":${JSON.stringify(entry.outcome)}` +
    `,"detail":${canonicalJson(entry.detail)}` +
    `,"prevHash":${JSON.stringify(prevHash)}}`
  return createHash('sha256').update(text, 'utf8').digest('hex')
}
