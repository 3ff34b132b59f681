/**
 * What the `tpm` verifier enforces beyond cryptography; every field has a safe default
 * (`DEFAULT_TPM_VERIFY_OPTIONS`).
 */
export interface TpmVerifyOptions {
  /** Accept SHA-1 quote signatures (old TPMs, GCP Shielded VM). Default false: `evidence-unsupported`. */
  readonly allowSha1Signatures: boolean
  /** Most events copied into the claims (the replay always covers every event). Default 2,000. */
  readonly maxEventClaims: number
  /** Most IMA entries copied into the claims (the replay always covers every entry). Default 20,000. */
  readonly maxImaClaims: number
}

export const DEFAULT_TPM_VERIFY_OPTIONS: TpmVerifyOptions = {
  allowSha1Signatures: false,
  maxEventClaims: 2_000,
  maxImaClaims: 20_000,
}

export function resolveTpmOptions(options: Partial<TpmVerifyOptions> | undefined): TpmVerifyOptions {
  return { ...DEFAULT_TPM_VERIFY_OPTIONS, ...options }
}
