/**
 * Binding profiles (README, "Binding profiles"): how the evidence of one type carries the binding
 * value B — the 64-byte SHA-512 of `"keybroker-v1:" + nonce + ":" + thumbprint` that commits to
 * the challenge nonce and the client's key (`src/tokens/binding.ts`).
 *
 * Native evidence carries B itself (`report_data == B`; a TPM quote `extraData == B[0:32]`).
 * Foreign agents that take a nonce of their own (Automata's cvm-agent, Cosmian's agent,
 * go-tpm-tools/Cocos) are given the **agent nonce** `base64url(B[0:32])` and bind it by their own
 * rule; their profile checks that rule against the agent nonce, so the agent's binding still
 * commits to the client's key.
 *
 * A profile is pure: verified claims (and the bytes the verifier set aside for it in
 * `Claims.binding`) plus B in, ok (naming the rule that held) or a mismatch reason out. Every
 * evidence type declares one (`EvidenceVerifier.binding`); the service applies it after the
 * verifier and before appraisal, the same way for every type.
 */
import { equalBytes, toBase64Url } from './reader.js'
import type { Claims } from './types.js'

/** Size of B (SHA-512): the full SNP/TDX REPORT_DATA. */
export const BINDING_SIZE = 64
/** The part of B a TPM quote's extraData holds, and the part the agent nonce encodes. */
export const BINDING_HALF_SIZE = 32
/** Length of the agent nonce: base64url without padding of 32 bytes. */
export const AGENT_NONCE_LENGTH = 43

/**
 * What a profile checks the evidence against. B and the agent nonce are both given, so that a
 * profile never re-derives one from the other; request facts that only the service knows (e.g.
 * the TLS certificate of an agent that keybroker itself pulled the evidence from) come here too,
 * never from the request body.
 */
export interface BindingInput {
  /** B: 64 bytes. */
  readonly binding: Uint8Array
  /** `base64url(B[0:32])`: 43 URL-safe ASCII characters. */
  readonly agentNonce: string
  /** DER certificate of the agent's TLS endpoint, when the service pulled the evidence over TLS. */
  readonly agentCertificate?: Uint8Array | undefined
}

/** `ok` names the rule that held (e.g. `report-data`, `automata-v2`); it goes into the EAR and the audit. */
export type BindingResult = { readonly ok: true; readonly rule: string } | { readonly ok: false; readonly reason: string }

/** How one evidence type carries B. `check` is pure and never throws for evidence content. */
export interface BindingProfile {
  /** Stable name, as the README lists it. */
  readonly name: string
  check(claims: Claims, input: BindingInput): BindingResult
}

/** The agent nonce of B: `base64url(B[0:32])` without padding (43 characters). */
export function agentNonceOf(binding: Uint8Array): string {
  if (binding.byteLength !== BINDING_SIZE) throw new RangeError(`binding must be ${BINDING_SIZE} bytes`)
  return toBase64Url(binding.subarray(0, BINDING_HALF_SIZE))
}

/** The `BindingInput` of B (and request facts). */
export function bindingInput(binding: Uint8Array, facts: { readonly agentCertificate?: Uint8Array | undefined } = {}): BindingInput {
  return { binding, agentNonce: agentNonceOf(binding), ...(facts.agentCertificate === undefined ? {} : { agentCertificate: facts.agentCertificate }) }
}

export const bindingOk = (rule: string): BindingResult => ({ ok: true, rule })
export const bindingMismatch = (reason: string): BindingResult => ({ ok: false, reason })

/**
 * The native profile `report-data`: `claims.reportData` is B (64 bytes: SEV-SNP, TDX, sample) or
 * its first 32 bytes (a TPM quote's extraData, a TPM2B_DATA bounded by the SHA-256 size).
 * Compared in constant time.
 */
export const REPORT_DATA_BINDING: BindingProfile = {
  name: 'report-data',
  check: (claims, input) => checkReportData(claims.reportData, input.binding),
}

/** The `report-data` rule on bare bytes: `reportData` is B (64 bytes) or B[0:32] (32 bytes). */
export function checkReportData(reportData: Uint8Array, binding: Uint8Array): BindingResult {
  const size = reportData.byteLength
  if (size !== BINDING_SIZE && size !== BINDING_HALF_SIZE) return bindingMismatch(`report data must be ${BINDING_SIZE} or ${BINDING_HALF_SIZE} bytes`)
  return equalBytes(reportData, binding.subarray(0, size)) ? bindingOk('report-data') : bindingMismatch('report data does not bind the nonce and public key')
}
