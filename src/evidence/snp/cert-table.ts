/**
 * The certificates that arrive with an SNP report: the extended-report certificate table exactly
 * as the kernel returns it (configfs-tsm `auxblob`; layout from AMD "GHCB Standardization",
 * pub. 56421, "SNP Extended Guest Request": entries of GUID(16) ‖ offset(4, LE) ‖ length(4, LE),
 * ended by an all-zero entry, offsets relative to the table start, certificates after the table,
 * the blob padded with zeros to a page), or a list of DER / PEM certificates.
 */
import { EvidenceError } from '../../errors.js'
import { ByteReader, fromBase64, isZero, toHex } from '../reader.js'

/** GUIDs of GHCB spec 56421, in RFC 4122 byte order (as go-sev-guest and the kernel store them). */
export const CERT_TABLE_GUIDS = {
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  /** ASK, or the ASVK when the report is VLEK-signed. */
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
} as const

export const CERT_TABLE_ENTRY_SIZE = 24
/** A table has a handful of entries; this bounds work on hostile input. */
export const CERT_TABLE_MAX_ENTRIES = 32

export interface CertTableEntry {
  readonly guid: string
  readonly data: Uint8Array
}

function guidString(b: Uint8Array): string {
  const h = toHex(b)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

export function guidBytes(guid: string): Uint8Array {
  return new Uint8Array(Buffer.from(guid.replaceAll('-', ''), 'hex'))
}

function malformed(detail: string): EvidenceError {
  return new EvidenceError('evidence-malformed', `certificate table: ${detail}`)
}

/**
 * Parses a certificate table. Guarantees: a zero terminator entry exists; every entry's
 * offset lies after the table and offset+length within the blob; lengths are non-zero; no two
 * entries overlap; no GUID repeats; at most CERT_TABLE_MAX_ENTRIES. An empty blob is an empty
 * table. Data are copies.
 * @throws `evidence-malformed`
 */
export function parseCertTable(blob: Uint8Array): CertTableEntry[] {
  if (blob.byteLength === 0) return []
  const r = new ByteReader(blob)
  const raw: { guid: string; offset: number; length: number }[] = []
  for (;;) {
    if (r.remaining < CERT_TABLE_ENTRY_SIZE) throw malformed('no terminating zero entry')
    const guid = r.bytes(16, 'certificate table GUID')
    const offset = r.u32le('certificate table offset')
    const length = r.u32le('certificate table length')
    if (offset === 0 && length === 0 && isZero(guid)) break
    if (raw.length === CERT_TABLE_MAX_ENTRIES) throw malformed(`more than ${CERT_TABLE_MAX_ENTRIES} entries`)
    raw.push({ guid: guidString(guid), offset, length })
  }
  const tableEnd = r.position
  const seen = new Set<string>()
  for (const e of raw) {
    if (seen.has(e.guid)) throw malformed(`GUID ${e.guid} repeated`)
    seen.add(e.guid)
    if (e.length === 0) throw malformed(`entry ${e.guid} is empty`)
    if (e.offset < tableEnd) throw malformed(`entry ${e.guid} points into the table`)
    if (e.offset > blob.byteLength || e.length > blob.byteLength - e.offset) throw malformed(`entry ${e.guid} past the end`)
  }
  const sorted = [...raw].sort((a, b) => a.offset - b.offset)
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]
    const cur = sorted[i]
    if (prev !== undefined && cur !== undefined && prev.offset + prev.length > cur.offset) {
      throw malformed(`entries ${prev.guid} and ${cur.guid} overlap`)
    }
  }
  return raw.map((e) => ({ guid: e.guid, data: blob.slice(e.offset, e.offset + e.length) }))
}

/** Builds a table (the inverse of `parseCertTable`); for tests and clients. */
export function buildCertTable(entries: readonly CertTableEntry[], padTo = 0): Uint8Array {
  const header = (entries.length + 1) * CERT_TABLE_ENTRY_SIZE
  const total = header + entries.reduce((n, e) => n + e.data.byteLength, 0)
  const out = new Uint8Array(Math.max(total, padTo))
  const view = new DataView(out.buffer)
  let at = header
  entries.forEach((e, i) => {
    out.set(guidBytes(e.guid), i * CERT_TABLE_ENTRY_SIZE)
    view.setUint32(i * CERT_TABLE_ENTRY_SIZE + 16, at, true)
    view.setUint32(i * CERT_TABLE_ENTRY_SIZE + 20, e.data.byteLength, true)
    out.set(e.data, at)
    at += e.data.byteLength
  })
  return out
}

const PEM = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g

/** Every CERTIFICATE block of PEM text, decoded; text outside the blocks must be whitespace. */
export function decodePemCertificates(text: string, what: string): Uint8Array[] {
  const out: Uint8Array[] = []
  let rest = text
  for (const m of text.matchAll(PEM)) {
    const body = (m[1] ?? '').replace(/\s+/g, '')
    out.push(fromBase64(body, what))
    rest = rest.replace(m[0], '')
  }
  if (out.length === 0 || rest.trim() !== '') throw new EvidenceError('evidence-malformed', `${what}: not PEM certificates`)
  return out
}

/**
 * The length of the DER SEQUENCE that `der` starts with (its header included), or undefined
 * when `der` does not start with one whose length fits in it. Structure only, no X.509 parsing.
 */
export function derSequenceLength(der: Uint8Array): number | undefined {
  if (der[0] !== 0x30 || der.byteLength < 2) return undefined
  const first = der[1] ?? 0
  let len = first
  let head = 2
  if (first & 0x80) {
    const n = first & 0x7f
    if (n === 0 || n > 3 || der.byteLength < 2 + n) return undefined
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + (der[2 + i] ?? 0)
    head = 2 + n
  }
  const end = head + len
  return end <= der.byteLength ? end : undefined
}

/**
 * Length of the outer DER SEQUENCE of `der`, when the rest is zero padding (certificate table
 * entries may be padded); otherwise the whole length, leaving the X.509 parser to complain.
 */
export function trimDerPadding(der: Uint8Array): Uint8Array {
  const end = derSequenceLength(der)
  return end !== undefined && end < der.byteLength && isZero(der, end) ? der.slice(0, end) : der
}

/** The certificates of the evidence in their two wire forms, before any X.509 parsing. */
export type EvidenceCertificates =
  | { readonly form: 'table'; readonly entries: readonly CertTableEntry[] }
  | { readonly form: 'list'; readonly certificates: readonly Uint8Array[] }

/**
 * Decodes `certs` of the wire format: a string is a base64 certificate table (configfs-tsm
 * `auxblob`) or PEM text; an array holds certificates, each base64 DER or PEM.
 * @throws `evidence-malformed`
 */
export function decodeEvidenceCertificates(certs: string | readonly string[]): EvidenceCertificates {
  if (typeof certs === 'string') {
    if (certs.includes('-----BEGIN')) return { form: 'list', certificates: decodePemCertificates(certs, 'certs') }
    return { form: 'table', entries: parseCertTable(fromBase64(certs, 'certs')) }
  }
  const certificates = certs.flatMap((c, i) =>
    c.includes('-----BEGIN') ? decodePemCertificates(c, `certs[${i}]`) : [fromBase64(c, `certs[${i}]`)],
  )
  return { form: 'list', certificates }
}
