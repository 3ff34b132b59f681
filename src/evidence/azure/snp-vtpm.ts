/**
 * `az-snp-vtpm`: an Azure confidential VM on SEV-SNP (docs/architecture.md, "Evidence types"). The chain of
 * trust: the SNP report (the `snp` verifier: VCEK chain to AMD's pinned ARK, policy, TCB) →
 * its REPORT_DATA = SHA-256 of the HCL runtime claims → the vTPM AK (HCLAkPub) in those claims →
 * the vTPM quote, whose PCRs are the guest's measured boot and whose extraData carries
 * keybroker's binding (checked by the caller, like every verifier's report data).
 */
import { akIdOf } from '../tpm/public.js'
import { checkEventLog } from '../tpm/measured-boot.js'
import type { PcrValues } from '../tpm/pcrs.js'
import { measuredBootClaims, pcrMeasurements, quoteClaims } from '../tpm/to-claims.js'
import { toClaims as snpToClaims, verifySnpReport, type SnpVerifyOptions } from '../snp/index.js'
import type { EvidenceCertificates } from '../snp/cert-table.js'
import { toHex } from '../reader.js'
import type { Claims, CollateralLookup, JsonValue } from '../types.js'
import { EvidenceError } from '../../errors.js'
import { checkRuntimeDataBinding, parseHclReport } from './hcl-report.js'
import { parseRuntimeClaims, runtimeClaimsJson } from './runtime-claims.js'
import { verifyVtpmQuote } from './vtpm-quote.js'

export interface AzSnpVtpmInput {
  readonly hclReport: Uint8Array
  readonly quote: Uint8Array
  readonly signature: Uint8Array
  readonly pcrs: PcrValues
  readonly certs?: EvidenceCertificates | undefined
  readonly crl?: Uint8Array | undefined
  readonly eventLog?: Uint8Array | undefined
  readonly now: Date
  readonly collateral?: CollateralLookup
  readonly snpOptions?: Partial<SnpVerifyOptions>
}

/**
 * @throws everything `verifySnpReport` throws; `evidence-malformed` / `evidence-unsupported`
 *   (HCL report, runtime claims, quote); `signature-invalid` (runtime claims not bound, quote
 *   signature or PCR digest); `event-log-mismatch`
 */
export async function verifyAzSnpVtpm(input: AzSnpVtpmInput): Promise<Claims> {
  const hcl = parseHclReport(input.hclReport)
  if (hcl.reportType !== 'snp') throw new EvidenceError('evidence-unsupported', 'hclReport: holds a TDX report; use az-tdx-vtpm')
  const snp = await verifySnpReport({
    report: hcl.hardwareReport,
    ...(input.certs === undefined ? {} : { certs: input.certs }),
    ...(input.crl === undefined ? {} : { crl: input.crl }),
    now: input.now,
    ...(input.collateral === undefined ? {} : { collateral: input.collateral }),
    ...(input.snpOptions === undefined ? {} : { options: input.snpOptions }),
  })
  checkRuntimeDataBinding(hcl, snp.report.reportData)
  const runtime = parseRuntimeClaims(hcl.runtimeData)
  const quote = verifyVtpmQuote(input.quote, input.signature, input.pcrs, runtime.akPublicKey)
  const measuredBoot = input.eventLog === undefined ? undefined : checkEventLog(input.eventLog, quote.pcrs, 2_000)
  const snpClaims = snpToClaims(snp.report, snp.facts)
  const vmUniqueId = runtime.vmConfiguration['vmUniqueId']
  const raw: { [k: string]: JsonValue } = {
    snp: { ...snpClaims.raw },
    quote: quoteClaims(quote),
    ak: { id: akIdOf(runtime.akPublicKey), trust: 'hcl-report' },
    hcl: { version: hcl.version, ...runtimeClaimsJson(runtime) },
  }
  if (measuredBoot !== undefined) raw['eventLog'] = measuredBootClaims(measuredBoot)
  return {
    evidenceType: 'az-snp-vtpm',
    platform: 'azure-sev-snp-vtpm',
    hardwareBacked: true,
    measurement: toHex(quote.attest.pcrDigest),
    measurements: { ...pcrMeasurements(quote), snpMeasurement: snpClaims.measurement },
    reportData: quote.attest.extraData.slice(),
    debug: snpClaims.debug,
    tcb: snpClaims.tcb,
    ...(snpClaims.hostData === undefined ? {} : { hostData: snpClaims.hostData }),
    instanceId: typeof vmUniqueId === 'string' ? vmUniqueId.toLowerCase() : (snpClaims.instanceId ?? toHex(snp.report.chipId)),
    raw,
  }
}
