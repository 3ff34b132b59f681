/**
 * `cosmian`: what a Cosmian VM agent yields, composed from the native verifiers (no second copy
 * of any of them):
 *
 * 1. the TEE quote (`tee-quote.ts`): an SEV-SNP report by the `snp` verifier (VCEK/VLEK chain to
 *    AMD's pinned ARK, policy, TCB) with the certificates the quote carries, or a TDX quote by the
 *    `tdx` verifier;
 * 2. the TPM quote of `/quote/tpm`: the AK is trusted the `tpm` way only (`resolveAk`: registered,
 *    enrolled, or certified by a registered AK CA) — unlike Cosmian's CLI, which uses whatever key
 *    the agent sends — so an untrusted AK is `chain-untrusted`; its signature over TPMS_ATTEST
 *    verifies;
 * 3. the IMA list of `/ima/binary` replayed in the quoted bank (SHA-1: the template hashes;
 *    others: the template data hashed in that bank, all-ones for a violation) gives the quoted
 *    PCR values: their digest must be the quote's pcrDigest (Cosmian sends no PCR values; the
 *    replay is the only source of them).
 *
 * Cosmian's agent binds the TEE quote to its TLS certificate, not to the AK, so no TEE report
 * vouches for the AK (`teeTpmTie` is `registered-ak` or `ak-certificate`). The binding to
 * keybroker's nonce (report data, the quote's extraData) is the `cosmian` binding profile's.
 */
import { createHash } from 'node:crypto'
import { EvidenceError, isKeybrokerError } from '../../errors.js'
import { equalBytes } from '../reader.js'
import { toClaims as snpToClaims, verifySnpReport, type SnpVerifyOptions } from '../snp/index.js'
import { toClaims as tdxToClaims, verifyTdxQuote, type TdxVerifyOptions } from '../tdx/index.js'
import { resolveAk, type TrustedAk } from '../tpm/ak-trust.js'
import { hashByName, type TpmHashName } from '../tpm/algorithms.js'
import { parseQuoteAttest } from '../tpm/attest.js'
import { checkImaLog, type ImaMeasurements } from '../tpm/ima/check.js'
import { parseImaBinary } from '../tpm/ima/parse.js'
import { replayIma } from '../tpm/ima/replay.js'
import { DEFAULT_TPM_VERIFY_OPTIONS } from '../tpm/options.js'
import { computePcrDigest, quotedPcrs } from '../tpm/pcrs.js'
import type { VerifiedQuote } from '../tpm/quote.js'
import { parseSignature, verifySignature } from '../tpm/signature.js'
import { pcrMap, pcrMeasurements, quoteClaims } from '../tpm/to-claims.js'
import { NO_COLLATERAL, type Claims, type CollateralLookup, type JsonValue, type TeeTpmTie } from '../types.js'
import { parseCosmianTeeQuote, type CosmianTeeQuote } from './tee-quote.js'
import { bankOfHashMethod } from './wire.js'

/** `/quote/tpm` decoded. */
export interface CosmianTpmQuote {
  readonly hashMethod: string
  readonly quote: Uint8Array
  readonly signature: Uint8Array
  /** TPMT_PUBLIC of the AK. */
  readonly publicKey: Uint8Array
}

export interface CosmianVerifyInput {
  readonly teeQuote: Uint8Array
  readonly tpmQuote?: CosmianTpmQuote | undefined
  readonly imaBinary?: Uint8Array | undefined
  /** DER of the agent's TLS leaf certificate as the evidence states it. */
  readonly agentCertificate?: Uint8Array | undefined
  readonly now: Date
  readonly collateral?: CollateralLookup
  readonly snpOptions?: Partial<SnpVerifyOptions>
  readonly tdxOptions?: Partial<TdxVerifyOptions>
}

type JsonObject = { [k: string]: JsonValue }

/** A structural failure re-thrown naming the evidence member it came from. */
async function inField<T>(field: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (isKeybrokerError(err) && (err.code === 'evidence-malformed' || err.code === 'evidence-unsupported') && !err.detail.startsWith(`${field}`)) {
      throw new EvidenceError(err.code, `${field}: ${err.detail}`, { cause: err })
    }
    throw err
  }
}

async function verifyTee(quote: CosmianTeeQuote, input: CosmianVerifyInput): Promise<{ claims: Claims; reportData: Uint8Array }> {
  const collateral = input.collateral ?? NO_COLLATERAL
  if (quote.kind === 'snp') {
    const snp = await inField('teeQuote', () =>
      verifySnpReport({
        report: quote.report,
        ...(quote.certs === undefined ? {} : { certs: quote.certs }),
        ...(quote.crl === undefined ? {} : { crl: quote.crl }),
        now: input.now,
        collateral,
        ...(input.snpOptions === undefined ? {} : { options: input.snpOptions }),
      }),
    )
    return { claims: snpToClaims(snp.report, snp.facts), reportData: snp.report.reportData }
  }
  const tdx = await inField('teeQuote', () =>
    verifyTdxQuote({ quote: quote.quote, now: input.now, lookup: collateral, ...(input.tdxOptions === undefined ? {} : { options: input.tdxOptions }) }),
  )
  return { claims: tdxToClaims(tdx), reportData: tdx.quote.body.reportData }
}

interface VerifiedTpm {
  readonly quote: VerifiedQuote
  readonly ak: TrustedAk
  readonly ima: ImaMeasurements
}

/**
 * The TPM half: AK trust, then the quote's structure and signature, then the IMA replay against
 * the quoted pcrDigest.
 * @throws `chain-untrusted` (AK), `signature-invalid`, `event-log-mismatch` (replay), and the
 *   structural errors of each member
 */
