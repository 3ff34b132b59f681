/**
 * `gotpm`: a go-tpm-tools `Attestation` (GCP Confidential VMs and Shielded VMs, Confidential
 * Space, Cocos on SEV-SNP with an SVSM vTPM). It composes the existing verifiers — nothing here
 * re-implements them:
 *
 * 1. the AK: `resolveAk` of the `tpm` verifier (registered, enrolled, or an AK certificate that
 *    chains to a registered AK CA through the attestation's intermediates);
 * 2. every quote (one per PCR bank): `verifyQuote` of the `tpm` verifier (signature with the AK,
 *    PCR values against the quoted pcrDigest); all quotes must carry the same nonce;
 * 3. the TCG event log: `checkEventLog`, replayed against the PCRs of every quoted bank;
 * 4. an embedded SEV-SNP attestation: re-encoded to the signed bytes and verified by the `snp`
 *    verifier (VCEK/VLEK chain to AMD's pinned ARK, policy, TCB), then tied to the quote
 *    (`tee-binding.ts`); an embedded TDX quote likewise with the `tdx` verifier.
 *
 * The nonce itself (the quote's extraData) is the caller's binding check, as for every type.
 */
import { EvidenceError } from '../../errors.js'
import { HashAlgo } from '../../proto-gen/tpm_pb.js'
import type { Attestation } from '../../proto-gen/attest_pb.js'
import { equalBytes, toBase64Url } from '../reader.js'
import { verifySnpReport, type SnpVerification, type SnpVerifyOptions } from '../snp/index.js'
import { verifyTdxQuote, type TdxVerification, type TdxVerifyOptions } from '../tdx/index.js'
import { quoteBytesFromProto } from './tdx-quote.js'
import { resolveAk, type TrustedAk } from '../tpm/ak-trust.js'
import type { TpmHashName } from '../tpm/algorithms.js'
import { checkEventLog, type MeasuredBoot } from '../tpm/measured-boot.js'
import { resolveTpmOptions, type TpmVerifyOptions } from '../tpm/options.js'
import type { PcrValues } from '../tpm/pcrs.js'
import { verifyQuote, type VerifiedQuote } from '../tpm/quote.js'
import { NO_COLLATERAL, type CollateralLookup } from '../types.js'
import { certificatesFromProto, productFromProto, reportBytesFromProto } from './snp-report.js'
import { teeBindingOf, type TeeBinding } from './tee-binding.js'

/** go-tpm-tools quotes one bank each (SHA-1, SHA-256, SHA-384, SHA-512 at most). */
export const MAX_QUOTES = 4

const BANKS: ReadonlyMap<HashAlgo, TpmHashName> = new Map([
  [HashAlgo.SHA1, 'sha1'],
  [HashAlgo.SHA256, 'sha256'],
  [HashAlgo.SHA384, 'sha384'],
  [HashAlgo.SHA512, 'sha512'],
])

export interface GotpmVerifyInput {
  readonly attestation: Attestation
  readonly now: Date
  readonly collateral?: CollateralLookup
  readonly tpmOptions?: Partial<TpmVerifyOptions>
  readonly snpOptions?: Partial<SnpVerifyOptions>
  readonly tdxOptions?: Partial<TdxVerifyOptions>
}

export interface GotpmVerification {
  readonly ak: TrustedAk
  /** In the attestation's order. */
  readonly quotes: readonly VerifiedQuote[]
  /** The quoted PCR values of every bank, lowercase hex. */
  readonly pcrs: ReadonlyMap<TpmHashName, ReadonlyMap<number, string>>
  /** The nonce every quote carries (extraData). */
  readonly nonce: Uint8Array
  /** The AK public area (TPMT_PUBLIC) as the attestation carries it. */
  readonly akPub: Uint8Array
  readonly measuredBoot: MeasuredBoot | undefined
  readonly snp: { readonly verification: SnpVerification; readonly binding: TeeBinding } | undefined
  readonly tdx: { readonly verification: TdxVerification; readonly binding: TeeBinding } | undefined
  /** The TCG canonical event log is carried but not replayed (see README): its size only. */
  readonly canonicalEventLogBytes: number
}

/**
 * @throws `evidence-malformed` (no AK or quote, a bank twice, differing nonces, a quote or
 *   report that does not decode), `evidence-unsupported` (an unknown bank),
 *   `chain-untrusted`, `signature-invalid`, `policy-violation`, `event-log-mismatch`, every
 *   error of `verifySnpReport`, and `binding-mismatch` when the TEE report is not tied to the quote
 */
