import { createHash } from 'node:crypto'
import { EvidenceError } from '../../../errors.js'
import { fromBase64 } from '../../reader.js'
import { BoundedCache } from '../../snp/cache.js'

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g

/**
 * Decodes PEM certificates (DER out, in order). The text may end in NUL bytes (the quote's PCK
 * chain is a C string in some quotes: vectors' MANIFEST, "tdx/"); anything else outside the
 * certificate blocks but white space is `evidence-malformed`, as is text without a certificate.
 */
export function decodePemCertificateList(text: string, what: string): Uint8Array[] {
  // Quotes of one platform carry the same PCK chain text: decoding is pure, so it is remembered (copies handed out).
  const key = createHash('sha256').update(text).digest('hex')
  const hit = decoded.get(key)
  if (hit !== undefined) return hit.map((d) => d.slice())
  const out = decodeUncached(text, what)
  decoded.set(key, out.map((d) => d.slice()))
  return out
}

const decoded = new BoundedCache<readonly Uint8Array[]>(256)

function decodeUncached(text: string, what: string): Uint8Array[] {
  const trimmed = text.replace(/\0+$/, '')
  const out: Uint8Array[] = []
  let outside = ''
  let last = 0
  for (const m of trimmed.matchAll(PEM_BLOCK)) {
    outside += trimmed.slice(last, m.index)
    last = m.index + m[0].length
    out.push(fromBase64((m[1] ?? '').replace(/\s+/g, ''), what))
  }
  outside += trimmed.slice(last)
  if (out.length === 0 || outside.trim() !== '') throw new EvidenceError('evidence-malformed', `${what}: not PEM certificates`)
  return out
}

/** PEM-encodes one DER certificate (64-character lines). */
export function encodePemCertificate(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64')
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`
}
