/**
 * IMA template entries and how the kernel hashes them (Linux `security/integrity/ima/`:
 * ima_template.c, ima_template_lib.c, ima_crypto.c `ima_calc_field_array_hash_tfm`):
 *
 * | template     | fields                              |
 * |--------------|-------------------------------------|
 * | `ima`        | d (20-byte SHA-1), n (name)         |
 * | `ima-ng`     | d-ng, n-ng                          |
 * | `ima-sig`    | d-ng, n-ng, sig                     |
 * | `ima-buf`    | d-ng, n-ng, buf                     |
 * | `ima-modsig` | d-ng, n-ng, sig, d-modsig, modsig   |
 *
 * d-ng is `<algo>:\0` followed by the digest; n-ng the path with its NUL; sig, buf and modsig raw
 * bytes. The template hash is H(for each field: u32le length ‖ data), except for `ima`, where it
 * is H(digest ‖ name zero-padded to 256 bytes) (IMA_EVENT_NAME_LEN_MAX + 1). The kernel extends
 * each PCR bank with the template hash computed in that bank's algorithm, or with all-ones when
 * the entry records a violation (its SHA-1 template hash is then all zero).
 */
import { createHash } from 'node:crypto'
import { EvidenceError } from '../../../errors.js'
import { concatBytes } from '../marshal.js'

export const IMA_TEMPLATE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  ima: ['d', 'n'],
  'ima-ng': ['d-ng', 'n-ng'],
  'ima-sig': ['d-ng', 'n-ng', 'sig'],
  'ima-buf': ['d-ng', 'n-ng', 'buf'],
  'ima-modsig': ['d-ng', 'n-ng', 'sig', 'd-modsig', 'modsig'],
}

/** IMA_EVENT_NAME_LEN_MAX + 1: the `ima` template hashes names padded to this. */
export const IMA_NAME_PAD = 256
/** The kernel's algorithm names of d-ng fields, and the digest sizes they imply. */
export const IMA_DIGEST_SIZES: Readonly<Record<string, number>> = { md5: 16, sha1: 20, sha256: 32, sha384: 48, sha512: 64, sha224: 28, 'sm3': 32 }

export interface ImaEntry {
  /** 0-based position in the list. */
  readonly sequence: number
  readonly pcr: number
  /** The template hash as listed (SHA-1 in the classic lists; all zero for a violation). */
  readonly templateHash: Uint8Array
  readonly template: string
  /** The template fields, as the kernel holds them (without length prefixes). */
  readonly fields: readonly Uint8Array[]
  /** Measured file: digest algorithm (kernel name), digest, path; undefined for unknown templates. */
  readonly fileHashAlgorithm: string | undefined
  readonly fileHash: Uint8Array | undefined
  readonly path: string | undefined
  /** ima-sig / ima-modsig signature, when present (non-empty). */
  readonly signature: Uint8Array | undefined
}

/** True when the entry records a violation (ToMToU, open-writers): its template hash is zero. */
export function isViolation(entry: Pick<ImaEntry, 'templateHash'>): boolean {
  return entry.templateHash.every((b) => b === 0)
}

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, true)
  return b
}

/** The bytes the kernel hashes for the template hash of an entry. */
export function templateHashInput(template: string, fields: readonly Uint8Array[]): Uint8Array {
  if (template === 'ima') {
    const [d, n] = fields
    if (d === undefined || n === undefined) throw new EvidenceError('evidence-malformed', 'ima template: needs two fields')
    const padded = new Uint8Array(IMA_NAME_PAD)
    padded.set(n.subarray(0, IMA_NAME_PAD))
    return concatBytes(d, padded)
  }
  return concatBytes(...fields.flatMap((f) => [u32le(f.byteLength), f]))
}

/** The digest an entry extends a bank of `hashName` with. */
export function templateDigest(entry: ImaEntry, hashName: string, size: number): Uint8Array {
  if (isViolation(entry)) return new Uint8Array(size).fill(0xff)
  return new Uint8Array(createHash(hashName).update(templateHashInput(entry.template, entry.fields)).digest())
}

/** Decodes a d-ng field: `<algo>:\0` then the digest (older kernels wrote bare SHA-1/MD5 digests). */
export function decodeDigestField(field: Uint8Array, what: string): { algorithm: string; digest: Uint8Array } {
  const colon = field.indexOf(0x3a)
  if (colon > 0 && colon < 16 && field[colon + 1] === 0) {
    const algorithm = Buffer.from(field.subarray(0, colon)).toString('latin1')
    const digest = field.slice(colon + 2)
    const size = IMA_DIGEST_SIZES[algorithm]
    if (size === undefined || digest.byteLength !== size) throw new EvidenceError('evidence-malformed', `${what}: ${algorithm} digest of ${digest.byteLength} bytes`)
    return { algorithm, digest }
  }
  if (field.byteLength === 20) return { algorithm: 'sha1', digest: field.slice() }
  if (field.byteLength === 16) return { algorithm: 'md5', digest: field.slice() }
  throw new EvidenceError('evidence-malformed', `${what}: not a digest field`)
}

/** A path field: bytes up to the first NUL, as UTF-8 (the kernel stores raw bytes; invalid UTF-8 shows as U+FFFD). */
export function decodeNameField(field: Uint8Array): string {
  const nul = field.indexOf(0)
  return Buffer.from(nul < 0 ? field : field.subarray(0, nul)).toString('utf8')
}

/** Builds the entry view of parsed fields: file digest, path and signature for the known templates. */
export function entryFromFields(sequence: number, pcr: number, templateHash: Uint8Array, template: string, fields: readonly Uint8Array[]): ImaEntry {
  const known = IMA_TEMPLATE_FIELDS[template]
  if (known === undefined) {
    return { sequence, pcr, templateHash, template, fields, fileHashAlgorithm: undefined, fileHash: undefined, path: undefined, signature: undefined }
  }
  if (fields.length !== known.length) {
    throw new EvidenceError('evidence-malformed', `ima entry ${sequence}: ${template} has ${known.length} fields, not ${fields.length}`)
  }
  // The `ima` template's d field is a bare SHA-1 digest (no algorithm prefix to look for).
  if (template === 'ima' && fields[0]!.byteLength !== 20) throw new EvidenceError('evidence-malformed', `ima entry ${sequence}: the ima template holds SHA-1 digests`)
  const { algorithm, digest } = template === 'ima' ? { algorithm: 'sha1', digest: fields[0]!.slice() } : decodeDigestField(fields[0]!, `ima entry ${sequence}`)
  const sig = template === 'ima-sig' || template === 'ima-modsig' ? fields[2] : undefined
  return {
    sequence,
    pcr,
    templateHash,
    template,
    fields,
    fileHashAlgorithm: algorithm,
    fileHash: digest,
    path: decodeNameField(fields[1]!),
    signature: sig !== undefined && sig.byteLength > 0 ? sig : undefined,
  }
}
