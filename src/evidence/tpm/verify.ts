import { fromBase64 } from '../reader.js'
import { NO_COLLATERAL, type Claims, type CollateralLookup } from '../types.js'
import { resolveAk, type AkEvidence, type TrustedAk } from './ak-trust.js'
import { checkImaLog, type ImaMeasurements } from './ima/check.js'
import { parseImaLog } from './ima/parse.js'
import { checkEventLog, type MeasuredBoot } from './measured-boot.js'
import { resolveTpmOptions, type TpmVerifyOptions } from './options.js'
import type { PcrValues } from './pcrs.js'
import { verifyQuote, type VerifiedQuote } from './quote.js'
import { toClaims } from './to-claims.js'

/** Everything the pure `tpm` verifier needs (docs/conventions.md §2). */
export interface TpmVerifyInput {
  /** TPMS_ATTEST as `tpm2_quote -m` writes it. */
  readonly quote: Uint8Array
  /** TPMT_SIGNATURE as `tpm2_quote -s` writes it. */
  readonly signature: Uint8Array
  readonly pcrs: PcrValues
  readonly ak: AkEvidence
  /** TCG PC Client binary event log (`/sys/kernel/security/tpm0/binary_bios_measurements`). */
  readonly eventLog?: Uint8Array | undefined
  /** IMA list: ASCII text, or base64 of the binary list. */
  readonly imaLog?: string | undefined
  readonly now: Date
  readonly collateral?: CollateralLookup
  readonly options?: Partial<TpmVerifyOptions>
}

export interface TpmVerification {
  readonly quote: VerifiedQuote
  readonly ak: TrustedAk
  readonly measuredBoot: MeasuredBoot | undefined
  readonly ima: ImaMeasurements | undefined
}

/**
 * Verifies `tpm` evidence completely and offline (TPM 2.0 Library rev. 1.59; TCG PC Client PFP
 * rev. 1.05 event logs; Linux IMA lists): the AK is trusted (`resolveAk`: registered, enrolled or
 * certified by a registered CA), its signature over the quote verifies, the PCR values hash to
 * the quoted pcrDigest, the event log and the IMA list (when sent) replay to the quoted PCRs.
 * The nonce binding (extraData) is the caller's check.
 * @throws `EvidenceError` with code `evidence-malformed`, `evidence-unsupported`,
 *   `signature-invalid`, `chain-untrusted`, `policy-violation`, `collateral-missing` or
 *   `event-log-mismatch`
 */
export async function verifyTpm(input: TpmVerifyInput): Promise<TpmVerification> {
  const options = resolveTpmOptions(input.options)
  const ak = await resolveAk(input.ak, input.collateral ?? NO_COLLATERAL, input.now)
  const quote = verifyQuote(input.quote, input.signature, input.pcrs, ak.publicKey, options)
  const measuredBoot = input.eventLog === undefined ? undefined : checkEventLog(input.eventLog, quote.pcrs, options.maxEventClaims)
  const ima =
    input.imaLog === undefined
      ? undefined
      : checkImaLog(parseImaLog(input.imaLog, (t) => fromBase64(t, 'imaLog')), quote.pcrs, options.maxImaClaims)
  return { quote, ak, measuredBoot, ima }
}

/** `verifyTpm`, then `toClaims`. Same guarantees and errors. */
export async function verifyTpmEvidence(input: TpmVerifyInput): Promise<Claims> {
  return toClaims(await verifyTpm(input))
}
