/**
 * The AK public key as clients send it: TPM2B_PUBLIC (`tpm2_createak -u`, `tpm2_readpublic -o`),
 * a bare TPMT_PUBLIC, a DER SubjectPublicKeyInfo, or PEM (`tpm2_createak -f pem`). Only the TPM
 * forms carry the object attributes and the Name; an SPKI is just a key.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { fromBase64 } from '../reader.js'
import { BoundedCache } from '../snp/cache.js'
import { akIdOf, parsePublic, type TpmPublic } from './public.js'

export interface AkPublicKey {
  readonly publicKey: KeyObject
  /** Present when the client sent a TPM public area. */
  readonly tpmPublic: TpmPublic | undefined
}

/** Key types an AK may have: RSA ≥ 2048 bits, or EC P-256/P-384/P-521. */
export function checkAkKeyType(key: KeyObject): void {
  const d = key.asymmetricKeyDetails
  if (key.asymmetricKeyType === 'rsa' && (d?.modulusLength ?? 0) >= 2048) return
  if (key.asymmetricKeyType === 'ec' && ['prime256v1', 'secp384r1', 'secp521r1'].includes(d?.namedCurve ?? '')) return
  throw new EvidenceError('evidence-unsupported', 'AK: only RSA ≥ 2048 bits and EC P-256/P-384/P-521 keys are supported')
}

/** Decodes binary AK public key bytes in any of the accepted forms. @throws `evidence-malformed`, `evidence-unsupported` */
export function decodeAkPublicBytes(bytes: Uint8Array, what = 'ak.public'): AkPublicKey {
  if (bytes[0] === 0x30) {
    let publicKey: KeyObject
    try {
      publicKey = createPublicKey({ key: Buffer.from(bytes), format: 'der', type: 'spki' })
    } catch (cause) {
      throw new EvidenceError('evidence-malformed', `${what}: not a DER SubjectPublicKeyInfo`, { cause })
    }
    checkAkKeyType(publicKey)
    return { publicKey, tpmPublic: undefined }
  }
  // TPM2B_PUBLIC: a u16 size equal to what follows; a TPMT_PUBLIC starts with its type (0x0001/0x0023).
  const isTpm2b = bytes.byteLength >= 2 && ((bytes[0]! << 8) | bytes[1]!) === bytes.byteLength - 2
  const tpmPublic = parsePublic(isTpm2b ? bytes.subarray(2) : bytes)
  checkAkKeyType(tpmPublic.publicKey)
  return { publicKey: tpmPublic.publicKey, tpmPublic }
}

/** Decodes AK public key text: PEM, or base64/base64url of the binary forms. */
export function decodeAkPublic(text: string, what = 'ak.public'): AkPublicKey {
  if (text.trimStart().startsWith('-----BEGIN')) {
    if (text.includes('PRIVATE KEY')) throw new EvidenceError('evidence-malformed', `${what}: a private key; send the public key only`)
    let publicKey: KeyObject
    try {
      publicKey = createPublicKey({ key: text, format: 'pem' })
    } catch (cause) {
      throw new EvidenceError('evidence-malformed', `${what}: not a PEM public key`, { cause })
    }
    if (publicKey.type !== 'public') throw new EvidenceError('evidence-malformed', `${what}: not a public key`)
    checkAkKeyType(publicKey)
    return { publicKey, tpmPublic: undefined }
  }
  return decodeAkPublicBytes(fromBase64(text, what), what)
}

export interface DecodedAk extends AkPublicKey {
  /** SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex. */
  readonly id: string
}

const decoded = new BoundedCache<DecodedAk>(1024)

/**
 * `decodeAkPublic` plus the AK id, memoized by the SHA-256 of the text (importing and exporting
 * the key costs ~0.8 ms, more than the quote signature check; a hit returns what a miss computes).
 */
export function decodeAkPublicCached(text: string, what = 'ak.public'): DecodedAk {
  const key = createHash('sha256').update(text).digest('hex')
  const hit = decoded.get(key)
  if (hit !== undefined) return hit
  const ak = decodeAkPublic(text, what)
  const value: DecodedAk = { ...ak, id: akIdOf(ak.publicKey) }
  decoded.set(key, value)
  return value
}
