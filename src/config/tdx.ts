/**
 * The Intel TDX settings of the configuration (README, "Intel TDX"): their value syntax,
 * validated at start. Plain types, so that `src/config` does not depend on `src/evidence`; the
 * service turns them into `TdxVerifyOptions` (`src/services/verifiers.ts`).
 */
import { z } from 'zod'

/** The TCB statuses of Intel's evaluation (TCB Info V3 `tcbStatus`, plus the TD relaunch advice). */
export const TDX_TCB_STATUS_NAMES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'TDRelaunchAdvised',
  'TDRelaunchAdvisedConfigurationNeeded',
  'Revoked',
] as const
export type TdxTcbStatusName = (typeof TDX_TCB_STATUS_NAMES)[number]

export interface TdxConfig {
  /** TCB statuses accepted; default UpToDate and SWHardeningNeeded. */
  readonly acceptedTcbStatuses: readonly TdxTcbStatusName[]
  /** SPKI SHA-256 of TCB Signing keys trusted whatever their certificate's validity window. */
  readonly pinnedTcbSigningKeys: readonly string[]
  readonly requireCrls: boolean
  /** Fetch missing TCB info, QE identity, TCB Signing chain and PCK CRLs from Intel PCS / a PCCS (off by default). */
  readonly pcsFetch: boolean
  /** Base URL of PCS or a PCCS (no trailing slash). */
  readonly pcsUrl: string
  readonly pcsTimeoutMs: number
}

const isStatus = (s: string): s is TdxTcbStatusName => (TDX_TCB_STATUS_NAMES as readonly string[]).includes(s)

/** `UpToDate,SWHardeningNeeded`: comma-separated status names, at least one. */
export const tdxTcbStatusesSchema = z
  .string()
  .transform((text) => text.split(',').map((s) => s.trim()).filter((s) => s !== ''))
  .refine((list) => list.length > 0, 'at least one status')
  .refine((list) => list.every(isStatus), `each one of ${TDX_TCB_STATUS_NAMES.join(', ')}`)
  .transform((list) => list.filter(isStatus))

/** Comma-separated SHA-256 values (64 hex digits) of SubjectPublicKeyInfos, lowercased. */
export const spkiPinsSchema = z
  .string()
  .transform((text) => text.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''))
  .refine((list) => list.every((s) => /^[0-9a-f]{64}$/.test(s)), 'comma-separated SHA-256 values (64 hex digits)')
