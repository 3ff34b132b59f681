import type { FirmwareVersion } from './parse.js'
import type { SnpProduct } from './products.js'
import type { TcbParts } from './tcb.js'

/** An extra pinned ARK (e.g. a test root, or a future product line before a release ships it). */
export interface PinnedArk {
  readonly product: SnpProduct
  /** SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex. */
  readonly spkiSha256: string
}

/**
 * What the `snp` verifier enforces beyond cryptography. Every field has a safe default
 * (`DEFAULT_SNP_VERIFY_OPTIONS`); the service fills them from configuration.
 */
export interface SnpVerifyOptions {
  /** Accept reports whose guest policy has DEBUG set. Default false: `debug-enabled`. */
  readonly allowDebug: boolean
  /** Highest VMPL accepted. Default 0: a report requested from VMPL 1-3 is `policy-violation`. */
  readonly maxVmpl: number
  /** Accept guest policy MIGRATE_MA (a migration agent may be associated). Default false: `policy-violation`. */
  readonly allowMigrationAgent: boolean
  /** Lowest report VERSION accepted. Default 2. Below: `tcb-below-minimum`. */
  readonly minimumReportVersion: number
  /** Lowest SNP firmware version, checked against both CURRENT and COMMITTED. Default none. Below: `tcb-below-minimum`. */
  readonly minimumFirmware: FirmwareVersion | undefined
  /** Per product, per component floors for REPORTED_TCB. Default none. Below: `tcb-below-minimum`. */
  readonly minimumTcb: Readonly<Partial<Record<SnpProduct, Partial<TcbParts>>>>
  /** Fail with `collateral-missing` unless a current, ARK-signed CRL is available. Default false. */
  readonly requireCrl: boolean
  /** Product line of v2 reports (which carry no CPUID); v3+ reports name their own. Default: from the endorsement chain. */
  readonly product: SnpProduct | undefined
  /** ARKs pinned in addition to AMD's (`PINNED_ARK_SPKI_SHA256`). Default none. */
  readonly extraPinnedArks: readonly PinnedArk[]
  /** Use the built-in AMD ASK/ASVK/ARK certificates when neither evidence nor collateral has them. Default true. */
  readonly useBuiltinAmdCertificates: boolean
}

export const DEFAULT_SNP_VERIFY_OPTIONS: SnpVerifyOptions = {
  allowDebug: false,
  maxVmpl: 0,
  allowMigrationAgent: false,
  minimumReportVersion: 2,
  minimumFirmware: undefined,
  minimumTcb: {},
  requireCrl: false,
  product: undefined,
  extraPinnedArks: [],
  useBuiltinAmdCertificates: true,
}

export function resolveSnpOptions(options: Partial<SnpVerifyOptions> | undefined): SnpVerifyOptions {
  return { ...DEFAULT_SNP_VERIFY_OPTIONS, ...options }
}
