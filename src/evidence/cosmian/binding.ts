/**
 * The `cosmian` binding profile. keybroker gives the agent the raw 32 bytes N = B[0:32] as its
 * nonce (`/quote/tee?nonce=`, `/quote/tpm?nonce=`, base64 without padding). The agent binds them
 * (Cosmian/cosmian_vm `crate/agent/src/endpoints.rs`; tee-tools `crate/ratls`):
 *
 * | rule | TEE REPORT_DATA (64 bytes) |
 * |---|---|
 * | `cosmian-agent` | N ‖ SHA-256(DER of the agent's TLS leaf certificate) |
 * | `cosmian-ratls` | SHA-256(SEC1 uncompressed public key of that certificate) ‖ N |
 *
 * and, with a TPM quote, its extraData must be N. The certificate is the one keybroker saw on
 * the TLS connection when it pulled the evidence itself (a request fact); otherwise the one the
 * evidence names (`agentCertificate`). When both exist they must be the same certificate.
 * Without any certificate nothing is bound: `binding-mismatch`.
 */
import { createHash, X509Certificate } from 'node:crypto'
import { BINDING_HALF_SIZE, bindingMismatch, bindingOk, type BindingProfile, type BindingResult } from '../binding.js'
import { equalBytes, isZero } from '../reader.js'
import { concatBytes } from '../tpm/marshal.js'
import type { Claims } from '../types.js'

const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

/** REPORT_DATA of the agent rule: nonce ‖ SHA-256(certificate DER). */
export function cosmianAgentReportData(nonce: Uint8Array, certificateDer: Uint8Array): Uint8Array {
  return concatBytes(nonce, sha256(certificateDer))
}

/** The SEC1 uncompressed point of an EC certificate key (what Cosmian's RA-TLS hashes), or undefined. */
export function certificateKeyPoint(certificateDer: Uint8Array): Uint8Array | undefined {
  try {
    const jwk = new X509Certificate(Buffer.from(certificateDer)).publicKey.export({ format: 'jwk' })
    if (jwk.kty !== 'EC' || jwk.x === undefined || jwk.y === undefined) return undefined
    return new Uint8Array(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]))
  } catch {
    // Not a certificate node can read: no RA-TLS key, the agent rule alone decides.
    return undefined
  }
}

/** REPORT_DATA of the RA-TLS rule: SHA-256(SEC1 key point) ‖ extra data (here the nonce). */
export function cosmianRatlsReportData(keyPoint: Uint8Array, nonce: Uint8Array): Uint8Array {
  return concatBytes(sha256(keyPoint), nonce)
}

function checkCosmian(claims: Claims, agentNonceBytes: Uint8Array, seen: Uint8Array | undefined): BindingResult {
  const b = claims.binding
  const reportData = b?.['teeReportData']
  if (reportData === undefined) return bindingMismatch('the evidence carries no Cosmian binding data')
  const stated = b?.['agentCertificate']
  if (seen !== undefined && stated !== undefined && !equalBytes(seen, stated)) {
    return bindingMismatch('agentCertificate is not the certificate the agent presented on the connection')
  }
  const certificate = seen ?? stated
  if (certificate === undefined) return bindingMismatch('no agent certificate: the Cosmian binding hashes it (send agentCertificate)')
  if (isZero(agentNonceBytes)) return bindingMismatch('an all-zero nonce binds nothing')
  const extraData = b?.['extraData']
  if (extraData !== undefined && !equalBytes(extraData, agentNonceBytes)) return bindingMismatch('the TPM quote extraData is not the nonce of this challenge')
  if (equalBytes(reportData, cosmianAgentReportData(agentNonceBytes, certificate))) return bindingOk('cosmian-agent')
  const point = certificateKeyPoint(certificate)
  if (point !== undefined && equalBytes(reportData, cosmianRatlsReportData(point, agentNonceBytes))) return bindingOk('cosmian-ratls')
  return bindingMismatch('the TEE report data is neither nonce ‖ SHA-256(agent certificate) nor SHA-256(certificate key) ‖ nonce')
}

export const COSMIAN_BINDING: BindingProfile = {
  name: 'cosmian',
  check: (claims, input) => checkCosmian(claims, input.binding.subarray(0, BINDING_HALF_SIZE), input.agentCertificate),
}
