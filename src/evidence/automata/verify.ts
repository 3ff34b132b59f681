/**
 * `automata`: the collaterals of Automata's cvm-agent, composed from the native verifiers (no
 * second copy of any of them):
 *
 * 1. the TEE report — SEV-SNP by the `snp` verifier (VCEK/VLEK chain to AMD's pinned ARK, policy,
 *    TCB), or a TDX quote by the `tdx` verifier (PCK chain, QE, TCB info), whose CCEL
 *    (`boot_log_ccel`) replays to RTMR0-3;
 * 2. the attestation key (AK) of the VM's vTPM and what ties it to that TEE report
 *    (`TeeTpmTie`): on Azure the TEE report's REPORT_DATA is SHA-256(var_data) ‖ 0³², and var_data
 *    (the HCL runtime claims) holds the AK (`azure-var-data`); elsewhere the AK is trusted the
 *    `tpm` way (`resolveAk`) — certified by a registered AK CA such as GCP's vTPM CA
 *    (`ak-certificate`) or registered by an admin (`registered-ak`) — or not at all (`none`);
 * 3. the vTPM quote (`raw_sig` over `quote` by that AK; the PCR values hash to its pcrDigest),
 *    and the TCG boot log (`boot_log_tpm`) replayed to the quoted PCRs.
 *
 * The nonce binding (magic, nonce, the quote's extraData, the TEE report data of the three
 * binding generations) is the `automata` binding profile's, checked by the service.
 */
import { createHash, type KeyObject } from 'node:crypto'
import { EvidenceError, isKeybrokerError } from '../../errors.js'
import { parseRuntimeClaims, runtimeClaimsJson, type RuntimeClaims } from '../azure/runtime-claims.js'
import { vtpmSignature } from '../azure/vtpm-quote.js'
import { parseQuoteAttest } from '../tpm/attest.js'
import { equalBytes, isZero, toHex } from '../reader.js'
import { toClaims as snpToClaims, verifySnpReport, type SnpVerifyOptions } from '../snp/index.js'
import { toClaims as tdxToClaims, verifyTdxQuote, type TdxVerifyOptions } from '../tdx/index.js'
import { resolveAk, type TrustedAk } from '../tpm/ak-trust.js'
import { decodeAkPublicBytes } from '../tpm/ak-key.js'
import { parseCertificateMemo } from '../tpm/certificates.js'
import { checkEventLog } from '../tpm/measured-boot.js'
import { DEFAULT_TPM_VERIFY_OPTIONS } from '../tpm/options.js'
import { akIdOf } from '../tpm/public.js'
import { verifyQuote, type VerifiedQuote } from '../tpm/quote.js'
import { measuredBootClaims, pcrMap, pcrMeasurements, quoteClaims } from '../tpm/to-claims.js'
import { NO_COLLATERAL, type Claims, type CollateralLookup, type JsonValue, type TeeTpmTie } from '../types.js'
import type { AutomataCollaterals } from './collaterals.js'

export interface AutomataVerifyInput {
  readonly collaterals: AutomataCollaterals
  readonly now: Date
  readonly collateral?: CollateralLookup
  readonly snpOptions?: Partial<SnpVerifyOptions>
  readonly tdxOptions?: Partial<TdxVerifyOptions>
}

/**
 * Runs `fn`; a structural failure (`evidence-malformed`, `evidence-unsupported`) is re-thrown
 * naming the collaterals field it came from, so that the client learns which member to fix.
 */
async function inField<T>(field: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (isKeybrokerError(err) && (err.code === 'evidence-malformed' || err.code === 'evidence-unsupported') && !err.detail.startsWith('collaterals.')) {
      throw new EvidenceError(err.code, `collaterals.${field}: ${err.detail}`, { cause: err })
    }
    throw err
  }
}

/** The verified TEE half: its normalized claims and its REPORT_DATA. */
interface VerifiedTee {
  readonly claims: Claims
  readonly reportData: Uint8Array
}

