/**
 * Intel's TCB evaluation for TDX quotes, as Intel's Quote Verification Library implements
 * sections 4.1.2.4.11-17 of the "TDX DCAP Quote Verification" algorithm (QVL
 * `QuoteVerifier.cpp`, `Checks/TcbLevelCheck.cpp`, `Checks/TdxModuleCheck.cpp`,
 * `Checks/TDRelaunchCheck.cpp`, `EnclaveReportVerifier.cpp`). TDX 1.5 bodies follow the QVL of
 * 2026 (`Checks/TcbLevelCheck.cpp`, `Checks/EvaluateTcb.cpp`, steps 4.1.2.5.1.20 and 4.1.2.5.2):
 * the TCB is evaluated for TEE_TCB_SVN (launch) and for TEE_TCB_SVN_2 (current), then
 * `checkForRelaunch`. Pure: verified documents and
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
  /** The converged status the acceptance policy judges (for TDX 1.5 bodies after the relaunch check). */
  readonly status: TdxTcbStatus
  /** TDX 1.5 bodies: the converged status of TEE_TCB_SVN_2, the TCB the TD runs on now. */
  readonly currentStatus?: TdxTcbStatus
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
 * TDX 1.5 bodies (QVL `TDRelaunchCheck.cpp` `checkForRelaunch`, step 4.1.2.5.1.20.2): a TD whose
 * launch TCB (TEE_TCB_SVN) is out of date while the TCB it runs on now (TEE_TCB_SVN_2, after
 * TD-preserving module updates) is current should be relaunched, not replaced.
 */
function checkForRelaunch(launch: TdxTcbStatus, current: TdxTcbStatus): TdxTcbStatus {
  if (launch !== 'OutOfDate' && launch !== 'OutOfDateConfigurationNeeded') return launch
  if (current !== 'UpToDate' && current !== 'SWHardeningNeeded' && current !== 'ConfigurationNeeded' && current !== 'ConfigurationAndSWHardeningNeeded') return launch
  return isConfigurationNeeded(launch) || isConfigurationNeeded(current) ? 'TDRelaunchAdvisedConfigurationNeeded' : 'TDRelaunchAdvised'
}

interface SvnEvaluation {
  readonly status: TdxTcbStatus
  readonly sgxLevel: PlatformTcbLevel
  readonly tdxLevel: PlatformTcbLevel
  readonly moduleStatus: IdentityTcbStatus
  readonly moduleLevel: IdentityTcbLevel | undefined
  readonly moduleId: string | undefined
}

/**
 * QVL `tdxEvaluateTCB` (4.1.2.5.2) for one TEE TCB SVN array: the first TCB level the SGX
 * components, PCESVN and the array (from byte 2 on when it names a module version) reach; the
 * module identity level of its SVN; converged with the module and QE statuses.
 * @throws `tcb-below-minimum` (no level: "TCB not supported")
 */
function evaluateSvns(tcbInfo: TdxTcbInfo, qeStatus: IdentityTcbStatus, pck: PckExtensions, teeTcbSvn: Uint8Array, which: string): SvnEvaluation {
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
  if (tdxLevel === undefined) throw below(`no TCB level matches ${which} (TCB not supported)`)

  let moduleStatus: IdentityTcbStatus = 'UpToDate'
  let moduleLevel: IdentityTcbLevel | undefined
  let moduleId: string | undefined
  if ((teeTcbSvn[1] ?? 0) > 0) {
    moduleId = tdxModuleIdentityId(teeTcbSvn)
    const identity = findModuleIdentity(tcbInfo, moduleId)
    if (identity === undefined) throw below(`TCB info has no TDX module identity ${moduleId} (${which})`)
    moduleLevel = identityLevel(identity.tcbLevels, teeTcbSvn[0] ?? 0)
    if (moduleLevel === undefined) throw below(`TDX module ISVSVN ${teeTcbSvn[0] ?? 0} matches no level of ${moduleId} (${which})`)
    moduleStatus = moduleLevel.tcbStatus
  }
  let status: TdxTcbStatus = convergeWithModule(tdxLevel.tcbStatus, moduleStatus)
  if (status !== 'Revoked') status = convergeWithQe(status, qeStatus)
  return { status, sgxLevel, tdxLevel, moduleStatus, moduleLevel, moduleId }
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

  const launch = evaluateSvns(tcbInfo, qeLevel.tcbStatus, pck, quote.body.teeTcbSvn, 'TEE_TCB_SVN')
  const { sgxLevel, tdxLevel, moduleStatus, moduleLevel, moduleId } = launch
  let status = launch.status
  let currentStatus: TdxTcbStatus | undefined
  const teeTcbSvn2 = quote.body.teeTcbSvn2
  if (teeTcbSvn2 !== undefined) {
    // 4.1.2.5.1.20: a TDX 1.5 body is evaluated twice; the current TCB must be supported too.
    currentStatus = evaluateSvns(tcbInfo, qeLevel.tcbStatus, pck, teeTcbSvn2, 'TEE_TCB_SVN_2').status
    status = checkForRelaunch(status, currentStatus)
  }
  const advisoryIds = [...new Set([...tdxLevel.advisoryIds, ...(moduleLevel?.advisoryIds ?? []), ...qeLevel.advisoryIds])].sort()
  return {
    status,
    ...(currentStatus === undefined ? {} : { currentStatus }),
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
