import { timingSafeEqual } from 'node:crypto'
import { EvidenceError } from '../errors.js'

/** A field of a fixed binary layout: byte offset and size, as the spec's table prints them. */
export interface Field {
  readonly at: number
  readonly size: number
}
export type Layout = Readonly<Record<string, Field>>

/**
 * Sequential reader over untrusted bytes. Every read checks the remaining length first and
 * throws `evidence-malformed` naming the field; nothing reads past the end or allocates from an
 * unchecked length. Slices are copies, so results never alias the request buffer.
 */
export class ByteReader {
  readonly #bytes: Uint8Array
  readonly #view: DataView
  #pos: number

  constructor(bytes: Uint8Array, start = 0) {
    // A plain Uint8Array view: on a Node Buffer, `slice` would return a view, not a copy.
    this.#bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.#pos = start
  }

  get position(): number {
    return this.#pos
  }

  get remaining(): number {
    return this.#bytes.byteLength - this.#pos
  }

  #need(n: number, field: string): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.#bytes.byteLength - this.#pos) {
      throw new EvidenceError('evidence-malformed', `${field}: needs ${n} bytes at offset ${this.#pos}`)
    }
  }

  bytes(n: number, field: string): Uint8Array {
    this.#need(n, field)
    const out = this.#bytes.slice(this.#pos, this.#pos + n)
    this.#pos += n
    return out
  }

  skip(n: number, field: string): void {
    this.#need(n, field)
    this.#pos += n
  }

  u8(field: string): number {
    this.#need(1, field)
    return this.#view.getUint8(this.#pos++)
  }

  u16le(field: string): number {
    this.#need(2, field)
    const v = this.#view.getUint16(this.#pos, true)
    this.#pos += 2
    return v
  }

  u16be(field: string): number {
    this.#need(2, field)
    const v = this.#view.getUint16(this.#pos, false)
    this.#pos += 2
    return v
  }

  u32le(field: string): number {
    this.#need(4, field)
    const v = this.#view.getUint32(this.#pos, true)
    this.#pos += 4
    return v
  }

  u32be(field: string): number {
    this.#need(4, field)
    const v = this.#view.getUint32(this.#pos, false)
    this.#pos += 4
    return v
  }

  u64le(field: string): bigint {
    this.#need(8, field)
    const v = this.#view.getBigUint64(this.#pos, true)
    this.#pos += 8
    return v
  }

  u64be(field: string): bigint {
    this.#need(8, field)
    const v = this.#view.getBigUint64(this.#pos, false)
    this.#pos += 8
    return v
  }

  /** Fails unless every byte has been consumed (trailing data is malformed unless a spec allows it). */
  end(structure: string): void {
    if (this.remaining !== 0) {
      throw new EvidenceError('evidence-malformed', `${structure}: ${this.remaining} trailing bytes`)
    }
  }
}

/** Copies field `f` out of a buffer whose total size the caller has already checked. */
export function field(bytes: Uint8Array, f: Field): Uint8Array {
  if (f.at + f.size > bytes.byteLength) {
    throw new EvidenceError('evidence-malformed', `field at 0x${f.at.toString(16)} beyond end`)
  }
  return bytes.slice(f.at, f.at + f.size)
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/

/** Strict hex decoding: even length, hex digits only; otherwise `evidence-malformed`. */
export function fromHex(text: string, what: string): Uint8Array {
  if (!HEX.test(text)) throw new EvidenceError('evidence-malformed', `${what}: not hex`)
  return new Uint8Array(Buffer.from(text, 'hex'))
}

const B64URL = /^[A-Za-z0-9_-]*$/
const B64STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/

/**
 * Decodes base64url without padding (our wire format) or standard base64 with or without
 * padding (what `base64 -w0` of a configfs-tsm outblob gives). Anything else, including
 * embedded whitespace, is `evidence-malformed`: Node's lenient decoder would skip bad characters.
 */
export function fromBase64(text: string, what: string): Uint8Array {
  if (text.length % 4 === 1) throw new EvidenceError('evidence-malformed', `${what}: not base64`)
  if (B64URL.test(text)) return new Uint8Array(Buffer.from(text, 'base64url'))
  if (B64STD.test(text)) return new Uint8Array(Buffer.from(text, 'base64'))
  throw new EvidenceError('evidence-malformed', `${what}: not base64`)
}

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/** The JSON value of UTF-8 `bytes` (an evidence file). @throws `evidence-malformed` naming `what` */
export function parseJsonFile(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', `${what}: not JSON`, { cause })
  }
}

/** `json` as an object (not null, not an array). @throws `evidence-malformed` naming `what` */
export function jsonObjectOf(json: unknown, what: string): { readonly [k: string]: unknown } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new EvidenceError('evidence-malformed', `${what}: not a JSON object`)
  return Object.fromEntries(Object.entries(json))
}

/** Constant-time equality for MACs, digests and bindings; different lengths are simply unequal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  return timingSafeEqual(a, b)
}

/** True when every byte of `bytes` in [from, to) is zero (reserved, must-be-zero ranges). */
export function isZero(bytes: Uint8Array, from = 0, to = bytes.byteLength): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false
  return true
}
