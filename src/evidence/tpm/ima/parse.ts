/**
 * The two forms of the IMA runtime measurement list (Linux `security/integrity/ima/ima_fs.c`):
 *
 * binary_runtime_measurements, per entry, little-endian (the canonical format):
 *   pcr u32 | template hash [20, or the bank's size for the per-bank lists] | name length u32 (≤ 255) | name |
 *   template data length u32 | template data (fields, each u32 length ‖ bytes)
 *   — except the `ima` template: no template data length; d is 20 raw bytes, n is u32 length ‖ name.
 *
 * ascii_runtime_measurements, one line per entry:
 *   `<pcr> <template hash hex> <template> <fields…>`: `ima`: `<sha1 hex> <path>`; `ima-ng`:
 *   `<algo>:<hex> <path>`; `ima-sig`/`ima-buf`: those and `<hex>` of sig/buf (may be absent when empty).
 *
 * A path may contain spaces, which makes ASCII lines ambiguous; the template hash decides: of the
 * readings of a line, the one whose fields hash to the listed template hash is taken (a
 * violation entry, hash zero, takes the plain reading). The ASCII list cannot express the
 * `ima-modsig` template or unknown templates: `evidence-unsupported`.
 */
import { createHash } from 'node:crypto'
import { EvidenceError } from '../../../errors.js'
import { ByteReader, equalBytes, fromHex } from '../../reader.js'
import { entryFromFields, isViolation, IMA_TEMPLATE_FIELDS, templateHashInput, type ImaEntry } from './templates.js'

/** Bounds that keep a hostile list from costing more than its size. */
export const MAX_IMA_LOG_BYTES = 16 * 1024 * 1024
export const MAX_IMA_ENTRIES = 200_000
const MAX_TEMPLATE_NAME = 255
const MAX_TEMPLATE_DATA = 1024 * 1024

const HASH_BY_SIZE: Readonly<Record<number, string>> = { 20: 'sha1', 32: 'sha256', 48: 'sha384', 64: 'sha512' }

export interface ImaLog {
  readonly form: 'binary' | 'ascii'
  readonly entries: readonly ImaEntry[]
}

/** Checks a non-violation entry's template hash against its data (so the data is what was extended). */
function checkTemplateHash(entry: ImaEntry): boolean {
  if (isViolation(entry)) return true
  const alg = HASH_BY_SIZE[entry.templateHash.byteLength]
  if (alg === undefined) return false
  return equalBytes(new Uint8Array(createHash(alg).update(templateHashInput(entry.template, entry.fields)).digest()), entry.templateHash)
}

function mustMatch(entry: ImaEntry): ImaEntry {
  if (!checkTemplateHash(entry)) throw new EvidenceError('evidence-malformed', `ima entry ${entry.sequence}: template hash does not match its data`)
  return entry
}

function readFields(data: Uint8Array, sequence: number): Uint8Array[] {
  const r = new ByteReader(data)
  const fields: Uint8Array[] = []
  while (r.remaining > 0) fields.push(r.bytes(r.u32le(`ima entry ${sequence} field length`), `ima entry ${sequence} field`))
  return fields
}

function parseBinaryWith(bytes: Uint8Array, hashSize: number): ImaEntry[] {
  const r = new ByteReader(bytes)
  const entries: ImaEntry[] = []
  while (r.remaining > 0) {
    const sequence = entries.length
    if (sequence >= MAX_IMA_ENTRIES) throw new EvidenceError('evidence-malformed', `ima: more than ${MAX_IMA_ENTRIES} entries`)
    const what = `ima entry ${sequence}`
    const pcr = r.u32le(`${what} pcr`)
    const templateHash = r.bytes(hashSize, `${what} template hash`)
    const nameLength = r.u32le(`${what} template name length`)
    if (nameLength === 0 || nameLength > MAX_TEMPLATE_NAME) throw new EvidenceError('evidence-malformed', `${what}: template name length ${nameLength}`)
    const template = Buffer.from(r.bytes(nameLength, `${what} template name`)).toString('latin1')
    if (!/^[\x21-\x7e]+$/.test(template)) throw new EvidenceError('evidence-malformed', `${what}: template name is not printable`)
    let fields: Uint8Array[]
    if (template === 'ima') {
      const d = r.bytes(20, `${what} digest`)
      const n = r.bytes(r.u32le(`${what} name length`), `${what} name`)
      fields = [d, n]
    } else {
      const length = r.u32le(`${what} template data length`)
      if (length > MAX_TEMPLATE_DATA) throw new EvidenceError('evidence-malformed', `${what}: template data of ${length} bytes`)
      fields = readFields(r.bytes(length, `${what} template data`), sequence)
    }
    entries.push(mustMatch(entryFromFields(sequence, pcr, templateHash, template, fields)))
  }
  return entries
}

/**
 * Parses binary_runtime_measurements. The template hash size is not in the format: SHA-1 (20
 * bytes, the classic list) is tried first, then 32/48/64 (the per-bank lists of Linux ≥ 6.x).
 * @throws `evidence-malformed` when no size reads the whole list with matching template hashes
 */