export async function verifyGotpm(input: GotpmVerifyInput): Promise<GotpmVerification> {
  const a = input.attestation
  const options = resolveTpmOptions(input.tpmOptions)
  if (a.akPub.byteLength === 0) throw new EvidenceError('evidence-malformed', 'attestation.akPub: missing')
  if (a.quotes.length === 0 || a.quotes.length > MAX_QUOTES) {
    throw new EvidenceError('evidence-malformed', `attestation.quotes: 1 to ${MAX_QUOTES} quotes expected`)
  }
  const ak = await resolveAk(
    {
      public: toBase64Url(a.akPub),
      certificate: a.akCert.byteLength === 0 ? undefined : toBase64Url(a.akCert),
      chain: a.intermediateCerts.map((c) => toBase64Url(c)),
    },
    input.collateral ?? NO_COLLATERAL,
    input.now,
  )

  const quotes: VerifiedQuote[] = []
  const pcrs = new Map<TpmHashName, ReadonlyMap<number, string>>()
  let nonce: Uint8Array | undefined
  a.quotes.forEach((q, i) => {
    const bank = BANKS.get(q.pcrs?.hash ?? HashAlgo.HASH_INVALID)
    if (bank === undefined) throw new EvidenceError('evidence-unsupported', `attestation.quotes[${i}].pcrs.hash: unsupported bank`)
    if (pcrs.has(bank)) throw new EvidenceError('evidence-malformed', `attestation.quotes[${i}]: a second quote of the ${bank} bank`)
    const values: PcrValues = new Map([[bank, new Map(Object.entries(q.pcrs?.pcrs ?? {}).map(([k, v]) => [Number(k), v]))]])
    const verified = verifyQuote(q.quote, q.rawSig, values, ak.publicKey, options)
    for (const [b, m] of verified.pcrs) {
      if (b !== bank) throw new EvidenceError('evidence-malformed', `attestation.quotes[${i}]: quotes the ${b} bank, not ${bank}`)
      pcrs.set(b, m)
    }
    if (nonce === undefined) nonce = verified.attest.extraData
    else if (!equalBytes(nonce, verified.attest.extraData)) {
      throw new EvidenceError('evidence-malformed', `attestation.quotes[${i}]: another nonce than quotes[0]`)
    }
    quotes.push(verified)
  })
  if (nonce === undefined) throw new EvidenceError('evidence-malformed', 'attestation.quotes: none')

  const measuredBoot = a.eventLog.byteLength === 0 ? undefined : checkEventLog(a.eventLog, pcrs, options.maxEventClaims)

  let snp: GotpmVerification['snp']
  let tdx: GotpmVerification['tdx']
  switch (a.teeAttestation.case) {
    case undefined:
      break
    case 'sevSnpAttestation': {
      const tee = a.teeAttestation.value
      if (tee.report === undefined) throw new EvidenceError('evidence-malformed', 'attestation.sevSnpAttestation.report: missing')
      const product = productFromProto(tee)
      const verification = await verifySnpReport({
        report: reportBytesFromProto(tee.report),
        certs: certificatesFromProto(tee),
        now: input.now,
        ...(input.collateral === undefined ? {} : { collateral: input.collateral }),
        options: { ...input.snpOptions, ...(product === undefined ? {} : { product }) },
      })
      snp = { verification, binding: teeBindingOf(verification.report.reportData, nonce, a.akPub) }
      break
    }
    case 'tdxAttestation': {
      // go-tpm-tools on GCP TDX: the quote's collateral (TCB info, QE identity, CRLs) comes from the collateral store.
      const verification = await verifyTdxQuote({
        quote: quoteBytesFromProto(a.teeAttestation.value),
        now: input.now,
        ...(input.collateral === undefined ? {} : { lookup: input.collateral }),
        ...(input.tdxOptions === undefined ? {} : { options: input.tdxOptions }),
      })
      tdx = { verification, binding: teeBindingOf(verification.quote.body.reportData, nonce, a.akPub) }
      break
    }
  }
  return { ak, quotes, pcrs, nonce, akPub: a.akPub.slice(), measuredBoot, snp, tdx, canonicalEventLogBytes: a.canonicalEventLog.byteLength }
}
