import { toHex } from '../reader.js'
import { GOTPM_BINDING_FIELDS } from './binding.js'
import { toClaims as snpToClaims } from '../snp/to-claims.js'
import { toClaims as tdxToClaims } from '../tdx/to-claims.js'
import { measuredBootClaims, pcrMeasurements, quoteClaims } from '../tpm/to-claims.js'
import type { Claims, JsonValue } from '../types.js'
import type { GotpmVerification } from './verify.js'

type JsonObject = { [k: string]: JsonValue }

/**
 * Normalized claims of a verified `gotpm` attestation:
 *
 * - with an SEV-SNP part: platform `amd-sev-snp-vtpm`; `measurement` = the SNP MEASUREMENT (what
 *   go-sev-guest policies and Cocos pin); `tcb`, `debug`, `hostData`, `instanceId` (CHIP_ID) and
 *   every decoded report field at the top of `raw`, as for `snp`, so the SNP claims of the
 *   catalogue read them at the same paths; `raw.teeBinding` says which tie held;
 * - with a TDX quote: platform `intel-tdx-vtpm`, `measurement` = MRTD, the `tdx` claims likewise;
 * - without: platform `vtpm`; `measurement` = the pcrDigest of the SHA-256 quote (else the first
 *   quote), as for `tpm`; `instanceId` = the AK id;
 * - always: `measurements` = every quoted PCR (`pcr<N>`, `<bank>-pcr<N>`), `reportData` = the
 *   quotes' nonce, `raw.pcrs` by bank (PCR 16 of Cocos holds SHA3-256 / SHA3-384 extends of the
 *   computation manifest there), `raw.quotes`, `raw.ak`, `raw.eventLog`.
 */
export function toClaims(v: GotpmVerification): Claims {
  const pcrs: JsonObject = {}
  for (const [bank, values] of v.pcrs) pcrs[bank] = Object.fromEntries([...values].map(([i, x]) => [String(i), x]))
  const measurements: Record<string, string> = {}
  for (const q of v.quotes) Object.assign(measurements, pcrMeasurements(q))
  const ak: JsonObject = { id: v.ak.id, trust: v.ak.trust, name: v.ak.name }
  if (v.ak.certifiedBy !== undefined) ak['certifiedBy'] = v.ak.certifiedBy
  if (v.ak.tpmPublic !== undefined) {
    ak['tpmName'] = toHex(v.ak.tpmPublic.name)
    ak['objectAttributes'] = v.ak.tpmPublic.objectAttributes.toString(16).padStart(8, '0')
  }
  const tpmRaw: JsonObject = {
    quotes: v.quotes.map((q) => quoteClaims(q)),
    ak,
    pcrs,
    nonce: toHex(v.nonce),
  }
  if (v.measuredBoot !== undefined) tpmRaw['eventLog'] = measuredBootClaims(v.measuredBoot)
  if (v.canonicalEventLogBytes > 0) tpmRaw['canonicalEventLog'] = { bytes: v.canonicalEventLogBytes, replayed: false }

  if (v.tdx !== undefined) {
    const td = tdxToClaims(v.tdx.verification)
    return {
      evidenceType: 'gotpm',
      platform: 'intel-tdx-vtpm',
      hardwareBacked: true,
      measurement: td.measurement,
      measurements: { ...td.measurements, ...measurements },
      reportData: v.nonce.slice(),
      debug: td.debug,
      tcb: td.tcb,
      ...(td.hostData === undefined ? {} : { hostData: td.hostData }),
      ...(td.instanceId === undefined ? {} : { instanceId: td.instanceId }),
      raw: { ...td.raw, tee: 'tdx', teeBinding: v.tdx.binding, ...tpmRaw },
      binding: { [GOTPM_BINDING_FIELDS.teeReportData]: v.tdx.verification.quote.body.reportData.slice(), [GOTPM_BINDING_FIELDS.akPub]: v.akPub.slice() },
    }
  }
  if (v.snp === undefined) {
    const main = v.quotes.find((q) => q.signature.hash.name === 'sha256' && q.attest.pcrSelect.some((b) => b.hash.name === 'sha256')) ?? v.quotes[0]!
    return {
      evidenceType: 'gotpm',
      platform: 'vtpm',
      hardwareBacked: true,
      measurement: toHex(main.attest.pcrDigest),
      measurements,
      reportData: v.nonce.slice(),
      debug: false,
      tcb: { firmwareVersion: main.attest.firmwareVersion.toString(16).padStart(16, '0') },
      instanceId: v.ak.id,
      raw: { tee: 'none', ...tpmRaw },
    }
  }
  const snp = snpToClaims(v.snp.verification.report, v.snp.verification.facts)
  return {
    evidenceType: 'gotpm',
    platform: 'amd-sev-snp-vtpm',
    hardwareBacked: true,
    measurement: snp.measurement,
    measurements: { ...snp.measurements, ...measurements },
    reportData: v.nonce.slice(),
    debug: snp.debug,
    tcb: snp.tcb,
    ...(snp.hostData === undefined ? {} : { hostData: snp.hostData }),
    ...(snp.instanceId === undefined ? {} : { instanceId: snp.instanceId }),
    raw: { ...snp.raw, tee: 'sev-snp', teeBinding: v.snp.binding, ...tpmRaw },
    binding: { [GOTPM_BINDING_FIELDS.teeReportData]: v.snp.verification.report.reportData.slice(), [GOTPM_BINDING_FIELDS.akPub]: v.akPub.slice() },
  }
}