async function verifyTee(input: AutomataVerifyInput): Promise<VerifiedTee> {
  const { tee, bootLogCcel } = input.collaterals
  const collateral = input.collateral ?? NO_COLLATERAL
  if (tee.kind === 'snp') {
    await inField('sev_snp.vek_cert', () => parseCertificateMemo(tee.vekCert, 'certificate'))
    const snp = await inField('sev_snp', () => verifySnpReport({
      report: tee.report,
      certs: { form: 'list', certificates: [tee.vekCert] },
      now: input.now,
      collateral,
      ...(input.snpOptions === undefined ? {} : { options: input.snpOptions }),
    }))
    return { claims: snpToClaims(snp.report, snp.facts), reportData: snp.report.reportData }
  }
  const tdx = await inField(bootLogCcel === undefined ? 'tdx' : 'tdx (or boot_log_ccel)', () => verifyTdxQuote({
    quote: tee.quote,
    ...(bootLogCcel === undefined ? {} : { eventLog: bootLogCcel }),
    now: input.now,
    lookup: collateral,
    ...(input.tdxOptions === undefined ? {} : { options: input.tdxOptions }),
  }))
  return { claims: tdxToClaims(tdx), reportData: tdx.quote.body.reportData }
}

/** The AK and what ties it to the TEE report. */
interface TiedAk {
  readonly publicKey: KeyObject
  readonly tie: TeeTpmTie
  readonly ak: { readonly [k: string]: JsonValue }
  readonly runtime: RuntimeClaims | undefined
  readonly varDataDigest: Uint8Array | undefined
}

/**
 * Azure: REPORT_DATA = SHA-256(var_data) ‖ 0³² (Automata hashes the runtime claims with SHA-256,
 * as Azure's HCL does by default), and var_data's HCLAkPub is the AK; an `ak_pub` sent beside it
 * must be that same key.
 * @throws `tee-tpm-mismatch` when the TEE report does not vouch for var_data or ak_pub is another key
 */
async function tieByVarData(c: AutomataCollaterals, varData: Uint8Array, teeReportData: Uint8Array): Promise<TiedAk> {
  const digest = new Uint8Array(createHash('sha256').update(varData).digest())
  if (teeReportData.byteLength !== 64 || !equalBytes(teeReportData.subarray(0, 32), digest) || !isZero(teeReportData, 32)) {
    throw new EvidenceError('tee-tpm-mismatch', 'collaterals.tpm.var_data: the TEE report does not vouch for it (REPORT_DATA ≠ SHA-256(var_data) ‖ 0)')
  }
  const runtime = await inField('tpm.var_data', () => parseRuntimeClaims(varData))
  const id = akIdOf(runtime.akPublicKey)
  const akPub = c.tpm.akPub
  if (akPub !== undefined && akIdOf((await inField('tpm.ak_pub', () => decodeAkPublicBytes(akPub))).publicKey) !== id) {
    throw new EvidenceError('tee-tpm-mismatch', 'collaterals.tpm.ak_pub: not the AK (HCLAkPub) that var_data and the TEE report vouch for')
  }
  return { publicKey: runtime.akPublicKey, tie: 'azure-var-data', ak: { id, trust: 'hcl-report' }, runtime, varDataDigest: digest }
}

/**
 * Elsewhere the AK is trusted as `tpm` evidence's is: registered/enrolled, or certified by a
 * registered AK CA. An AK trusted neither way still verifies the quote, but ties nothing (`none`).
 * @throws as `resolveAk`, except that an uncertified, unregistered AK is `none`
 */
async function tieByAk(c: AutomataCollaterals, collateral: CollateralLookup, now: Date): Promise<TiedAk> {
  const { akPub, akCert } = c.tpm
  if (akPub === undefined && akCert === undefined) {
    throw new EvidenceError('evidence-malformed', 'collaterals.tpm: needs ak_pub or ak_cert (or var_data on Azure)')
  }
  // Structure first, so that each failure names the collaterals field.
  const key = akPub === undefined ? undefined : (await inField('tpm.ak_pub', () => decodeAkPublicBytes(akPub))).publicKey
  if (akCert !== undefined) await inField('tpm.ak_cert', () => parseCertificateMemo(akCert, 'certificate'))
  let trusted: TrustedAk
  try {
    trusted = await inField('tpm (ak_pub, ak_cert)', () => resolveAk(
      {
        ...(akPub === undefined ? {} : { public: Buffer.from(akPub).toString('base64') }),
        ...(akCert === undefined ? {} : { certificate: Buffer.from(akCert).toString('base64') }),
      },
      collateral,
      now,
    ))
  } catch (err) {
    // Only "neither registered nor certified, and no certificate sent" means untied; a
    // certificate that does not chain stays a refusal.
    if (isKeybrokerError(err) && err.code === 'chain-untrusted' && akCert === undefined && key !== undefined) {
      return { publicKey: key, tie: 'none', ak: { id: akIdOf(key), trust: 'none' }, runtime: undefined, varDataDigest: undefined }
    }
    throw err
  }
  const tie: TeeTpmTie = trusted.trust === 'certificate' ? 'ak-certificate' : 'registered-ak'
  const ak: { [k: string]: JsonValue } = { id: trusted.id, trust: trusted.trust, name: trusted.name }
  if (trusted.certifiedBy !== undefined) ak['certifiedBy'] = trusted.certifiedBy
  return { publicKey: trusted.publicKey, tie, ak, runtime: undefined, varDataDigest: undefined }
}

