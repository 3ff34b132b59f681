import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto'
import { EvidenceError } from '../../../errors.js'
import { equalBytes, isZero, toHex } from '../../reader.js'
import { BoundedCache } from '../../snp/cache.js'
import type { TdxQuote } from './parse.js'

function ecdsaP256Verify(data: Uint8Array, signature: Uint8Array, key: KeyObject, what: string): boolean {
  try {
    return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
  } catch (cause) {
    throw new EvidenceError('signature-invalid', `${what} could not be checked`, { cause })
  }
}

/** Imported attestation keys by their raw bytes: importing (point validation) costs ~0.15 ms, half a verify; a QE keeps its key for many quotes. */
const attestationKeys = new BoundedCache<KeyObject>(256)

/**
 * The attestation key as a node KeyObject, from the quote's raw x‖y (64 bytes).
 * @throws `signature-invalid` when the point is not on P-256
 */
export function attestationPublicKey(quote: TdxQuote): KeyObject {
  const id = toHex(quote.attestationKey)
  const hit = attestationKeys.get(id)
  if (hit !== undefined) return hit
  const x = Buffer.from(quote.attestationKey.subarray(0, 32)).toString('base64url')
  const y = Buffer.from(quote.attestationKey.subarray(32, 64)).toString('base64url')
  let key: KeyObject
  try {
    key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' })
  } catch (cause) {
    throw new EvidenceError('signature-invalid', 'attestation key is not a P-256 point', { cause })
  }
  attestationKeys.set(id, key)
  return key
}

/**
 * The quote signature: ECDSA P-256/SHA-256 by the attestation key over header ‖ body (Quote
 * Library API, "Quote Signature Data": "ECDSA signature over the Header and the TD Quote Body").
 * node:crypto (OpenSSL) for speed, as for SNP.
 * @throws `signature-invalid`
 */
export function verifyQuoteSignature(quote: TdxQuote, attestationKey: KeyObject = attestationPublicKey(quote)): void {
  if (!ecdsaP256Verify(quote.signedBytes, quote.quoteSignature, attestationKey, 'quote signature')) {
    throw new EvidenceError('signature-invalid', 'quote signature does not verify with the attestation key')
  }
}

/**
 * The QE report signature: ECDSA P-256/SHA-256 by the PCK key over the 384-byte QE REPORT_BODY.
 * @throws `signature-invalid`
 */
export function verifyQeReportSignature(quote: TdxQuote, pckKey: KeyObject): void {
  if (!ecdsaP256Verify(quote.qeReportBytes, quote.qeReportSignature, pckKey, 'QE report signature')) {
    throw new EvidenceError('signature-invalid', 'QE report signature does not verify with the PCK certificate key')
  }
}

/**
 * The QE binds the attestation key: QE REPORT_DATA = SHA-256(attestation key ‖ QE auth data)
 * followed by 32 zero bytes.
 * @throws `signature-invalid`
 */
export function checkQeReportData(quote: TdxQuote): void {
  const expected = createHash('sha256').update(quote.attestationKey).update(quote.qeAuthData).digest()
  const rd = quote.qeReport.reportData
  if (!equalBytes(rd.subarray(0, 32), new Uint8Array(expected)) || !isZero(rd, 32)) {
    throw new EvidenceError('signature-invalid', 'QE report data does not bind the attestation key and QE auth data')
  }
}
