/**
 * The `cosmian` evidence object on the wire (README, "Cosmian VM"): what a Cosmian VM agent
 * serves, as it serves it. Binary values arrive as the agent writes them — a JSON array of byte
 * values (serde's `Vec<u8>`) — or as base64 (the agent's own `STANDARD_NO_PAD`; padded and
 * base64url are accepted as everywhere in keybroker). Sizes are bounded before anything is decoded.
 *
 * The shape is a contract: it may grow, it is not renamed.
 */
import { z } from 'zod'
import { EvidenceError } from '../../errors.js'
import { fromBase64 } from '../reader.js'
import { decodeCertificateText } from '../tpm/certificates.js'
import { MAX_IMA_LOG_BYTES } from '../tpm/ima/parse.js'
import { MAX_TEE_QUOTE_BYTES } from './tee-quote.js'

/** A binary value: JSON array of bytes, or base64 text of at most `maxBytes` bytes. */
const binary = (maxBytes: number, description: string) =>
  z
    .union([z.array(z.number().int().min(0).max(255)).min(1).max(maxBytes), z.string().min(1).max(Math.ceil(maxBytes / 3) * 4)])
    .describe(description)

const b64 = (max: number) => z.string().min(1).max(max)

/** `/quote/tpm` exactly as the agent answers it (field names are the agent's). */
export const cosmianTpmQuoteSchema = z
  .object({
    pcr_value_hash_method: z.string().min(1).max(16).describe('the PCR bank the quote covers: Sha1, Sha256, Sha384 or Sha512'),
    quote: b64(2048).describe('TPMS_ATTEST, base64 without padding'),
    signature: b64(2048).describe('TPMT_SIGNATURE, base64 without padding'),
    public_key: b64(4096).describe('TPMT_PUBLIC of the AK, base64 without padding'),
  })
  .strict()
export type CosmianTpmQuoteJson = z.infer<typeof cosmianTpmQuoteSchema>

export const cosmianEvidenceSchema = z
  .object({
    type: z.literal('cosmian'),
    teeQuote: binary(MAX_TEE_QUOTE_BYTES, '`/quote/tee`: bincode SEV quote (either CertType enum), tee-tools 2.x quote, bare SNP report, Azure report + PEM chain, or raw TDX quote'),
    tpmQuote: cosmianTpmQuoteSchema.optional(),
    imaBinary: binary(MAX_IMA_LOG_BYTES, '`/ima/binary`: binary_runtime_measurements').optional(),
    agentCertificate: z.string().min(1).max(32_768).optional().describe("the agent's TLS leaf certificate, PEM or base64 DER (needed by the binding)"),
  })
  .strict()
  .describe('what a Cosmian VM agent yields (README, "Cosmian VM")')
export type CosmianEvidence = z.infer<typeof cosmianEvidenceSchema>

/** Bytes of a binary wire value. @throws `evidence-malformed` naming `what` */
export function decodeBinary(value: string | readonly number[], what: string): Uint8Array {
  if (typeof value === 'string') return fromBase64(value, what)
  return Uint8Array.from(value)
}

/** The agent certificate: exactly one certificate, PEM or base64 DER. @throws `evidence-malformed` */
export function decodeAgentCertificate(text: string): Uint8Array {
  const certs = decodeCertificateText(text.trim(), 'agentCertificate')
  if (certs.length !== 1 || certs[0] === undefined) throw new EvidenceError('evidence-malformed', 'agentCertificate: exactly one certificate (the TLS leaf), please')
  return certs[0]
}

/** The bank `pcr_value_hash_method` names (the agent's `TpmHashMethod` as serde writes it). */
export function bankOfHashMethod(method: string): 'sha1' | 'sha256' | 'sha384' | 'sha512' {
  switch (method.toLowerCase()) {
    case 'sha1':
      return 'sha1'
    case 'sha256':
      return 'sha256'
    case 'sha384':
      return 'sha384'
    case 'sha512':
      return 'sha512'
    default:
      throw new EvidenceError('evidence-unsupported', `tpmQuote.pcr_value_hash_method: ${method.slice(0, 16)} unsupported`)
  }
}
