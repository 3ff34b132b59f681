/**
 * TPMT_SIGNATURE (TPM 2.0 Library Part 2 rev. 1.59, §11.3.4) and its verification with an AK.
 *
 * | sigAlg            | body                                                       |
 * |-------------------|------------------------------------------------------------|
 * | TPM_ALG_RSASSA    | TPMS_SIGNATURE_RSA: hash u16, sig TPM2B (≤ 512)            |
 * | TPM_ALG_RSAPSS    | TPMS_SIGNATURE_RSA: hash u16, sig TPM2B (≤ 512)            |
 * | TPM_ALG_ECDSA     | TPMS_SIGNATURE_ECC: hash u16, signatureR, signatureS TPM2B (≤ 66 each) |
 *
 * Other schemes (HMAC, ECDAA, SM2, ECSCHNORR, NULL) are `evidence-unsupported`.
 */
import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { ByteReader } from '../reader.js'
import { hashByAlg, TPM_ALG, type TpmHash } from './algorithms.js'
import { concatBytes, readTpm2b } from './marshal.js'

/** MAX_RSA_KEY_BYTES for 4096-bit keys; MAX_ECC_KEY_BYTES for P-521. */
export const MAX_RSA_SIGNATURE = 512
export const MAX_ECC_PARAMETER = 66

export type TpmSignature =
  | { readonly sigAlg: 'rsassa' | 'rsapss'; readonly hash: TpmHash; readonly sig: Uint8Array }
  | { readonly sigAlg: 'ecdsa'; readonly hash: TpmHash; readonly r: Uint8Array; readonly s: Uint8Array }

/**
 * Parses a TPMT_SIGNATURE; every size checked, nothing may trail it.
 * @throws `evidence-malformed`, `evidence-unsupported` (scheme or hash)
 */
export function parseSignature(bytes: Uint8Array): TpmSignature {
  const r = new ByteReader(bytes)
  const sigAlg = r.u16be('signature.sigAlg')
  let out: TpmSignature
  if (sigAlg === TPM_ALG.rsassa || sigAlg === TPM_ALG.rsapss) {
    const hash = hashByAlg(r.u16be('signature.hash'), 'signature')
    const sig = readTpm2b(r, 'signature.sig', MAX_RSA_SIGNATURE)
    out = { sigAlg: sigAlg === TPM_ALG.rsassa ? 'rsassa' : 'rsapss', hash, sig }
  } else if (sigAlg === TPM_ALG.ecdsa) {
    const hash = hashByAlg(r.u16be('signature.hash'), 'signature')
    const sr = readTpm2b(r, 'signature.signatureR', MAX_ECC_PARAMETER)
    const ss = readTpm2b(r, 'signature.signatureS', MAX_ECC_PARAMETER)
    out = { sigAlg: 'ecdsa', hash, r: sr, s: ss }
  } else {
    throw new EvidenceError('evidence-unsupported', `signature: scheme 0x${sigAlg.toString(16).padStart(4, '0')} unsupported (RSASSA, RSAPSS, ECDSA only)`)
  }
  r.end('signature')
  return out
}

/** Fixed-width big-endian: strips leading zeros, then left-pads to `size`; undefined when it does not fit. */
function fixedWidth(value: Uint8Array, size: number): Uint8Array | undefined {
  let start = 0
  while (start < value.byteLength && value[start] === 0) start++
  const trimmed = value.subarray(start)
  if (trimmed.byteLength > size) return undefined
  const out = new Uint8Array(size)
  out.set(trimmed, size - trimmed.byteLength)
  return out
}

export interface SignatureKeyPolicy {
  /** Accept SHA-1 signatures (old TPMs and e.g. GCP Shielded VM quotes). */
  readonly allowSha1: boolean
}

/** Field size of a named EC curve of node:crypto. */
function curveSize(key: KeyObject): number | undefined {
  const curve = key.asymmetricKeyDetails?.namedCurve
  return curve === 'prime256v1' ? 32 : curve === 'secp384r1' ? 48 : curve === 'secp521r1' ? 66 : undefined
}

/**
 * Verifies `sig` over `message` (the TPMS_ATTEST bytes; the TPM hashed them with `sig.hash`)
 * with the AK `key`. RSASSA and RSAPSS need an RSA key (PSS with any salt length: TPMs differ
 * between the hash size and the maximum), ECDSA a P-256/P-384/P-521 key.
 * @throws `signature-invalid` (wrong key type, bad signature); `evidence-unsupported` (SHA-1 not allowed)
 */
export function verifySignature(sig: TpmSignature, key: KeyObject, message: Uint8Array, policy: SignatureKeyPolicy): void {
  if (sig.hash.name === 'sha1' && !policy.allowSha1) {
    throw new EvidenceError('evidence-unsupported', 'signature: SHA-1 quote signatures are not accepted')
  }
  let ok: boolean
  if (sig.sigAlg === 'ecdsa') {
    const size = key.asymmetricKeyType === 'ec' ? curveSize(key) : undefined
    if (size === undefined) throw new EvidenceError('signature-invalid', 'signature: ECDSA signature but the AK is not a P-256/384/521 key')
    const r = fixedWidth(sig.r, size)
    const s = fixedWidth(sig.s, size)
    if (r === undefined || s === undefined) throw new EvidenceError('signature-invalid', 'signature: ECDSA r or s larger than the curve')
    ok = checked(() => cryptoVerify(sig.hash.name, message, { key, dsaEncoding: 'ieee-p1363' }, concatBytes(r, s)))
  } else {
    if (key.asymmetricKeyType !== 'rsa') throw new EvidenceError('signature-invalid', 'signature: RSA signature but the AK is not an RSA key')
    const padding = sig.sigAlg === 'rsassa' ? constants.RSA_PKCS1_PADDING : constants.RSA_PKCS1_PSS_PADDING
    ok = checked(() => cryptoVerify(sig.hash.name, message, { key, padding, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig.sig))
  }
  if (!ok) throw new EvidenceError('signature-invalid', 'signature: does not verify with the AK')
}

/** OpenSSL throws, rather than returning false, for some malformed signatures: both are `signature-invalid`. */
function checked(run: () => boolean): boolean {
  try {
    return run()
  } catch (cause) {
    throw new EvidenceError('signature-invalid', 'signature: does not verify with the AK', { cause })
  }
}
