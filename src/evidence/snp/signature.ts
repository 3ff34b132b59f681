import { verify, type KeyObject } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import type { SnpReport } from './parse.js'

/**
 * Verifies the report's ECDSA P-384/SHA-384 signature over bytes 0x000-0x29F (ABI spec 56860,
 * ATTESTATION_REPORT SIGNATURE) with the VCEK/VLEK public key. node:crypto (OpenSSL) rather than
 * @noble/curves: ~0.5 ms against ~4 ms, and this is the hot path (docs/architecture.md, "Measured facts").
 * `parseReport` already turned r and s into 48-byte big-endian values, so they are passed as
 * IEEE P1363 r‖s.
 * @throws `signature-invalid`
 */
export function verifyReportSignature(report: SnpReport, key: KeyObject): void {
  const signature = new Uint8Array(report.signatureR.byteLength + report.signatureS.byteLength)
  signature.set(report.signatureR, 0)
  signature.set(report.signatureS, report.signatureR.byteLength)
  let ok: boolean
  try {
    ok = verify('sha384', report.signedBytes, { key, dsaEncoding: 'ieee-p1363' }, signature)
  } catch (cause) {
    throw new EvidenceError('signature-invalid', 'report signature could not be checked', { cause })
  }
  if (!ok) throw new EvidenceError('signature-invalid', 'report signature does not verify with the endorsement key')
}
