/**
 * Decoding of go-tpm-tools' `attest.Attestation` (google/go-tpm-tools `proto/attest.proto`) with
 * @bufbuild/protobuf and the code generated from the upstream schema (`src/proto-gen/`): binary
 * protobuf as `proto.Marshal` writes it, or protojson. No wire format is parsed by hand here;
 * what this module adds are the bounds and the mapping of every decoder failure to a typed 4xx.
 */
import { fromBinary, fromJson, type JsonValue } from '@bufbuild/protobuf'
import { EvidenceError } from '../../errors.js'
import { AttestationSchema, type Attestation } from '../../proto-gen/attest_pb.js'
import { MAX_ATTESTATION_BYTES } from './schema.js'

/**
 * Decodes the binary `Attestation` (unknown fields are refused: a field this schema does not
 * know could carry something the signer meant to be checked). @throws `evidence-malformed`
 */
export function decodeAttestationBinary(bytes: Uint8Array): Attestation {
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_ATTESTATION_BYTES) {
    throw new EvidenceError('evidence-malformed', `attestation: 1 to ${MAX_ATTESTATION_BYTES} bytes expected`)
  }
  let message: Attestation
  try {
    message = fromBinary(AttestationSchema, bytes, { readUnknownFields: true })
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', 'attestation: not a go-tpm-tools Attestation protobuf', { cause })
  }
  refuseUnknownFields(message, 'attestation')
  return message
}

/** Decodes the protojson form (field names in either case, bytes in base64). @throws `evidence-malformed` */
export function decodeAttestationJson(json: JsonValue): Attestation {
  try {
    return fromJson(AttestationSchema, json, { ignoreUnknownFields: false })
  } catch (cause) {
    // The decoder's message names the offending field (never a value of the evidence).
    const what = cause instanceof Error ? cause.message.slice(0, 200) : 'not protojson'
    throw new EvidenceError('evidence-malformed', `attestation: ${what}`, { cause })
  }
}

type WithUnknown = { readonly $unknown?: readonly unknown[] | undefined }

/**
 * Walks the decoded message tree and refuses fields the schema does not define (binary input
 * keeps them in `$unknown`). Depth is bounded by the schema: messages nest at most four deep.
 */
function refuseUnknownFields(node: unknown, path: string): void {
  if (node === null || typeof node !== 'object' || node instanceof Uint8Array) return
  if (Array.isArray(node)) {
    node.forEach((n, i) => refuseUnknownFields(n, `${path}[${i}]`))
    return
  }
  const unknown = (node as WithUnknown).$unknown
  if (unknown !== undefined && unknown.length > 0) throw new EvidenceError('evidence-malformed', `${path}: field(s) unknown to the schema`)
  for (const [k, v] of Object.entries(node)) {
    if (k === '$typeName' || k === '$unknown') continue
    refuseUnknownFields(v, `${path}.${k}`)
  }
}