/** Raw TEE claims of a TDX quote keep the CCEL under `ccel`: `eventLog` is the TPM boot log's. */
function teeRaw(tee: Claims): { [k: string]: JsonValue } {
  const { eventLog, ...rest } = tee.raw
  return eventLog === undefined ? { ...rest } : { ...rest, ccel: eventLog }
}

/**
 * Verifies Automata collaterals completely and offline (see the module comment). The binding to
 * keybroker's nonce is not checked here (`AUTOMATA_BINDING`).
 * @throws everything `verifySnpReport` / `verifyTdxQuote` / `resolveAk` / `verifyQuote` /
 *   `checkEventLog` throw; `tee-tpm-mismatch` when the TEE report does not vouch for var_data's AK
 */
export async function verifyAutomata(input: AutomataVerifyInput): Promise<Claims> {
  const c = input.collaterals
  const tee = await verifyTee(input)
  const tied =
    c.tpm.varData !== undefined ? await tieByVarData(c, c.tpm.varData, tee.reportData) : await tieByAk(c, input.collateral ?? NO_COLLATERAL, input.now)
  // Structure of each member first (named), then the signature and the PCR digest.
  await inField('tpm.quote', () => parseQuoteAttest(c.tpm.quote))
  const signature = await inField('tpm.raw_sig', () => vtpmSignature(c.tpm.rawSig, tied.publicKey))
  const quote: VerifiedQuote = await inField('tpm.pcrs', () => verifyQuote(c.tpm.quote, signature, c.tpm.pcrs, tied.publicKey, { allowSha1Signatures: false }))
  const bootLog = c.bootLogTpm
  const measuredBoot = bootLog === undefined ? undefined : await inField('boot_log_tpm', () => checkEventLog(bootLog, quote.pcrs, DEFAULT_TPM_VERIFY_OPTIONS.maxEventClaims))

  const raw: { [k: string]: JsonValue } = {
    ...teeRaw(tee.claims),
    tee: c.tee.kind,
    teeTpmTie: tied.tie,
    pcrs: pcrMap(quote.pcrs),
    quote: quoteClaims(quote),
    ak: tied.ak,
    agent: { magic: Buffer.from(c.magic).toString('latin1').replace(/[^\x20-\x7e]/g, '?') },
  }
  if (measuredBoot !== undefined) raw['eventLog'] = measuredBootClaims(measuredBoot)
  if (tied.runtime !== undefined) raw['hcl'] = runtimeClaimsJson(tied.runtime)
  if (c.uuid !== undefined) raw['uuid'] = toHex(c.uuid)
  const vmUniqueId = tied.runtime?.vmConfiguration['vmUniqueId']
  return {
    evidenceType: 'automata',
    platform: c.tee.kind === 'snp' ? 'automata-sev-snp' : 'automata-tdx',
    hardwareBacked: true,
    measurement: tee.claims.measurement,
    measurements: { ...tee.claims.measurements, ...pcrMeasurements(quote) },
    reportData: quote.attest.extraData.slice(),
    debug: tee.claims.debug,
    tcb: tee.claims.tcb,
    ...(tee.claims.hostData === undefined ? {} : { hostData: tee.claims.hostData }),
    instanceId: typeof vmUniqueId === 'string' ? vmUniqueId.toLowerCase() : String(tied.ak['id']),
    raw,
    teeTpmTie: tied.tie,
    binding: {
      magic: c.magic.slice(),
      nonce: c.nonce.slice(),
      extraData: quote.attest.extraData.slice(),
      teeReportData: tee.reportData.slice(),
      ...(tied.varDataDigest === undefined ? {} : { varDataDigest: tied.varDataDigest }),
    },
  }
}
