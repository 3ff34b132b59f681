import * as asn1js from 'asn1js'
import { KeybrokerError } from '../errors.js'

/**
 * The attestation result a certificate was issued on, as a non-critical X.509 extension, so that
 * a relying party sees what state the key holder attested without calling keybroker.
 *
 * OID `1.3.6.1.3.7346.1.1`, under the Internet `experimental` arc (RFC 1155 §3.1.3), which needs
 * no registration. Not a UUID OID (arc 2.25): its 128-bit arc overflows Go's encoding/asn1 (so
 * Go relying parties, Cocos among them, would refuse the whole certificate) and asn1js. If
 * keybroker gets a private enterprise number the OID moves there; the structure keeps its version.
 *
 * ```asn1
 * KeybrokerAttestationResult ::= SEQUENCE {
 *   version          INTEGER (1),
 *   earDigest        OCTET STRING (SIZE (32)),  -- SHA-256 of the EAR JWT (its ASCII compact form)
 *   earStatus        UTF8String,                -- "affirming" | "warning" | "contraindicated"
 *   evidenceType     UTF8String,                -- e.g. "snp", "tdx", "tpm", "sample"
 *   measurement      OCTET STRING,              -- the attested launch measurement
 *   tokenId          UTF8String,                -- the EAR's jti (audit log key)
 *   referenceValues  SEQUENCE OF UTF8String     -- the sets whose values matched
 * }
 * ```
 */
export const ATTESTATION_EXTENSION_OID = '1.3.6.1.3.7346.1.1'
export const ATTESTATION_EXTENSION_VERSION = 1

export interface AttestationResultExtension {
  readonly earDigest: Uint8Array
  readonly earStatus: string
  readonly evidenceType: string
  /** Lowercase hex. */
  readonly measurement: string
  readonly tokenId: string
  readonly referenceValues: readonly string[]
}

/** DER of the extension value (the `extnValue` contents) built with asn1js. */
export function encodeAttestationExtension(v: AttestationResultExtension): Uint8Array {
  if (v.earDigest.byteLength !== 32) throw new KeybrokerError('internal', 'earDigest must be 32 bytes')
  if (!/^(?:[0-9a-f]{2})+$/.test(v.measurement)) throw new KeybrokerError('internal', 'measurement must be lowercase hex')
  const seq = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: ATTESTATION_EXTENSION_VERSION }),
      new asn1js.OctetString({ valueHex: Uint8Array.from(v.earDigest) }),
      new asn1js.Utf8String({ value: v.earStatus }),
      new asn1js.Utf8String({ value: v.evidenceType }),
      new asn1js.OctetString({ valueHex: new Uint8Array(Buffer.from(v.measurement, 'hex')) }),
      new asn1js.Utf8String({ value: v.tokenId }),
      new asn1js.Sequence({ value: v.referenceValues.map((r) => new asn1js.Utf8String({ value: r })) }),
    ],
  })
  return new Uint8Array(seq.toBER(false))
}

/**
 * Reads the extension value back (relying parties, tests).
 * @throws KeybrokerError `bad-request` when it is not a version-1 KeybrokerAttestationResult.
 */
export function decodeAttestationExtension(der: Uint8Array): AttestationResultExtension {
  let parsed: asn1js.FromBerResult
  try {
    parsed = asn1js.fromBER(Uint8Array.from(der))
  } catch (cause) {
    // asn1js throws (rather than reporting an error block) for some malformed strings.
    throw new KeybrokerError('bad-request', 'attestation extension: not one DER value', { cause })
  }
  if (parsed.offset === -1 || parsed.offset !== der.byteLength) throw bad('not one DER value')
  const seq = parsed.result
  if (!(seq instanceof asn1js.Sequence) || seq.valueBlock.value.length !== 7) throw bad('not a 7-member SEQUENCE')
  const [version, digest, status, evidenceType, measurement, tokenId, sets] = seq.valueBlock.value
  if (!(version instanceof asn1js.Integer) || version.valueBlock.valueDec !== ATTESTATION_EXTENSION_VERSION) throw bad('unknown version')
  if (!(digest instanceof asn1js.OctetString) || digest.valueBlock.valueHexView.byteLength !== 32) throw bad('earDigest')
  if (!(status instanceof asn1js.Utf8String) || !(evidenceType instanceof asn1js.Utf8String) || !(tokenId instanceof asn1js.Utf8String)) throw bad('strings')
  if (!(measurement instanceof asn1js.OctetString)) throw bad('measurement')
  if (!(sets instanceof asn1js.Sequence) || !sets.valueBlock.value.every((s) => s instanceof asn1js.Utf8String)) throw bad('referenceValues')
  return {
    earDigest: Uint8Array.from(digest.valueBlock.valueHexView),
    earStatus: status.valueBlock.value,
    evidenceType: evidenceType.valueBlock.value,
    measurement: Buffer.from(measurement.valueBlock.valueHexView).toString('hex'),
    tokenId: tokenId.valueBlock.value,
    referenceValues: sets.valueBlock.value.flatMap((s) => (s instanceof asn1js.Utf8String ? [s.valueBlock.value] : [])),
  }
}

function bad(what: string): KeybrokerError {
  return new KeybrokerError('bad-request', `attestation extension: ${what}`)
}
