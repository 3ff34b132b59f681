/**
 * A TPM2_Quote checked against a key: the TPMS_ATTEST parses as a quote, the TPMT_SIGNATURE over
 * it verifies with the key, and the reported PCR values hash to the quoted pcrDigest. Shared by
 * `tpm` evidence and the Azure vTPM types, which differ only in where the key comes from.
 */
import type { KeyObject } from 'node:crypto'
import type { TpmHashName } from './algorithms.js'
import { parseQuoteAttest, type TpmQuoteAttest } from './attest.js'
import { checkPcrDigest, quotedPcrs, type PcrValues } from './pcrs.js'
import { parseSignature, verifySignature, type TpmSignature } from './signature.js'

export interface VerifiedQuote {
  readonly attest: TpmQuoteAttest
  readonly signature: TpmSignature
  /** The quoted PCR values only, lowercase hex, by bank and index. */
  readonly pcrs: ReadonlyMap<TpmHashName, ReadonlyMap<number, string>>
}

/** Structure, then signature, then PCR digest (docs/conventions.md §10: trust nothing because it was signed). */
export function verifyQuote(
  quote: Uint8Array,
  signature: Uint8Array | TpmSignature,
  pcrs: PcrValues,
  key: KeyObject,
  options: { readonly allowSha1Signatures: boolean },
): VerifiedQuote {
  const attest = parseQuoteAttest(quote)
  const sig = signature instanceof Uint8Array ? parseSignature(signature) : signature
  verifySignature(sig, key, quote, { allowSha1: options.allowSha1Signatures })
  checkPcrDigest(attest.pcrSelect, pcrs, attest.pcrDigest, sig.hash)
  return { attest, signature: sig, pcrs: quotedPcrs(attest.pcrSelect, pcrs) }
}
