/**
 * The vTPM quote of an Azure confidential VM, checked with the AK from the HCL report's runtime
 * claims. Azure's guest tools hand out the signature either as a TPMT_SIGNATURE or as the bare
 * RSASSA-PKCS1-v1_5 SHA-256 signature (trustee's `tpm_quote.signature`); a signature exactly the
 * size of the RSA modulus is the bare form.
 */
import type { KeyObject } from 'node:crypto'
import { hashByName } from '../tpm/algorithms.js'
import type { PcrValues } from '../tpm/pcrs.js'
import { verifyQuote, type VerifiedQuote } from '../tpm/quote.js'
import { parseSignature, type TpmSignature } from '../tpm/signature.js'

export function vtpmSignature(bytes: Uint8Array, ak: KeyObject): TpmSignature {
  const modulusBytes = ak.asymmetricKeyType === 'rsa' ? (ak.asymmetricKeyDetails?.modulusLength ?? 0) / 8 : 0
  if (modulusBytes > 0 && bytes.byteLength === modulusBytes) return { sigAlg: 'rsassa', hash: hashByName('sha256')!, sig: bytes }
  return parseSignature(bytes)
}

/** @throws as `verifyQuote` (SHA-1 signatures refused) */
export function verifyVtpmQuote(quote: Uint8Array, signature: Uint8Array, pcrs: PcrValues, ak: KeyObject): VerifiedQuote {
  return verifyQuote(quote, vtpmSignature(signature, ak), pcrs, ak, { allowSha1Signatures: false })
}
