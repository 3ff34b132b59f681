/**
 * Checks about what a verified report says, each with its own error code. They run after the
 * signature and the chain (docs/conventions.md §10: structure, then signature, then meaning).
 */
import { EvidenceError } from '../../errors.js'
import type { SnpVerifyOptions } from './options.js'
import type { FirmwareVersion, SnpReport } from './parse.js'
import type { SnpProduct } from './products.js'
import { decodeTcb, TCB_COMPONENTS } from './tcb.js'

function versionNumber(v: FirmwareVersion): number {
  return (v.major << 16) | (v.minor << 8) | v.build
}
function versionText(v: FirmwareVersion): string {
  return `${v.major}.${v.minor}.${v.build}`
}

/**
 * @throws `debug-enabled` (DEBUG policy bit, unless allowed), `policy-violation` (VMPL above the
 * maximum, MIGRATE_MA unless allowed), `tcb-below-minimum` (report version, firmware version,
 * REPORTED_TCB component below the product's floor)
 */
export function checkReportPolicy(report: SnpReport, product: SnpProduct, options: SnpVerifyOptions): void {
  if (report.policyFlags.debug && !options.allowDebug) {
    throw new EvidenceError('debug-enabled', 'guest policy allows debugging (DEBUG bit 19)')
  }
  if (report.vmpl > options.maxVmpl) {
    throw new EvidenceError('policy-violation', `report requested at VMPL ${report.vmpl}; maximum is ${options.maxVmpl}`)
  }
  if (report.policyFlags.migrateMa && !options.allowMigrationAgent) {
    throw new EvidenceError('policy-violation', 'guest policy allows a migration agent (MIGRATE_MA bit 18)')
  }
  if (report.version < options.minimumReportVersion) {
    throw new EvidenceError('tcb-below-minimum', `report version ${report.version} below minimum ${options.minimumReportVersion}`)
  }
  const minFw = options.minimumFirmware
  if (minFw !== undefined) {
    for (const [name, v] of [['current', report.currentVersion], ['committed', report.committedVersion]] as const) {
      if (versionNumber(v) < versionNumber(minFw)) {
        throw new EvidenceError('tcb-below-minimum', `${name} firmware ${versionText(v)} below minimum ${versionText(minFw)}`)
      }
    }
  }
  const floor = options.minimumTcb[product]
  if (floor !== undefined) {
    const tcb = decodeTcb(report.reportedTcb, product)
    for (const c of TCB_COMPONENTS) {
      const min = floor[c]
      if (min === undefined) continue
      const have = tcb[c]
      if (have === undefined || have < min) {
        throw new EvidenceError('tcb-below-minimum', `reported TCB ${c} ${have ?? 'absent'} below minimum ${min} for ${product}`)
      }
    }
  }
}
