import type { TdxTcbStatus } from './tcb.js'

/**
 * What the `tdx` verifier enforces beyond cryptography. Every field has a safe default
 * (`DEFAULT_TDX_VERIFY_OPTIONS`).
 */
export interface TdxVerifyOptions {
  /** Accept TDs with TD_ATTRIBUTES.DEBUG set. Default false: `debug-enabled`. */
  readonly allowDebug: boolean
  /**
   * TCB statuses accepted after Intel's evaluation; anything else is `tcb-below-minimum`.
   * Default UpToDate and SWHardeningNeeded only (stricter than trustee, which accepts OutOfDate).
   */
  readonly acceptedTcbStatuses: readonly TdxTcbStatus[]
  /** Fail with `collateral-missing` unless current Root CA and PCK CRLs are available. Default false (used when present). */
  readonly requireCrls: boolean
  /**
   * SHA-256 of the SubjectPublicKeyInfo of TCB Signing keys trusted whatever the validity window
   * of the certificate that carries them (Intel re-issues that certificate with the same key;
   * vectors' MANIFEST, "roots/intel"). The certificate must still chain to the pinned root.
   * Default none: the certificate must be valid at `now`.
   */
  readonly pinnedTcbSigningKeys: readonly string[]
  /** Roots pinned besides the Intel SGX Root CA (test PKIs; never from configuration). Default none. */
  readonly extraPinnedRoots: readonly string[]
}

export const DEFAULT_TDX_VERIFY_OPTIONS: TdxVerifyOptions = {
  allowDebug: false,
  acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded'],
  requireCrls: false,
  pinnedTcbSigningKeys: [],
  extraPinnedRoots: [],
}

export function resolveTdxOptions(options: Partial<TdxVerifyOptions> | undefined): TdxVerifyOptions {
  return { ...DEFAULT_TDX_VERIFY_OPTIONS, ...options }
}
