/**
 * The chain of the audit log: pure functions, no I/O, no clock.
 *
 * Each entry's `hash` covers its own fields and the previous entry's hash, so changing, removing
 * or reordering any entry breaks every later link (the head row in storage pins the last hash,
 * so a removed tail is caught too). Since format 2 the link is an HMAC under the audit key
 * ({@link computeAuditMac}): whoever can write the database but does not hold the key cannot
 * recompute the chain after an edit. Format 1 ({@link computeAuditHash}, a plain SHA-256) is
 * kept only to verify and re-key chains written before.
 */
import { createHash, createHmac } from 'node:crypto'
import { inspect } from 'node:util'

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
  return createHash('sha256').update(entryText(prevHash, entry), 'utf8').digest('hex')
}

function entryText(prevHash: string, entry: AuditHashInput): string {
  if (!Number.isSafeInteger(entry.id) || entry.id < 1) throw new TypeError('audit entry id must be a positive integer')
  if (Number.isNaN(entry.at.getTime())) throw new TypeError('audit entry time is invalid')
  if (!HASH_HEX.test(prevHash)) throw new TypeError('previous audit hash must be 64 lowercase hex digits')
  return (
    `{"id":${entry.id}` +
    `,"at":${JSON.stringify(entry.at.toISOString())}` +
    `,"actor":${JSON.stringify(entry.actor)}` +
    `,"action":${JSON.stringify(entry.action)}` +
    `,"subject":${JSON.stringify(entry.subject)}` +
    `,"outcome":${JSON.stringify(entry.outcome)}` +
    `,"detail":${canonicalJson(entry.detail)}` +
    `,"prevHash":${JSON.stringify(prevHash)}}`
  )
}

/** Chain formats: 1 = SHA-256 (before the audit key), 2 = HMAC-SHA-256 under the audit key. */
export type AuditChainFormat = 1 | 2
export const KEYED_AUDIT_FORMAT = 2

/** The audit key: 32 random bytes, kept sealed by the KEK in the database (`audit_keys`). */
export interface AuditKey {
  /** Row id of the key (1 today; a later rotation adds rows). */
  readonly id: number
  readonly key: Uint8Array
}

export const AUDIT_KEY_BYTES = 32
const MAC_LABEL = 'keybroker-audit-v2\0'

/**
 * Wraps key bytes as an {@link AuditKey} that redacts itself in JSON and `util.inspect`.
 * @throws TypeError if `key` is not 32 bytes.
 */
export function auditKeyFromBytes(id: number, key: Uint8Array): AuditKey {
  if (key.byteLength !== AUDIT_KEY_BYTES) throw new TypeError(`audit key must be ${AUDIT_KEY_BYTES} bytes`)
  const copy = Uint8Array.from(key)
  return Object.freeze({ id, key: copy, toJSON: () => ({ id, key: '[redacted]' }), [inspect.custom]: () => `AuditKey { id: ${id}, key: [redacted] }` })
}

/**
 * Format 2 link: HMAC-SHA-256 (RFC 2104), lowercase hex, under the audit key, of the bytes
 * `"keybroker-audit-v2" ‖ 0x00 ‖ <the JSON text of computeAuditHash>`. The label keeps the MAC
 * distinct from any other use of the key; the text is the same unambiguous encoding.
 *
 * @throws TypeError as {@link computeAuditHash}.
 */
export function computeAuditMac(key: AuditKey, prevHash: string, entry: AuditHashInput): string {
  return createHmac('sha256', key.key).update(MAC_LABEL, 'utf8').update(entryText(prevHash, entry), 'utf8').digest('hex')
}
