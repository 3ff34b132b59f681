/**
 * The tie between the TEE report and the vTPM quote of one go-tpm-tools `Attestation`, as each
 * producer defines it (sources read for this, both Apache-2.0):
 *
 * - **Cocos** (ultravioletrs/cocos@747aaaa5eb6fd78f7b78738249ce881828768d59
 *   `pkg/attestation/vtpm/vtpm.go`, `addTEEAttestation`): the SEV-SNP REPORT_DATA is
 *   `SHA3-512(teeNonce ‖ ak_pub)`, `ak_pub` being field 1 of the Attestation (the marshalled
 *   TPMT_PUBLIC of the AK), `teeNonce` the agent's 64-byte `[SEVNonce]byte` (the cocos CLI copies
 *   a shorter nonce into it zero-padded, `cli/attestation.go`); the TPM quote's extraData is the
 *   32-byte vTPM nonce (`FetchQuote`, `[Nonce]byte`). The report names the AK, so the vTPM is
 *   bound to the SNP guest (with an SVSM vTPM, the report comes from the guest's VMPL).
 * - **go-tpm-tools** (google/go-tpm-tools@67670e5c021a24f2366eb1808db2659211af5eb2
 *   `client/attest.go`, `AddAttestation` of `SevSnpQuoteProvider` / `TdxQuoteProvider` and
 *   `fillTdxNonce`): without a separate `TEENonce`, the TEE report data is the attestation nonce
 *   (the quote's extraData) copied into 64 zero bytes. Only freshness ties the two: the report
 *   does not name the AK (on GCP the vTPM lives in the hypervisor, outside the TEE).
 *
 * keybroker gives both producers the same 32 raw bytes (the first half of the binding) as the
 * vTPM nonce and as the TEE nonce, so the tie is checked without knowing the binding: the TEE
 * nonce is the quote's extraData zero-padded to 64 bytes.
 */
import { createHash } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { equalBytes } from '../reader.js'

/** SEV-SNP REPORT_DATA and TDX REPORTDATA are 64 bytes. */
export const TEE_NONCE_SIZE = 64

export type TeeBinding = 'cocos-sha3-512' | 'gotpm-nonce'

/** The TEE nonce of a vTPM nonce: its first 64 bytes, zero-padded to 64 (Go's `copy` into `[64]byte`). */
export function teeNonceOf(vtpmNonce: Uint8Array): Uint8Array {
  const out = new Uint8Array(TEE_NONCE_SIZE)
  out.set(vtpmNonce.subarray(0, TEE_NONCE_SIZE))
  return out
}

/** Cocos: `SHA3-512(teeNonce ‖ akPub)`. */
export function cocosReportData(teeNonce: Uint8Array, akPub: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha3-512').update(teeNonce).update(akPub).digest())
}

/**
 * Which producer's rule ties `reportData` to the quote nonce (and, for Cocos, to the AK).
 * @throws `binding-mismatch` when neither holds
 */
export function teeBindingOf(reportData: Uint8Array, vtpmNonce: Uint8Array, akPub: Uint8Array): TeeBinding {
  const teeNonce = teeNonceOf(vtpmNonce)
  if (equalBytes(reportData, cocosReportData(teeNonce, akPub))) return 'cocos-sha3-512'
  if (equalBytes(reportData, teeNonce)) return 'gotpm-nonce'
  throw new EvidenceError(
    'binding-mismatch',
    'the TEE report data is neither SHA3-512(nonce ‖ AK public area) (Cocos) nor the vTPM nonce (go-tpm-tools)',
  )
}