async function verifyTpmPart(tpm: CosmianTpmQuote, imaBinary: Uint8Array, collateral: CollateralLookup, now: Date): Promise<VerifiedTpm> {
  const bank: TpmHashName = await inField('tpmQuote.pcr_value_hash_method', () => bankOfHashMethod(tpm.hashMethod))
  const ak = await inField('tpmQuote.public_key', () => resolveAk({ public: Buffer.from(tpm.publicKey).toString('base64') }, collateral, now))
  const attest = await inField('tpmQuote.quote', () => parseQuoteAttest(tpm.quote))
  const signature = await inField('tpmQuote.signature', () => parseSignature(tpm.signature))
  verifySignature(signature, ak.publicKey, tpm.quote, { allowSha1: false })

  const banks = attest.pcrSelect.filter((b) => b.pcrs.length > 0)
  const only = banks[0]
  if (banks.length !== 1 || only === undefined) throw new EvidenceError('evidence-malformed', 'tpmQuote.quote: must select PCRs of exactly one bank')
  if (only.hash.name !== bank) throw new EvidenceError('evidence-malformed', `tpmQuote: pcr_value_hash_method names ${bank}, the quote selects the ${only.hash.name} bank`)
  const log = await inField('imaBinary', () => parseImaBinary(imaBinary))
  const replayed = replayIma(log.entries, hashByName(bank)!)
  for (const pcr of only.pcrs) {
    if (!replayed.has(pcr)) throw new EvidenceError('event-log-mismatch', `the quote covers ${bank} PCR ${pcr}, which the IMA list does not extend`)
  }
  const values = new Map([[bank, replayed]])
  if (!equalBytes(computePcrDigest(attest.pcrSelect, values, signature.hash), attest.pcrDigest)) {
    throw new EvidenceError('event-log-mismatch', `the IMA list does not replay to the quoted ${bank} PCR ${only.pcrs.join(', ')}`)
  }
  const quote: VerifiedQuote = { attest, signature, pcrs: quotedPcrs(attest.pcrSelect, values) }
  const ima = checkImaLog(log, quote.pcrs, DEFAULT_TPM_VERIFY_OPTIONS.maxImaClaims)
  return { quote, ak, ima }
}

function akJson(ak: TrustedAk): JsonObject {
  const out: JsonObject = { id: ak.id, trust: ak.trust, name: ak.name }
  if (ak.certifiedBy !== undefined) out['certifiedBy'] = ak.certifiedBy
  return out
}

function imaJson(m: ImaMeasurements): JsonObject {
  return { form: m.form, entries: m.entries, banks: [...m.banks], verifiedPcrs: [...m.verifiedPcrs], violations: m.violations, files: m.files.map((f) => ({ ...f })) }
}

/** The agent certificate in the claims: its digest (it is the TLS peer's leaf, not a chain to judge). */
function certificateJson(der: Uint8Array): JsonObject {
  return { sha256: createHash('sha256').update(der).digest('hex') }
}

/**
 * Verifies Cosmian evidence completely and offline (module comment). The nonce binding is not
 * checked here (`COSMIAN_BINDING`).
 * @throws `evidence-malformed` (a form no parser reads; tpmQuote without imaBinary or the
 *   reverse), and everything the `snp`, `tdx` and `tpm` parts throw
 */
export async function verifyCosmian(input: CosmianVerifyInput): Promise<Claims> {
  if ((input.tpmQuote === undefined) !== (input.imaBinary === undefined)) {
    throw new EvidenceError('evidence-malformed', 'tpmQuote and imaBinary go together: the IMA replay is the only source of the quoted PCR values')
  }
  const quote = await inField('teeQuote', () => parseCosmianTeeQuote(input.teeQuote))
  const tee = await verifyTee(quote, input)
  const tpm = input.tpmQuote === undefined || input.imaBinary === undefined ? undefined : await verifyTpmPart(input.tpmQuote, input.imaBinary, input.collateral ?? NO_COLLATERAL, input.now)

  const teeTpmTie: TeeTpmTie | undefined = tpm === undefined ? undefined : tpm.ak.trust === 'certificate' ? 'ak-certificate' : 'registered-ak'
  const raw: JsonObject = {
    ...tee.claims.raw,
    tee: quote.kind,
    quoteLayout: quote.kind === 'snp' ? quote.layout : 'tdx',
  }
  if (tpm !== undefined) {
    raw['teeTpmTie'] = teeTpmTie ?? 'none'
    raw['quote'] = quoteClaims(tpm.quote)
    raw['ak'] = akJson(tpm.ak)
    raw['pcrs'] = pcrMap(tpm.quote.pcrs)
    raw['ima'] = imaJson(tpm.ima)
  }
  if (input.agentCertificate !== undefined) raw['agentCertificate'] = certificateJson(input.agentCertificate)
  return {
    evidenceType: 'cosmian',
    platform: tee.claims.platform,
    hardwareBacked: true,
    measurement: tee.claims.measurement,
    measurements: { ...tee.claims.measurements, ...(tpm === undefined ? {} : pcrMeasurements(tpm.quote)) },
    reportData: tee.reportData.slice(),
    debug: tee.claims.debug,
    tcb: tee.claims.tcb,
    ...(tee.claims.hostData === undefined ? {} : { hostData: tee.claims.hostData }),
    ...(tee.claims.instanceId === undefined ? {} : { instanceId: tee.claims.instanceId }),
    raw,
    ...(teeTpmTie === undefined ? {} : { teeTpmTie }),
    binding: {
      teeReportData: tee.reportData.slice(),
      ...(tpm === undefined ? {} : { extraData: tpm.quote.attest.extraData.slice() }),
      ...(input.agentCertificate === undefined ? {} : { agentCertificate: input.agentCertificate.slice() }),
    },
  }
}
