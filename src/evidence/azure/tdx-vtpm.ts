/**
 * `az-tdx-vtpm`: an Azure confidential VM on Intel TDX. The HCL report holds the TDREPORT (which
 * only the platform can check) and the runtime claims; the TD quote (from Azure's quoting
 * service, signed by the PCK chain to Intel's root) carries the same REPORT_DATA = SHA-256 of the
 * runtime claims; those hold the vTPM AK (HCLAkPub), which signed the vTPM quote of keybroker's
 * binding. The TD quote is checked by the `tdx` verifier with its settings and collateral.
 * Azure's paravisor measures the guest into the vTPM, not into RTMRs (they are zero).
 */
import { EvidenceError } from '../../errors.js'
import { equalBytes, toHex } from '../reader.js'
import { parseQuote as parseTdQuote, toClaims as tdxToClaims, verifyTdxQuote, type TdxEvidenceCollateral, type TdxVerifyOptions } from '../tdx/index.js'
import { checkEventLog } from '../tpm/measured-boot.js'
import type { PcrValues } from '../tpm/pcrs.js'
import { akIdOf } from '../tpm/public.js'
import { measuredBootClaims, pcrMeasurements, quoteClaims } from '../tpm/to-claims.js'
import type { Claims, CollateralLookup, JsonValue } from '../types.js'
import { checkRuntimeDataBinding, parseHclReport } from './hcl-report.js'
import { parseRuntimeClaims, runtimeClaimsJson } from './runtime-claims.js'
import { verifyVtpmQuote } from './vtpm-quote.js'

/** REPORTMACSTRUCT.REPORTDATA of a TDREPORT (Intel TDX module ABI, TDREPORT_STRUCT): 64 bytes at 128. */
const TDREPORT_REPORT_DATA = { at: 128, size: 64 } as const

export interface AzTdxVtpmInput {
  readonly hclReport: Uint8Array
  readonly tdQuote: Uint8Array
  readonly tdCollateral?: TdxEvidenceCollateral | undefined
  readonly quote: Uint8Array
  readonly signature: Uint8Array
  readonly pcrs: PcrValues
  readonly eventLog?: Uint8Array | undefined
  readonly now: Date
  readonly collateral?: CollateralLookup
  readonly tdxOptions?: Partial<TdxVerifyOptions>
}

/**
 * The runtime claims' binding and the vTPM quote are checked before the TD quote's collateral
 * (so a defect there is reported as such even when TCB collateral is missing), then the TD
 * quote completely (`verifyTdxQuote`).
 * @throws everything `verifyTdxQuote` throws; `evidence-malformed` / `evidence-unsupported`
 *   (HCL report, runtime claims, quotes); `signature-invalid` (runtime claims not bound, TD quote
 *   not of this TDREPORT, vTPM quote signature or PCR digest); `event-log-mismatch`
 */
export async function verifyAzTdxVtpm(input: AzTdxVtpmInput): Promise<Claims> {
  const hcl = parseHclReport(input.hclReport)
  if (hcl.reportType !== 'tdx') throw new EvidenceError('evidence-unsupported', 'hclReport: holds an SNP report; use az-snp-vtpm')
  const td = parseTdQuote(input.tdQuote)
  checkRuntimeDataBinding(hcl, td.body.reportData)
  const tdReportData = hcl.hardwareReport.subarray(TDREPORT_REPORT_DATA.at, TDREPORT_REPORT_DATA.at + TDREPORT_REPORT_DATA.size)
  if (!equalBytes(tdReportData, td.body.reportData)) {
    throw new EvidenceError('signature-invalid', 'tdQuote: REPORT_DATA differs from the HCL report TDREPORT (not a quote of this TD report)')
  }
  const runtime = parseRuntimeClaims(hcl.runtimeData)
  const quote = verifyVtpmQuote(input.quote, input.signature, input.pcrs, runtime.akPublicKey)
  const measuredBoot = input.eventLog === undefined ? undefined : checkEventLog(input.eventLog, quote.pcrs, 2_000)
  const tdx = await verifyTdxQuote({
    quote: input.tdQuote,
    ...(input.tdCollateral === undefined ? {} : { collateral: input.tdCollateral }),
    now: input.now,
    ...(input.collateral === undefined ? {} : { lookup: input.collateral }),
    ...(input.tdxOptions === undefined ? {} : { options: input.tdxOptions }),
  })
  const tdxClaims = tdxToClaims(tdx)
  const vmUniqueId = runtime.vmConfiguration['vmUniqueId']
  const raw: { [k: string]: JsonValue } = {
    tdx: { ...tdxClaims.raw },
    quote: quoteClaims(quote),
    ak: { id: akIdOf(runtime.akPublicKey), trust: 'hcl-report' },
    hcl: { version: hcl.version, ...runtimeClaimsJson(runtime) },
  }
  if (measuredBoot !== undefined) raw['eventLog'] = measuredBootClaims(measuredBoot)
  const tdMeasurements = Object.fromEntries(Object.entries(tdxClaims.measurements).map(([k, v]) => [`td.${k}`, v]))
  return {
    evidenceType: 'az-tdx-vtpm',
    platform: 'azure-intel-tdx-vtpm',
    hardwareBacked: true,
    measurement: toHex(quote.attest.pcrDigest),
    measurements: { ...pcrMeasurements(quote), ...tdMeasurements },
    reportData: quote.attest.extraData.slice(),
    debug: tdxClaims.debug,
    tcb: tdxClaims.tcb,
    ...(tdxClaims.hostData === undefined ? {} : { hostData: tdxClaims.hostData }),
    ...(typeof vmUniqueId === 'string' ? { instanceId: vmUniqueId.toLowerCase() } : tdxClaims.instanceId === undefined ? {} : { instanceId: tdxClaims.instanceId }),
    raw,
  }
}
