/**
 * Intel's TCB evaluation for TDX quotes, as Intel's Quote Verification Library implements
 * sections 4.1.2.4.11-17 of the "TDX DCAP Quote Verification" algorithm (QVL
 * `QuoteVerifier.cpp`, `Checks/TcbLevelCheck.cpp`, `Checks/TdxModuleCheck.cpp`,
 * `Checks/TDRelaunchCheck.cpp`, `EnclaveReportVerifier.cpp`). Pure: verified documents and
 * verified quote facts in, statuses out. Which status is acceptable is policy, decided by the
 * caller (`options.acceptedTcbStatuses`).
 */
import { EvidenceError } from '../../errors.js'
import { equalBytes, isZero, toHex } from '../reader.js'
import type { PckExtensions } from './quote/pck-extensions.js'
import type { TdxQuote } from './quote/parse.js'
import type { IdentityTcbLevel, IdentityTcbStatus, PlatformTcbLevel, PlatformTcbStatus, TdQeIdentity, TdxTcbInfo } from './tcb-info.js'

/** Final TCB statuses: the platform statuses plus the TD relaunch advice of TDX 1.5 bodies. */
export const TDX_TCB_STATUSES = [
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
export type TdxTcbStatus = (typeof TDX_TCB_STATUSES)[number]

export function isTdxTcbStatus(s: string): s is TdxTcbStatus {
  return (TDX_TCB_STATUSES as readonly string[]).includes(s)
}

export interface TdxTcbEvaluation {
  /** The converged status the acceptance policy judges. */
  readonly status: TdxTcbStatus
  /** Status of the TCB level selected by the SGX components and PCESVN alone. */
  readonly sgxTcbStatus: PlatformTcbStatus
  /** Status of the TCB level selected by SGX components, PCESVN and TEE_TCB_SVN. */
  readonly tdxTcbStatus: PlatformTcbStatus
  /** Status of the TDX module identity level (`UpToDate` when TEE_TCB_SVN names no module version). */
  readonly tdxModuleStatus: IdentityTcbStatus
  readonly tdxModuleIdentity: string | undefined
  readonly qeStatus: IdentityTcbStatus
  /** Union of the advisory IDs of the selected TDX TCB level, module level and QE level, sorted. */
  readonly advisoryIds: readonly string[]
  readonly tcbDate: string
  readonly tcbEvaluationDataNumber: number
}

function below(detail: string): EvidenceError {
  return new EvidenceError('tcb-below-minimum', detail)
}
function untrusted(detail: string): EvidenceError {
  return new EvidenceError('chain-untrusted', detail)
}

function masked(value: Uint8Array, mask: Uint8Array): Uint8Array {
  return value.map((v, i) => v & (mask[i] ?? 0))
}

/** `TDX_` + the module major version (TEE_TCB_SVN[1]) as two upper-case hex digits. */
export function tdxModuleIdentityId(teeTcbSvn: Uint8Array): string {
  return `TDX_${(teeTcbSvn[1] ?? 0).toString(16).padStart(2, '0').toUpperCase()}`
}

function findModuleIdentity(tcbInfo: TdxTcbInfo, id: string) {
  return tcbInfo.tdxModuleIdentities.find((m) => m.id === id)
}

/** 4.1.2.4.11: the SEAM module is Intel's (MRSIGNERSEAM) and its attributes are the expected zero. */
function checkTdxModule(tcbInfo: TdxTcbInfo, quote: TdxQuote): void {
  const { teeTcbSvn, mrSignerSeam, seamAttributes } = quote.body
  let expected = tcbInfo.tdxModule
  if ((teeTcbSvn[1] ?? 0) > 0) {
    const id = tdxModuleIdentityId(teeTcbSvn)
    expected = findModuleIdentity(tcbInfo, id)
    if (expected === undefined) throw below(`TCB info has no TDX module identity ${id}`)
  }
  if (expected === undefined) throw below('TCB info has no TDX module')
  if (!equalBytes(mrSignerSeam, expected.mrSigner)) throw untrusted('MRSIGNERSEAM is not the TDX module signer of the TCB info')
  if (!isZero(seamAttributes) || !equalBytes(seamAttributes, expected.attributes)) {
    throw untrusted('SEAMATTRIBUTES are not zero / the TDX module attributes of the TCB info')
  }
}

function identityLevel(levels: readonly IdentityTcbLevel[], isvSvn: number): IdentityTcbLevel | undefined {
  return levels.find((l) => isvSvn >= l.isvSvn)
}

/** 4.1.2.4.14-15 / 4.1.2.9: the QE is Intel's TD QE; its ISVSVN selects the QE status. */
function evaluateQe(identity: TdQeIdentity, quote: TdxQuote): IdentityTcbLevel {
  const qe = quote.qeReport
  if ((qe.miscSelect & identity.miscSelectMask) >>> 0 !== identity.miscSelect >>> 0) throw untrusted('QE MISCSELECT does not match the QE identity')
  if (!equalBytes(masked(qe.attributes, identity.attributesMask), identity.attributes)) throw untrusted('QE ATTRIBUTES do not match the QE identity')
  if (!equalBytes(qe.mrSigner, identity.mrSigner)) throw untrusted('QE MRSIGNER does not match the QE identity')
  if (qe.isvProdId !== identity.isvProdId) throw untrusted('QE ISVPRODID does not match the QE identity')
  const level = identityLevel(identity.tcbLevels, qe.isvSvn)
  if (level === undefined) throw below(`QE ISVSVN ${qe.isvSvn} matches no QE identity TCB level`)
  return level
}

function sgxTcbAtLeast(pck: PckExtensions, level: PlatformTcbLevel): boolean {
  return pck.sgxTcbComponents.every((svn, i) => svn >= (level.sgxTcbComponents[i] ?? 0)) && pck.pceSvn >= level.pceSvn
}

/** TEE_TCB_SVN against a level; bytes 0-1 (module SVN and version) are skipped when a module version is given. */
function tdxTcbAtLeast(teeTcbSvn: Uint8Array, level: PlatformTcbLevel): boolean {
  for (let i = (teeTcbSvn[1] ?? 0) > 0 ? 2 : 0; i < 16; i++) {
    if ((teeTcbSvn[i] ?? 0) < (level.tdxTcbComponents[i] ?? 0)) return false
  }
  return true
}

function convergeWithModule(tcb: PlatformTcbStatus, module: IdentityTcbStatus): PlatformTcbStatus {
  if (module === 'OutOfDate') {
    if (tcb === 'UpToDate' || tcb === 'SWHardeningNeeded') return 'OutOfDate'
    if (tcb === 'ConfigurationNeeded' || tcb === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded'
  }
  if (module === 'Revoked') return 'Revoked'
  return tcb
}

function convergeWithQe(tcb: TdxTcbStatus, qe: IdentityTcbStatus): TdxTcbStatus {
  if (qe === 'OutOfDate') {
    if (tcb === 'UpToDate' || tcb === 'SWHardeningNeeded') return 'OutOfDate'
    if (tcb === 'ConfigurationNeeded' || tcb === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded'
  }
  if (qe === 'Revoked') return 'Revoked'
  return tcb
}

function isConfigurationNeeded(s: TdxTcbStatus): boolean {
  return s === 'ConfigurationNeeded' || s === 'OutOfDateConfigurationNeeded' || s === 'ConfigurationAndSWHardeningNeeded' || s === 'TDRelaunchAdvisedConfigurationNeeded'
}

/**
 * 4.1.2.4.17.4.3 (TDX 1.5 bodies): an out-of-date TD on an up-to-date platform whose running
 * module (TEE_TCB_SVN2) is already at the latest level should be relaunched, not replaced.
 */
function relaunchAdvice(
  quote: TdxQuote,
  tcbInfo: TdxTcbInfo,
  sgx: PlatformTcbStatus,
  tdx: TdxTcbStatus,
  module: IdentityTcbStatus,
  qe: IdentityTcbStatus,
): TdxTcbStatus {
  const svn2 = quote.body.teeTcbSvn2
  if (svn2 === undefined || qe !== 'UpToDate') return tdx
  if (!(sgx === 'UpToDate' || sgx === 'SWHardeningNeeded' || sgx === 'ConfigurationNeeded' || sgx === 'ConfigurationAndSWHardeningNeeded')) return tdx
  if (!(tdx === 'OutOfDate' || tdx === 'OutOfDateConfigurationNeeded') || module !== 'OutOfDate') return tdx
  const latest = tcbInfo.tcbLevels[0]
  if (latest === undefined) return tdx
  let moduleSvnOk: boolean
  if ((svn2[1] ?? 0) === 0) {
    moduleSvnOk = (svn2[0] ?? 0) >= (latest.tdxTcbComponents[0] ?? 0)
  } else {
    const identity = findModuleIdentity(tcbInfo, tdxModuleIdentityId(svn2))
    if (identity === undefined) throw below(`TCB info has no TDX module identity ${tdxModuleIdentityId(svn2)} (TEE_TCB_SVN2)`)
    moduleSvnOk = (svn2[0] ?? 0) >= (identity.tcbLevels[0]?.isvSvn ?? Number.POSITIVE_INFINITY)
  }
  if (!moduleSvnOk || (svn2[2] ?? 0) < (latest.tdxTcbComponents[2] ?? 0)) return tdx
  return isConfigurationNeeded(sgx) || isConfigurationNeeded(tdx) ? 'TDRelaunchAdvisedConfigurationNeeded' : 'TDRelaunchAdvised'
}

/**
 * Evaluates the TCB of a verified TDX quote against verified, current collateral. The TCB info
 * must be for the PCK's FMSPC and PCE-ID (else `collateral-missing`: it is another platform's).
 * @throws `chain-untrusted` (TDX module or QE not the one the collateral names),
 *   `tcb-below-minimum` (no TCB level, module level or QE level matches: "TCB not supported"),
 *   `collateral-missing`
 */
export function evaluateTdxTcb(tcbInfo: TdxTcbInfo, qeIdentity: TdQeIdentity, pck: PckExtensions, quote: TdxQuote): TdxTcbEvaluation {
  if (tcbInfo.fmspc !== toHex(pck.fmspc)) throw new EvidenceError('collateral-missing', `TCB info is for FMSPC ${tcbInfo.fmspc}, the PCK certifies ${toHex(pck.fmspc)}`)
  if (tcbInfo.pceId !== toHex(pck.pceId)) throw new EvidenceError('collateral-missing', `TCB info is for PCE-ID ${tcbInfo.pceId}, the PCK certifies ${toHex(pck.pceId)}`)
  checkTdxModule(tcbInfo, quote)
  const qeLevel = evaluateQe(qeIdentity, quote)

  const teeTcbSvn = quote.body.teeTcbSvn
  let sgxLevel: PlatformTcbLevel | undefined
  let tdxLevel: PlatformTcbLevel | undefined
  for (const level of tcbInfo.tcbLevels) {
    if (!sgxTcbAtLeast(pck, level)) continue
    sgxLevel ??= level
    if (tdxTcbAtLeast(teeTcbSvn, level)) {
      tdxLevel = level
      break
    }
  }
  if (sgxLevel === undefined) throw below('no TCB level matches the SGX TCB components and PCESVN of the PCK certificate (TCB not supported)')
  if (tdxLevel === undefined) throw below('no TCB level matches TEE_TCB_SVN (TCB not supported)')

  let moduleStatus: IdentityTcbStatus = 'UpToDate'
  let moduleLevel: IdentityTcbLevel | undefined
  let moduleId: string | undefined
  if ((teeTcbSvn[1] ?? 0) > 0) {
    moduleId = tdxModuleIdentityId(teeTcbSvn)
    const identity = findModuleIdentity(tcbInfo, moduleId)
    if (identity === undefined) throw below(`TCB info has no TDX module identity ${moduleId}`)
    moduleLevel = identityLevel(identity.tcbLevels, teeTcbSvn[0] ?? 0)
    if (moduleLevel === undefined) throw below(`TDX module ISVSVN ${teeTcbSvn[0] ?? 0} matches no level of ${moduleId}`)
    moduleStatus = moduleLevel.tcbStatus
  }

  let status: TdxTcbStatus = convergeWithModule(tdxLevel.tcbStatus, moduleStatus)
  if (status !== 'Revoked') {
    status = relaunchAdvice(quote, tcbInfo, sgxLevel.tcbStatus, status, moduleStatus, qeLevel.tcbStatus)
    status = convergeWithQe(status, qeLevel.tcbStatus)
  }
  const advisoryIds = [...new Set([...tdxLevel.advisoryIds, ...(moduleLevel?.advisoryIds ?? []), ...qeLevel.advisoryIds])].sort()
  return {
    status,
    sgxTcbStatus: sgxLevel.tcbStatus,
    tdxTcbStatus: tdxLevel.tcbStatus,
    tdxModuleStatus: moduleStatus,
    tdxModuleIdentity: moduleId,
    qeStatus: qeLevel.tcbStatus,
    advisoryIds,
    tcbDate: tdxLevel.tcbDate,
    tcbEvaluationDataNumber: tcbInfo.tcbEvaluationDataNumber,
  }
}