export function parseImaBinary(bytes: Uint8Array): ImaLog {
  if (bytes.byteLength > MAX_IMA_LOG_BYTES) throw new EvidenceError('evidence-malformed', 'ima: list too large')
  if (bytes.byteLength === 0) throw new EvidenceError('evidence-malformed', 'ima: empty list')
  let first: unknown
  for (const size of [20, 32, 48, 64]) {
    try {
      return { form: 'binary', entries: parseBinaryWith(bytes, size) }
    } catch (err) {
      if (!(err instanceof EvidenceError) || err.code !== 'evidence-malformed') throw err
      first ??= err
    }
  }
  throw first
}

const DIGEST_TOKEN = /^([a-z0-9]+):([0-9a-f]+)$/
const HEX = /^(?:[0-9a-fA-F]{2})+$/

function nameField(path: string): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from(path, 'utf8'), Buffer.from([0])]))
}

/** The readings of one ASCII line's fields after the template name, most plausible first. */
function asciiReadings(template: string, rest: readonly string[], what: string): Uint8Array[][] {
  if (template === 'ima') {
    const [digest, ...path] = rest
    if (digest === undefined || path.length === 0 || !HEX.test(digest) || digest.length !== 40) throw new EvidenceError('evidence-malformed', `${what}: bad ima fields`)
    return [[fromHex(digest.toLowerCase(), what), new Uint8Array(Buffer.from(path.join(' '), 'utf8'))]]
  }
  if (!(template in IMA_TEMPLATE_FIELDS) || template === 'ima-modsig') {
    throw new EvidenceError('evidence-unsupported', `${what}: template ${template} cannot be read from the ASCII list`)
  }
  const [digestToken, ...tail] = rest
  const m = digestToken === undefined ? null : DIGEST_TOKEN.exec(digestToken)
  if (m === null || tail.length === 0) throw new EvidenceError('evidence-malformed', `${what}: bad digest or path`)
  const d = new Uint8Array(Buffer.concat([Buffer.from(`${m[1]}:`, 'latin1'), Buffer.from([0]), Buffer.from(fromHex(m[2] ?? '', what))]))
  if (template === 'ima-ng') return [[d, nameField(tail.join(' '))]]
  // ima-sig / ima-buf: the last token may be the hex of sig/buf, or part of the path (empty sig).
  const readings: Uint8Array[][] = []
  const last = tail[tail.length - 1]!
  if (tail.length >= 2 && HEX.test(last)) readings.push([d, nameField(tail.slice(0, -1).join(' ')), fromHex(last.toLowerCase(), what)])
  readings.push([d, nameField(tail.join(' ')), new Uint8Array(0)])
  return readings
}

/**
 * Parses ascii_runtime_measurements.
 * @throws `evidence-malformed` (a line that does not parse or whose template hash does not match
 *   any reading); `evidence-unsupported` (templates the ASCII list cannot express)
 */
export function parseImaAscii(text: string): ImaLog {
  if (text.length > MAX_IMA_LOG_BYTES) throw new EvidenceError('evidence-malformed', 'ima: list too large')
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  if (lines.length === 0) throw new EvidenceError('evidence-malformed', 'ima: empty list')
  if (lines.length > MAX_IMA_ENTRIES) throw new EvidenceError('evidence-malformed', `ima: more than ${MAX_IMA_ENTRIES} entries`)
  const entries = lines.map((line, sequence): ImaEntry => {
    const what = `ima line ${sequence + 1}`
    const [pcrText, hashText, template, ...rest] = line.split(' ')
    if (pcrText === undefined || !/^\d{1,2}$/.test(pcrText) || hashText === undefined || !HEX.test(hashText) || template === undefined) {
      throw new EvidenceError('evidence-malformed', `${what}: not "<pcr> <template hash> <template> …"`)
    }
    const templateHash = fromHex(hashText.toLowerCase(), what)
    if (HASH_BY_SIZE[templateHash.byteLength] === undefined) throw new EvidenceError('evidence-malformed', `${what}: template hash of ${templateHash.byteLength} bytes`)
    const readings = asciiReadings(template, rest, what).map((fields) => entryFromFields(sequence, Number(pcrText), templateHash, template, fields))
    const match = readings.find(checkTemplateHash)
    if (match === undefined) throw new EvidenceError('evidence-malformed', `${what}: template hash does not match its data`)
    return match
  })
  return { form: 'ascii', entries }
}

/**
 * Reads `imaLog` of the evidence: ASCII text (`<pcr> <hex> <template> …` lines), or base64 of
 * either list (the ASCII list in base64 is how a shell client embeds it in JSON without escaping).
 * @throws as `parseImaAscii` / `parseImaBinary`; `evidence-malformed` for bad base64
 */
export function parseImaLog(text: string, decodeBase64: (t: string) => Uint8Array): ImaLog {
  if (ASCII_LIST.test(text)) return parseImaAscii(text)
  const bytes = decodeBase64(text)
  const head = Buffer.from(bytes.subarray(0, 160)).toString('latin1')
  return ASCII_LIST.test(head) ? parseImaAscii(Buffer.from(bytes).toString('utf8')) : parseImaBinary(bytes)
}

const ASCII_LIST = /^\d{1,2} [0-9a-fA-F]{40,128} /
