/**
 * The `gotpm` binding profile (src/evidence/binding.ts). go-tpm-tools (`gotpm attest --nonce HEX`,
 * `AttestOpts.Nonce`) and the Cocos agent (`--vtpm HEX`, `--tee HEX`) take nonces as bytes, so the
 * client gives them the **32 raw bytes B[0:32]** (hex on their command lines), not the 43-character
 * agent nonce text:
 *
 * - every quote's extraData must be B[0:32] (rule `gotpm-vtpm` when there is no TEE part);
 * - with an SEV-SNP part (or a TDX quote), its REPORT_DATA must be `SHA3-512(pad64(B[0:32]) ‖ ak_pub)` (rule
 *   `gotpm-cocos`: Cocos, the TEE nonce being B[0:32] zero-padded to 64 bytes as the cocos CLI
 *   pads it) or `pad64(B[0:32])` (rule `gotpm-tee-nonce`: go-tpm-tools without `--tee-nonce`).
 *
 * The verifier already required the TEE report to carry one of these over the quote's nonce
 * (`tee-binding.ts`); the profile checks the same rules against B itself.
 */
import { bindingMismatch, bindingOk, BINDING_HALF_SIZE, type BindingProfile } from '../binding.js'
import { equalBytes } from '../reader.js'
import { cocosReportData, teeNonceOf } from './tee-binding.js'

/** Names of the `Claims.binding` entries the verifier sets for this profile. */
export const GOTPM_BINDING_FIELDS = { teeReportData: 'teeReportData', akPub: 'akPub' } as const

export const GOTPM_BINDING: BindingProfile = {
  name: 'gotpm',
  check: (claims, input) => {
    const half = input.binding.subarray(0, BINDING_HALF_SIZE)
    if (!equalBytes(claims.reportData, half)) return bindingMismatch('the quotes\' nonce (extraData) is not the first 32 bytes of the binding')
    const teeReportData = claims.binding?.[GOTPM_BINDING_FIELDS.teeReportData]
    if (teeReportData === undefined) return bindingOk('gotpm-vtpm')
    const akPub = claims.binding?.[GOTPM_BINDING_FIELDS.akPub]
    const teeNonce = teeNonceOf(half)
    if (akPub !== undefined && equalBytes(teeReportData, cocosReportData(teeNonce, akPub))) return bindingOk('gotpm-cocos')
    if (equalBytes(teeReportData, teeNonce)) return bindingOk('gotpm-tee-nonce')
    return bindingMismatch('the TEE report data binds neither SHA3-512(nonce ‖ AK) nor the nonce')
  },
}
