/**
 * Intel PCS signs TCB info and QE identity JSON over the exact bytes of one member's value:
 * `{"tcbInfo":<signed bytes>,"signature":"<hex r‖s>"}` (PCS API v4, "Get TDX TCB Info" /
 * "Get TDX QE Identity": "signature calculated over tcbInfo body"). Re-serializing the parsed
 * JSON would not reproduce those bytes, so this scanner finds the byte span of each top-level
 * member's value in the untrusted text, without recursion and within a depth bound; `JSON.parse`
 * then decodes the same text for the content.
 */
import { verify, type KeyObject } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { fromHex } from '../reader.js'

const MAX_DEPTH = 32

function malformed(what: string, detail: string): EvidenceError {
  return new EvidenceError('evidence-malformed', `${what}: ${detail}`)
}

function isWs(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/** End (exclusive) of the string whose opening quote is at `p`. */
function stringEnd(b: Uint8Array, p: number, what: string): number {
  let i = p + 1
  while (i < b.byteLength) {
    const c = b[i]
    if (c === 0x5c) i += 2
    else if (c === 0x22) return i + 1
    else i++
  }
  throw malformed(what, 'unterminated string')
}

/** End (exclusive) of the JSON value starting at `p` (no validation beyond nesting; JSON.parse validates). */
function valueEnd(b: Uint8Array, p: number, what: string): number {
  const first = b[p]
  if (first === 0x22) return stringEnd(b, p, what)
  if (first !== 0x7b && first !== 0x5b) {
    let i = p
    while (i < b.byteLength && !isWs(b[i]) && b[i] !== 0x2c && b[i] !== 0x7d && b[i] !== 0x5d) i++
    if (i === p) throw malformed(what, 'missing value')
    return i
  }
  let depth = 0
  let i = p
  while (i < b.byteLength) {
    const c = b[i]
    if (c === 0x22) {
      i = stringEnd(b, i, what)
      continue
    }
    if (c === 0x7b || c === 0x5b) {
      depth++
      if (depth > MAX_DEPTH) throw malformed(what, 'nested too deeply')
    } else if (c === 0x7d || c === 0x5d) {
      depth--
      if (depth === 0) return i + 1
    }
    i++
  }
  throw malformed(what, 'unterminated value')
}

/**
 * Byte spans of the values of a top-level JSON object's members, by member name.
 * @throws `evidence-malformed` (not an object, duplicate member, unbalanced text)
 */
export function topLevelSpans(b: Uint8Array, what: string): Map<string, { start: number; end: number }> {
  const spans = new Map<string, { start: number; end: number }>()
  let p = 0
  const ws = (): void => {
    while (isWs(b[p])) p++
  }
  ws()
  if (b[p] !== 0x7b) throw malformed(what, 'not a JSON object')
  p++
  ws()
  if (b[p] === 0x7d) return spans
  for (;;) {
    ws()
    if (b[p] !== 0x22) throw malformed(what, 'expected a member name')
    const nameEnd = stringEnd(b, p, what)
    let name: unknown
    try {
      name = JSON.parse(Buffer.from(b.subarray(p, nameEnd)).toString('utf8'))
    } catch (cause) {
      throw new EvidenceError('evidence-malformed', `${what}: bad member name`, { cause })
    }
    if (typeof name !== 'string') throw malformed(what, 'bad member name')
    p = nameEnd
    ws()
    if (b[p] !== 0x3a) throw malformed(what, 'expected ":"')
    p++
    ws()
    const start = p
    p = valueEnd(b, p, what)
    if (spans.has(name)) throw malformed(what, `duplicate member ${name}`)
    spans.set(name, { start, end: p })
    ws()
    if (b[p] === 0x2c) {
      p++
      continue
    }
    if (b[p] === 0x7d) {
      p++
      break
    }
    throw malformed(what, 'expected "," or "}"')
  }
  ws()
  if (p !== b.byteLength) throw malformed(what, 'text after the JSON object')
  return spans
}

/** A PCS response split into the signed member's bytes, its parsed value and the signature. */
export interface SignedJson {
  readonly signedBytes: Uint8Array
  readonly body: unknown
  /** ECDSA r‖s, 64 bytes. */
  readonly signature: Uint8Array
}

/**
 * Splits a PCS response `{"<member>": …, "signature": "<128 hex>"}` (exactly these two members).
 * @throws `evidence-malformed`
 */
export function splitSignedJson(bytes: Uint8Array, member: string, what: string): SignedJson {
  const spans = topLevelSpans(bytes, what)
  const span = spans.get(member)
  const sig = spans.get('signature')
  if (span === undefined || sig === undefined || spans.size !== 2) throw malformed(what, `expected exactly the members ${member} and signature`)
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', `${what}: not JSON`, { cause })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformed(what, 'not a JSON object')
  const signatureText: unknown = Object.getOwnPropertyDescriptor(parsed, 'signature')?.value
  if (typeof signatureText !== 'string' || signatureText.length !== 128) throw malformed(what, 'signature is not 64 bytes of hex')
  return {
    signedBytes: bytes.slice(span.start, span.end),
    body: Object.getOwnPropertyDescriptor(parsed, member)?.value,
    signature: fromHex(signatureText, `${what} signature`),
  }
}

/**
 * Checks the ECDSA P-256/SHA-256 signature of a PCS response with the TCB Signing key.
 * @throws `signature-invalid`
 */
export function verifySignedJson(signed: SignedJson, key: KeyObject, what: string): void {
  let ok: boolean
  try {
    ok = verify('sha256', signed.signedBytes, { key, dsaEncoding: 'ieee-p1363' }, signed.signature)
  } catch (cause) {
    throw new EvidenceError('signature-invalid', `${what}: signature could not be checked`, { cause })
  }
  if (!ok) throw new EvidenceError('signature-invalid', `${what}: signature does not verify with the TCB Signing key`)
}
