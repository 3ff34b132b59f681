/**
 * AMD's X.509 extensions on VCEK and VLEK certificates (AMD "Versioned Chip Endorsement Key (VCEK)
 * Certificate and KDS Interface Specification", pub. 57230, rev. 1.00, Table 9 / "VLEK" section):
 * OID arc 1.3.6.1.4.1.3704.1. SPLs are DER INTEGERs, the product name an IA5String, the hwID the
 * chip id — sent either raw or wrapped in an OCTET STRING, both encodings are in use (vectors'
 * MANIFEST, trustee-synthetic-vcek-negative).
 */
import { EvidenceError } from '../../errors.js'
import type { ParsedCertificate } from '../x509-chain.js'

export const AMD_OID = {
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSpl: '1.3.6.1.4.1.3704.1.3.1',
  teeSpl: '1.3.6.1.4.1.3704.1.3.2',
  snpSpl: '1.3.6.1.4.1.3704.1.3.3',
  ucodeSpl: '1.3.6.1.4.1.3704.1.3.8',
  /** Turin and later. */
  fmcSpl: '1.3.6.1.4.1.3704.1.3.9',
  hwId: '1.3.6.1.4.1.3704.1.4',
  /** VLEK only: the cloud provider the key was issued to. */
  cspId: '1.3.6.1.4.1.3704.1.5',
} as const

export interface EndorsementExtensions {
  readonly productName: string | undefined
  readonly bootloader: number | undefined
  readonly tee: number | undefined
  readonly snp: number | undefined
  readonly microcode: number | undefined
  readonly fmc: number | undefined
  /** Present in VCEKs; the raw or OCTET-STRING-unwrapped bytes. */
  readonly hwId: Uint8Array | undefined
  readonly cspId: string | undefined
}

function bad(oid: string, what: string): EvidenceError {
  return new EvidenceError('chain-untrusted', `endorsement extension ${oid}: ${what}`)
}

/** A DER TLV with a short or one/two-byte long length that spans exactly `v`. */
function tlv(v: Uint8Array, oid: string): { tag: number; body: Uint8Array } {
  const tag = v[0]
  const first = v[1]
  if (tag === undefined || first === undefined) throw bad(oid, 'truncated')
  let len = first
  let head = 2
  if (first === 0x81 || first === 0x82) {
    const n = first & 0x7f
    len = 0
    for (let i = 0; i < n; i++) {
      const byte = v[2 + i]
      if (byte === undefined) throw bad(oid, 'truncated length')
      len = len * 256 + byte
    }
    head = 2 + n
  } else if (first > 0x7f) {
    throw bad(oid, 'unsupported length form')
  }
  if (head + len !== v.byteLength) throw bad(oid, 'length does not match the extension value')
  return { tag, body: v.subarray(head) }
}

function integer(v: Uint8Array, oid: string): number {
  const { tag, body } = tlv(v, oid)
  if (tag !== 0x02 || body.byteLength === 0 || body.byteLength > 4) throw bad(oid, 'not a small INTEGER')
  if ((body[0] ?? 0) & 0x80) throw bad(oid, 'negative INTEGER')
  let n = 0
  for (const byte of body) n = n * 256 + byte
  return n
}

function text(v: Uint8Array, oid: string): string {
  const { tag, body } = tlv(v, oid)
  // IA5String (0x16) in AMD's certificates; UTF8String/PrintableString accepted for robustness.
  if (tag !== 0x16 && tag !== 0x0c && tag !== 0x13) throw bad(oid, 'not a string')
  return Buffer.from(body).toString('latin1')
}

function hwIdValue(v: Uint8Array, expectedSize: number, oid: string): Uint8Array {
  if (v.byteLength === expectedSize) return v.slice()
  if (v[0] === 0x04) {
    const { body } = tlv(v, oid)
    if (body.byteLength === expectedSize) return body.slice()
  }
  throw bad(oid, `hwID is not ${expectedSize} bytes, raw or as OCTET STRING`)
}

/**
 * Reads AMD's extensions from a VCEK/VLEK. `hwIdSize` is the product's certified hwID size (64,
 * Turin 8). Absent extensions are `undefined`; the caller decides which are required.
 * @throws `chain-untrusted` for a present but undecodable extension
 */
export function readEndorsementExtensions(cert: ParsedCertificate, hwIdSize: number): EndorsementExtensions {
  const get = (oid: string): Uint8Array | undefined => cert.extensions.get(oid)?.value
  const int = (oid: string): number | undefined => {
    const v = get(oid)
    return v === undefined ? undefined : integer(v, oid)
  }
  const name = get(AMD_OID.productName)
  const hw = get(AMD_OID.hwId)
  const csp = get(AMD_OID.cspId)
  return {
    productName: name === undefined ? undefined : text(name, AMD_OID.productName),
    bootloader: int(AMD_OID.blSpl),
    tee: int(AMD_OID.teeSpl),
    snp: int(AMD_OID.snpSpl),
    microcode: int(AMD_OID.ucodeSpl),
    fmc: int(AMD_OID.fmcSpl),
    hwId: hw === undefined ? undefined : hwIdValue(hw, hwIdSize, AMD_OID.hwId),
    cspId: csp === undefined ? undefined : text(csp, AMD_OID.cspId),
  }
}
