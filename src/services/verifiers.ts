/**
 * The evidence verifiers of a configuration, built once: the service (`createServices`) and the
 * offline CLI (`keybroker evidence verify`) both build them here, so they apply the same trust
 * anchors and settings.
 */
import type { Config } from '../config/config.js'
import { createVerifierRegistry, type VerifierRegistry } from '../evidence/index.js'
import type { PinnedArk, SnpVerifyOptions } from '../evidence/snp/index.js'
import { isTdxTcbStatus, type TdxVerifyOptions } from '../evidence/tdx/index.js'
import type { SevRoot } from '../sev/index.js'

/**
 * Trust anchors added by tests only (synthetic roots of `test/generators/`). Deliberately not a
 * configuration setting: nothing an operator can set reaches this, and production code never
 * passes it.
 */
export interface TestTrustAnchors {
  /** Extra SEV-SNP ARKs pinned by SPKI SHA-256, beside AMD's. */
  readonly snpArks?: readonly PinnedArk[]
  /** Extra Intel SGX root CAs (SPKI SHA-256) for TDX quotes and collateral, beside Intel's. */
  readonly tdxRoots?: readonly string[]
  /** Extra SEV (pre-SNP) roots (a pinned ARK and its ASK), beside AMD's built-in ones. */
  readonly sevRoots?: readonly SevRoot[]
}

/** `SnpVerifyOptions` from the configuration (README, "SEV-SNP"). */
export function snpVerifyOptions(config: Pick<Config, 'snp'>, testAnchors: TestTrustAnchors = {}): Partial<SnpVerifyOptions> {
  const c = config.snp
  return {
    // Debug is never allowed by configuration: a report with DEBUG set is refused at the verifier.
    allowDebug: false,
    maxVmpl: c.maxVmpl,
    allowMigrationAgent: c.allowMigrationAgent,
    minimumReportVersion: c.minReportVersion,
    minimumFirmware: c.minFirmware,
    minimumTcb: c.minTcb,
    requireCrl: c.requireCrl,
    product: c.product,
    extraPinnedArks: testAnchors.snpArks ?? [],
    useBuiltinAmdCertificates: true,
  }
}

/** `TdxVerifyOptions` from the configuration (README, "Intel TDX"); debug is never allowed by configuration. */
export function tdxVerifyOptions(config: Pick<Config, 'tdx'>, testAnchors: TestTrustAnchors = {}): Partial<TdxVerifyOptions> {
  return {
    allowDebug: false,
    acceptedTcbStatuses: config.tdx.acceptedTcbStatuses.filter(isTdxTcbStatus),
    pinnedTcbSigningKeys: config.tdx.pinnedTcbSigningKeys,
    requireCrls: config.tdx.requireCrls,
    extraPinnedRoots: testAnchors.tdxRoots ?? [],
  }
}

/**
 * The registry of verifiers for `config`. The service passes `vmplAtAppraisal` (the VMPL of
 * `snp`/`gotpm` evidence is then judged per reference-value set, `KEYBROKER_SNP_MAX_VMPL` being
 * the default, and `attest` refuses a VMPL above it that no matching set accepts); the offline
 * CLI, which appraises nothing, keeps the check in the verifier.
 */
export function createVerifiers(
  config: Pick<Config, 'snp' | 'tdx' | 'allowSampleEvidence'>,
  testAnchors: TestTrustAnchors = {},
  vmplAtAppraisal = false,
): VerifierRegistry {
  return createVerifierRegistry({
    allowSample: config.allowSampleEvidence,
    snp: snpVerifyOptions(config, testAnchors),
    tdx: tdxVerifyOptions(config, testAnchors),
    vmplAtAppraisal,
  })
}
