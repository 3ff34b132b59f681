import { z } from 'zod'
import { EvidenceError } from '../../errors.js'
import { fromBase64, jsonObjectOf, parseJsonFile } from '../reader.js'
import type { Claims, EvidenceFiles, EvidenceVerifier, VerifyContext } from '../types.js'
import type { TpmVerifyOptions } from './options.js'
import { decodePcrValues } from './pcrs.js'
import { verifyTpmEvidence } from './verify.js'
import { REPORT_DATA_BINDING } from '../binding.js'

const B64 = (max: number) => z.string().min(1).max(max)

/**
 * `evidence` of type `tpm` on the wire (README, "TPM evidence"): `quote` the TPMS_ATTEST
 * (`tpm2_quote -m`), `signature` the TPMT_SIGNATURE (`tpm2_quote -s`), both base64;
 * `pcrs` the PCR values by bank and index (hex); `ak` the AK public key (TPM2B_PUBLIC,
 * TPMT_PUBLIC, DER SPKI in base64, or PEM) and/or an AK certificate with its chain;
 * `eventLog` the binary TCG event log (base64); `imaLog` the IMA list as ASCII text or base64
 * of the binary list. Sizes are bounded before any decoding (the body limit bounds them again).
 */
export const tpmEvidenceSchema = z
  .object({
    type: z.literal('tpm'),
    quote: B64(2048),
    signature: B64(2048),
    pcrs: z.record(z.string().max(16), z.record(z.string().max(2), z.string().max(128))),
    ak: z
      .object({
        public: z.string().min(1).max(4096).optional(),
        certificate: z.string().min(1).max(16_384).optional(),
        chain: z.array(z.string().min(1).max(16_384)).max(8).optional(),
      })
      .strict(),
    eventLog: B64(8 * 1024 * 1024).optional(),
    imaLog: z.string().min(1).max(32 * 1024 * 1024).optional(),
  })
  .strict()
export type TpmEvidence = z.infer<typeof tpmEvidenceSchema>

/** Verifies wire-format `tpm` evidence (defaults: `DEFAULT_TPM_VERIFY_OPTIONS`). */
export function verifyTpmWireEvidence(evidence: TpmEvidence, ctx: VerifyContext, options?: Partial<TpmVerifyOptions>): Promise<Claims> {
  return verifyTpmEvidence({
    quote: fromBase64(evidence.quote, 'quote'),
    signature: fromBase64(evidence.signature, 'signature'),
    pcrs: decodePcrValues(evidence.pcrs),
    ak: evidence.ak,
    eventLog: evidence.eventLog === undefined ? undefined : fromBase64(evidence.eventLog, 'eventLog'),
    imaLog: evidence.imaLog,
    now: ctx.now,
    collateral: ctx.collateral,
    ...(options === undefined ? {} : { options }),
  })
}

/**
 * For `keybroker evidence verify --type tpm FILE`: FILE is the evidence object as JSON (what
 * `src/clients/tpm/keybroker-tpm-evidence` prints), with or without its `type`.
 * @throws `evidence-malformed`
 */
export function tpmEvidenceFromFile(main: Uint8Array, _files: EvidenceFiles): { readonly type: string; readonly [k: string]: unknown } {
  const json = parseJsonFile(main, 'tpm evidence file')
  const object = jsonObjectOf(json, 'tpm evidence file')
  return { ...object, type: 'tpm' }
}

/** Builds a `tpm` verifier with fixed options. */
export function createTpmVerifier(options?: Partial<TpmVerifyOptions>): EvidenceVerifier<TpmEvidence> {
  return {
    type: 'tpm',
    schema: tpmEvidenceSchema,
    verify: (evidence, ctx) => verifyTpmWireEvidence(evidence, ctx, options),
    binding: REPORT_DATA_BINDING,
    fromFile: tpmEvidenceFromFile,
  }
}

/** The registered `tpm` verifier, with the safe default options. */
export const tpmVerifier: EvidenceVerifier<TpmEvidence> = createTpmVerifier()

export { verifyTpm, verifyTpmEvidence } from './verify.js'
export type { TpmVerifyInput, TpmVerification } from './verify.js'
export { DEFAULT_TPM_VERIFY_OPTIONS, resolveTpmOptions } from './options.js'
export type { TpmVerifyOptions } from './options.js'
export { parseQuoteAttest, MAX_ATTEST_SIZE } from './attest.js'
export type { TpmQuoteAttest, TpmClockInfo } from './attest.js'
export { parseSignature, verifySignature } from './signature.js'
export type { TpmSignature } from './signature.js'
export { parsePublic, checkAkAttributes, akIdOf, spkiDer, AK_REQUIRED_ATTRIBUTES } from './public.js'
export type { TpmPublic } from './public.js'
export { decodeAkPublic, decodeAkPublicBytes, checkAkKeyType } from './ak-key.js'
export type { AkPublicKey } from './ak-key.js'
export { decodePcrValues, computePcrDigest, pcrValuesFromList } from './pcrs.js'
export type { PcrValues } from './pcrs.js'
export { verifyQuote } from './quote.js'
export type { VerifiedQuote } from './quote.js'
export { resolveAk, registeredCas, AkRegistrationSchema, TPM_COLLATERAL_KINDS } from './ak-trust.js'
export type { AkEvidence, AkRegistration, TrustedAk, TpmCaPurpose } from './ak-trust.js'
export { verifyCertificatePath, decodeCertificateText, TPM_CERT_CRITICAL_EXTENSIONS } from './certificates.js'
export { quoteClaims, pcrMeasurements, pcrClaimName } from './to-claims.js'
export { TPM_ALG, TPMA_OBJECT, hashByAlg, hashByName } from './algorithms.js'
export type { TpmHash, TpmHashName } from './algorithms.js'
