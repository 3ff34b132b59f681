import type { JsonValue as ProtoJsonValue } from '@bufbuild/protobuf'
import { EvidenceError } from '../../errors.js'
import type { Attestation } from '../../proto-gen/attest_pb.js'
import { fromBase64 } from '../reader.js'
import type { SnpVerifyOptions } from '../snp/options.js'
import type { TdxVerifyOptions } from '../tdx/options.js'
import type { TpmVerifyOptions } from '../tpm/options.js'
import type { Claims, EvidenceFiles, EvidenceVerifier, VerifyContext } from '../types.js'
import { GOTPM_BINDING } from './binding.js'
import { decodeAttestationBinary, decodeAttestationJson } from './decode.js'
import { gotpmEvidenceSchema, MAX_ATTESTATION_BYTES, type GotpmEvidence } from './schema.js'
import { toClaims } from './to-claims.js'
import { verifyGotpm } from './verify.js'

/** The decoded `Attestation` of wire evidence. @throws `evidence-malformed` */
export function decodeGotpmEvidence(e: GotpmEvidence): Attestation {
  if (typeof e.attestation === 'string') return decodeAttestationBinary(fromBase64(e.attestation, 'attestation'))
  // JSON values of the route are the JSON the protojson decoder takes.
  return decodeAttestationJson(e.attestation as ProtoJsonValue)
}

export interface GotpmOptions {
  readonly tpm?: Partial<TpmVerifyOptions>
  readonly snp?: Partial<SnpVerifyOptions>
  readonly tdx?: Partial<TdxVerifyOptions>
}

export async function verifyGotpmWireEvidence(e: GotpmEvidence, ctx: VerifyContext, options: GotpmOptions = {}): Promise<Claims> {
  return toClaims(
    await verifyGotpm({
      attestation: decodeGotpmEvidence(e),
      now: ctx.now,
      collateral: ctx.collateral,
      ...(options.tpm === undefined ? {} : { tpmOptions: options.tpm }),
      ...(options.snp === undefined ? {} : { snpOptions: options.snp }),
      ...(options.tdx === undefined ? {} : { tdxOptions: options.tdx }),
    }),
  )
}

/**
 * For `keybroker evidence verify --type gotpm FILE`: FILE is the binary `Attestation`, or its
 * protojson (`gotpm attest --format textproto` is not read). @throws `evidence-malformed`
 */
export function gotpmEvidenceFromFile(main: Uint8Array, _files: EvidenceFiles): { readonly type: string; readonly [k: string]: unknown } {
  if (main.byteLength === 0 || main.byteLength > MAX_ATTESTATION_BYTES) throw new EvidenceError('evidence-malformed', 'gotpm evidence file: empty or too large')
  if (main[0] === 0x7b) {
    try {
      return { type: 'gotpm', attestation: JSON.parse(Buffer.from(main).toString('utf8')) as unknown }
    } catch (cause) {
      throw new EvidenceError('evidence-malformed', 'gotpm evidence file: starts with "{" but is not JSON', { cause })
    }
  }
  return { type: 'gotpm', attestation: Buffer.from(main).toString('base64') }
}

/** Builds a `gotpm` verifier; `options.snp` are the `snp` verifier's (the service passes its configuration). */
export function createGotpmVerifier(options: GotpmOptions = {}): EvidenceVerifier<GotpmEvidence> {
  return {
    type: 'gotpm',
    schema: gotpmEvidenceSchema,
    verify: (evidence, ctx) => verifyGotpmWireEvidence(evidence, ctx, options),
    binding: GOTPM_BINDING,
    fromFile: gotpmEvidenceFromFile,
  }
}

export const gotpmVerifier: EvidenceVerifier<GotpmEvidence> = createGotpmVerifier()

export { GOTPM_BINDING, GOTPM_BINDING_FIELDS } from './binding.js'
export { verifyGotpm, MAX_QUOTES } from './verify.js'
export type { GotpmVerifyInput, GotpmVerification } from './verify.js'
export { toClaims as gotpmClaims } from './to-claims.js'
export { decodeAttestationBinary, decodeAttestationJson } from './decode.js'
export { gotpmEvidenceSchema, MAX_ATTESTATION_BYTES } from './schema.js'
export type { GotpmEvidence } from './schema.js'
export { reportBytesFromProto, productFromProto, certificatesFromProto } from './snp-report.js'
export { quoteBytesFromProto } from './tdx-quote.js'
export { cocosReportData, teeBindingOf, teeNonceOf, TEE_NONCE_SIZE } from './tee-binding.js'
export type { TeeBinding } from './tee-binding.js'
