import { compactDecrypt, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'

/** An ephemeral key pair for one attestation; the private key is not extractable. */
export interface AttestationKey {
  readonly publicJwk: JWK
  readonly privateKey: CryptoKey
}

/** `P-256`/`P-384`: ECDH-ES+A256KW recipients; `RSA`: RSA-OAEP-256 (2048 bits). */
export type KeyAlgorithm = 'P-256' | 'P-384' | 'RSA'

/** A fresh key pair whose public half the evidence binds and keybroker seals secrets to. */
export async function generateAttestationKey(alg: KeyAlgorithm = 'P-256'): Promise<AttestationKey> {
  const { publicKey, privateKey } =
    alg === 'RSA'
      ? await generateKeyPair('RSA-OAEP-256', { modulusLength: 2048, extractable: false })
      : await generateKeyPair('ECDH-ES+A256KW', { crv: alg, extractable: false })
  const { kty, crv, x, y, n, e } = await exportJWK(publicKey)
  const publicJwk: JWK = alg === 'RSA' ? { kty, n, e } : { kty, crv, x, y }
  return { publicJwk, privateKey }
}

/**
 * Opens a compact JWE keybroker released to `key`.
 * @throws jose's errors (`JWEDecryptionFailed`, …) if it was not sealed to this key.
 */
export async function openSecret(jwe: string, key: AttestationKey): Promise<Uint8Array> {
  const { plaintext } = await compactDecrypt(jwe, key.privateKey)
  return plaintext
}
