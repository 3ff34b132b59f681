/**
 * The TEE quote a Cosmian VM agent serves at `/quote/tee` (and that a Cosmian RA-TLS certificate
 * carries), in every form Cosmian's tee-tools produce (sources: Cosmian/tee-tools@1.6.2
 * `crate/sev_quote/src/quote.rs` and `crate/tee_attestation/src/lib.rs`; the 2.x layout from
 * tee-tools HEAD `crate/ratls`; the certificate enum of virtee/sev
 * `src/firmware/host/types/snp.rs`):
 *
 * | form | bytes |
 * |---|---|
 * | `bincode-v1` | SNP report (1184) ‖ u64 count ‖ per cert: u32 CertType ‖ [OTHER: u64 16 ‖ uuid] ‖ u64 length ‖ DER (bincode 1.x, fixint, little-endian). CertType of the sev crate v3-v6: Empty 0, ARK 1, ASK 2, VCEK 3, VLEK 4, CRL 5, OTHER 6 |
 * | `bincode-v1-legacy-enum` | the same with the sev crate v1.x enum: ARK 0, ASK 1, VCEK 2, OTHER 3, Empty 4 |
 * | `tee-tools-v2` | SNP report ‖ u32 count ‖ per cert: u32 length ‖ GUID (16) ‖ DER (length covers GUID and DER) |
 * | `bare` | the 1184-byte SNP report alone |
 * | `azure-pem` | the SNP report (from Azure's HCL report) ‖ the PEM chain VCEK, ASK, ARK from IMDS |
 * | `tdx` | a raw Intel DCAP quote (v4, v5) |
 *
 * The two bincode enums differ in bytes only where an OTHER entry carries its uuid; the
 * certificates are handed to the `snp` verifier as a list, which sorts them by subject name, so
 * an ordering is never trusted to say what a certificate is. Parsing is structural only: every
 * length is checked against what remains, and a form must consume every byte.
 */
import { EvidenceError } from '../../errors.js'
import { ByteReader, isZero } from '../reader.js'
import { CERT_TABLE_GUIDS, decodePemCertificates, derSequenceLength, type CertTableEntry, type EvidenceCertificates } from '../snp/cert-table.js'
import { REPORT_SIZE } from '../snp/report-layout.js'

/** A quote with a handful of certificates is ~6 KiB; a TDX quote with its PCK chain ~8 KiB. */
export const MAX_TEE_QUOTE_BYTES = 64 * 1024
/** ARK, ASK/ASVK, VCEK/VLEK, CRL and some room. */
export const MAX_QUOTE_CERTS = 16

export type CosmianSnpLayout = 'bincode-v1' | 'bincode-v1-legacy-enum' | 'tee-tools-v2' | 'bare' | 'azure-pem'

export type CosmianTeeQuote =
  | {
      readonly kind: 'snp'
      readonly layout: CosmianSnpLayout
      readonly report: Uint8Array
      readonly certs: EvidenceCertificates | undefined
      /** A CRL (DER) carried as a CertType CRL entry. */
      readonly crl: Uint8Array | undefined
    }
  | { readonly kind: 'tdx'; readonly quote: Uint8Array }

type CertKind = 'empty' | 'ark' | 'ask' | 'vcek' | 'vlek' | 'crl' | 'other'
/** sev crate v3-v6 (`CertType` declaration order; bincode writes the variant index). */
const CERT_TYPES: readonly CertKind[] = ['empty', 'ark', 'ask', 'vcek', 'vlek', 'crl', 'other']
/** sev crate v1.x. */
const LEGACY_CERT_TYPES: readonly CertKind[] = ['ark', 'ask', 'vcek', 'other', 'empty']

const UUID_SIZE = 16
const GUID_SIZE = 16
const KNOWN_GUIDS: ReadonlySet<string> = new Set(Object.values(CERT_TABLE_GUIDS))

function malformed(detail: string): EvidenceError {
  return new EvidenceError('evidence-malformed', `teeQuote: ${detail}`)
}

function guidString(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** A bincode u64 length: bounded by what remains, so no allocation follows an unchecked length. */
function u64Length(r: ByteReader, what: string): number {
  const n = r.u64le(what)
  if (n > BigInt(r.remaining)) throw malformed(`${what} ${n} exceeds the ${r.remaining} bytes left`)
  return Number(n)
}

/** True when `bytes` start like a TDX quote header: version 4/5, attestation key type 2 (ECDSA-256), TEE type 0x81. */
function looksLikeTdx(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 8) return false
  const v = new DataView(bytes.buffer, bytes.byteOffset, 8)
  const version = v.getUint16(0, true)
  return (version === 4 || version === 5) && v.getUint16(2, true) === 2 && v.getUint32(4, true) === 0x81
}

/**
 * True for an SGX quote header (version 3, attestation key type 2, TEE type 0): upstream's first
 * guess, which keybroker does not verify. (An SNP report v3 starts 03 00 00 00: key type 0.)
 */
function looksLikeSgx(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 8) return false
  const v = new DataView(bytes.buffer, bytes.byteOffset, 8)
  return v.getUint16(0, true) === 3 && v.getUint16(2, true) === 2 && v.getUint32(4, true) === 0
}

interface Parsed {
  readonly certificates: Uint8Array[]
  readonly entries: CertTableEntry[]
  readonly crl: Uint8Array | undefined
}

