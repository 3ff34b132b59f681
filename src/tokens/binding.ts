import { createHash } from 'node:crypto'
import type { JWK } from 'jose'
import { KeybrokerError } from '../errors.js'
import { bindingInput, checkReportData, type BindingProfile } from '../evidence/binding.js'
import type { Claims } from '../evidence/types.js'
import { jwkThumbprintSha256 } from './thumbprint.js'

/** Domain-separation prefix of the binding (docs/architecture.md, "Binding"); versioned so v2 cannot collide. */
export const BINDING_PREFIX = 'keybroker-v1:'
/** SHA-512 output: the full SNP/TDX REPORT_DATA. */
export const BINDING_BYTES = 64
/** TPM2_Quote extraData carries the first 32 bytes (a TPM2B_DATA bounded by the hash size); the agent nonce encodes them. */
export const BINDING_TPM_BYTES = 32
const NONCE_TEXT = /^[A-Za-z0-9_-]{1,512}$/

/**
 * Computes the report data a client must put in its hardware report:
 * `SHA-512(ASCII("keybroker-v1:" + nonce + ":" + thumbprint))`, where `thumbprint` is the
 * RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of `publicJwk`.
 *
 * Only the RFC 7638 required members of `publicJwk` count (kty plus crv/x/y, n/e, …), so extra
 * members such as `alg` or `kid` do not change the binding.
 * @returns 64 bytes.
 * @throws KeybrokerError `nonce-invalid` if `nonce` is not 1..512 base64url characters (the
 *   input must be pure ASCII for the definition to be unambiguous); `key-unsupported` if the
 *   JWK lacks the members its thumbprint needs.
 */
export async function computeBinding(nonce: string, publicJwk: JWK): Promise<Uint8Array> {
  if (!NONCE_TEXT.test(nonce)) throw new KeybrokerError('nonce-invalid', 'nonce is malformed')
  let thumbprint: string
  try {
    thumbprint = jwkThumbprintSha256(publicJwk)
  } catch (cause) {
    throw new KeybrokerError('key-unsupported', 'public key has no RFC 7638 thumbprint', { cause })
  }
  return bindingOf(nonce, thumbprint)
}

/**
 * The binding of evidence that binds no key (`POST /v1/verify` without `publicKey`): as
 * `computeBinding` with an empty thumbprint, `SHA-512(ASCII("keybroker-v1:" + nonce + ":"))`.
 * A thumbprint is never empty, so no keyed binding equals a keyless one.
 * @throws KeybrokerError `nonce-invalid` as `computeBinding`
 */
export async function computeKeylessBinding(nonce: string): Promise<Uint8Array> {
  return bindingOf(nonce, '')
}

function bindingOf(nonce: string, thumbprint: string): Uint8Array {
  if (!NONCE_TEXT.test(nonce)) throw new KeybrokerError('nonce-invalid', 'nonce is malformed')
  const input = Buffer.from(`${BINDING_PREFIX}${nonce}:${thumbprint}`, 'ascii')
  return new Uint8Array(createHash('sha512').update(input).digest())
}

/**
 * Checks the report data carried by the evidence against the expected binding, in constant time
 * (the native `report-data` profile). 64-byte report data (SEV-SNP, TDX) must equal all 64
 * bytes; 32-byte report data (TPM `extraData`) must equal the first 32.
 * @throws KeybrokerError `binding-mismatch` for any other length or any differing byte;
 *   `internal` if `expected` is not a 64-byte binding (a caller bug).
 */
export function checkBinding(reportData: Uint8Array, expected: Uint8Array): void {
  if (expected.byteLength !== BINDING_BYTES) throw new KeybrokerError('internal', 'expected binding must be 64 bytes')
  const result = checkReportData(reportData, expected)
  if (!result.ok) throw new KeybrokerError('binding-mismatch', result.reason)
}

/**
 * Applies the binding profile of the evidence's type (src/evidence/binding.ts) to verified
 * claims: B and the agent nonce derived from it, plus the request facts only the service knows.
 * @returns the rule that held (`report-data`, `automata-v2`, …), for the EAR and the audit.
 * @throws KeybrokerError `binding-mismatch` with the profile's reason; `internal` if `binding`
 *   is not 64 bytes (a caller bug).
 */
export function checkEvidenceBinding(
  profile: BindingProfile,
  claims: Claims,
  binding: Uint8Array,
  facts: { readonly agentCertificate?: Uint8Array | undefined } = {},
): string {
  if (binding.byteLength !== BINDING_BYTES) throw new KeybrokerError('internal', 'expected binding must be 64 bytes')
  const result = profile.check(claims, bindingInput(binding, facts))
  if (!result.ok) throw new KeybrokerError('binding-mismatch', result.reason)
  return result.rule
}