/** bincode 1.x `Vec<CertTableEntry>` with the given enum. @throws `evidence-malformed` */
function parseBincode(tail: Uint8Array, types: readonly CertKind[]): Parsed {
  const r = new ByteReader(tail)
  const count = r.u64le('teeQuote certificate count')
  if (count > BigInt(MAX_QUOTE_CERTS)) throw malformed(`${count} certificates (at most ${MAX_QUOTE_CERTS})`)
  const certificates: Uint8Array[] = []
  let crl: Uint8Array | undefined
  for (let i = 0; i < Number(count); i++) {
    const index = r.u32le(`teeQuote certs[${i}] type`)
    const kind = types[index]
    if (kind === undefined) throw malformed(`certs[${i}]: CertType ${index} unknown`)
    let uuid: string | undefined
    if (kind === 'other') {
      if (r.u64le(`teeQuote certs[${i}] uuid length`) !== BigInt(UUID_SIZE)) throw malformed(`certs[${i}]: OTHER without a 16-byte uuid`)
      uuid = guidString(r.bytes(UUID_SIZE, `teeQuote certs[${i}] uuid`))
    }
    const data = r.bytes(u64Length(r, `teeQuote certs[${i}] length`), `teeQuote certs[${i}]`)
    // Empty is the sev crate's terminator and carries nothing; data there means the other enum.
    if (kind === 'empty') {
      if (data.byteLength !== 0) throw malformed(`certs[${i}]: an Empty entry with ${data.byteLength} bytes`)
      continue
    }
    if (kind === 'crl') {
      if (crl !== undefined) throw malformed('two CRL entries')
      crl = data
      continue
    }
    // An OTHER entry is a certificate when its uuid is one of the GHCB table's (the VLEK of old quotes).
    if (kind === 'other' && (uuid === undefined || !KNOWN_GUIDS.has(uuid))) continue
    if (data.byteLength === 0) throw malformed(`certs[${i}]: empty ${kind}`)
    // One DER certificate, exactly: a quote cut short can otherwise read as the other enum's
    // layout with a few stray bytes for a certificate.
    if (derSequenceLength(data) !== data.byteLength) throw malformed(`certs[${i}]: not one DER certificate`)
    certificates.push(data)
  }
  r.end('teeQuote')
  return { certificates, entries: [], crl }
}

/** tee-tools 2.x: u32 count, per cert u32 length ‖ GUID ‖ DER. @throws `evidence-malformed` */
function parseV2(tail: Uint8Array): Parsed {
  const r = new ByteReader(tail)
  const count = r.u32le('teeQuote certificate count')
  if (count > MAX_QUOTE_CERTS) throw malformed(`${count} certificates (at most ${MAX_QUOTE_CERTS})`)
  const entries: CertTableEntry[] = []
  const seen = new Set<string>()
  for (let i = 0; i < count; i++) {
    const length = r.u32le(`teeQuote certs[${i}] length`)
    if (length <= GUID_SIZE) throw malformed(`certs[${i}]: length ${length} leaves no certificate after the GUID`)
    const guid = guidString(r.bytes(GUID_SIZE, `teeQuote certs[${i}] GUID`))
    const data = r.bytes(length - GUID_SIZE, `teeQuote certs[${i}]`)
    if (seen.has(guid)) throw malformed(`certs[${i}]: GUID ${guid} repeated`)
    seen.add(guid)
    entries.push({ guid, data })
  }
  r.end('teeQuote')
  return { certificates: [], entries, crl: undefined }
}

/**
 * Parses a Cosmian TEE quote into its form and parts (see the module comment). Nothing is
 * verified here; the `snp` / `tdx` verifiers do that.
 * @throws `evidence-malformed` (no form reads the bytes exactly), `evidence-unsupported` (SGX)
 */
export function parseCosmianTeeQuote(bytes: Uint8Array): CosmianTeeQuote {
  if (bytes.byteLength > MAX_TEE_QUOTE_BYTES) throw malformed(`${bytes.byteLength} bytes is too large`)
  if (looksLikeTdx(bytes)) return { kind: 'tdx', quote: bytes.slice() }
  if (looksLikeSgx(bytes)) throw new EvidenceError('evidence-unsupported', 'teeQuote: SGX quotes are not supported')
  if (bytes.byteLength < REPORT_SIZE) throw malformed(`${bytes.byteLength} bytes: shorter than an SEV-SNP report (${REPORT_SIZE}) and not a TDX quote`)
  const report = bytes.slice(0, REPORT_SIZE)
  const tail = bytes.subarray(REPORT_SIZE)
  if (tail.byteLength === 0) return { kind: 'snp', layout: 'bare', report, certs: undefined, crl: undefined }

  const text = Buffer.from(tail).toString('latin1')
  if (text.trimStart().startsWith('-----BEGIN')) {
    return { kind: 'snp', layout: 'azure-pem', report, certs: { form: 'list', certificates: decodePemCertificates(text, 'teeQuote PEM chain') }, crl: undefined }
  }
  // Zero padding after a bare report (a fixed-size buffer) is not a certificate list.
  if (isZero(tail)) throw malformed(`${tail.byteLength} zero bytes after the report`)

  const attempts: [CosmianSnpLayout, (t: Uint8Array) => Parsed][] = [
    ['bincode-v1', (t) => parseBincode(t, CERT_TYPES)],
    ['bincode-v1-legacy-enum', (t) => parseBincode(t, LEGACY_CERT_TYPES)],
    ['tee-tools-v2', parseV2],
  ]
  let first: unknown
  for (const [layout, parse] of attempts) {
    try {
      const p = parse(tail)
      const certs: EvidenceCertificates =
        layout === 'tee-tools-v2' ? { form: 'table', entries: p.entries } : { form: 'list', certificates: p.certificates }
      return { kind: 'snp', layout, report, certs, crl: p.crl }
    } catch (err) {
      if (!(err instanceof EvidenceError) || err.code !== 'evidence-malformed') throw err
      first ??= err
    }
  }
  throw first instanceof EvidenceError ? first : malformed('not a Cosmian quote')
}
