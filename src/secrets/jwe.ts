import { CompactEncrypt, type CompactJWEHeaderParameters } from 'jose'
import { KeybrokerError } from '../errors.js'
import type { RecipientKey } from './recipient-key.js'
import { secretBytes, type SecretInput } from './secret-value.js'

/**
 * Extra protected-header members of a released secret. `alg`, `enc` and `epk` are not here on
 * purpose: they follow from the recipient key and cannot be overridden.
 */
export interface SealHeaders {
  /** Identifier of the recipient key, if the client gave one. */
  readonly kid?: string
  /** Content type of the plaintext (RFC 7516 §4.1.12). */
  readonly cty?: string
  /** Name of the released secret, so a client can check it got what it asked for. */
  readonly 'kb.name'?: string
  /** Version of the released secret. */
  readonly 'kb.version'?: number
}

/**
 * Encrypts `plaintext` to the attested key as an RFC 7516 compact JWE: `ECDH-ES+A256KW` for EC
 * keys, `RSA-OAEP-256` for RSA keys, content encryption `A256GCM`, all in the integrity-protected
 * header. Uses jose (WebCrypto) with the already-validated KeyObject; nothing is cached, every
 * call draws a fresh CEK, IV and (for ECDH-ES) ephemeral key.
 * @throws KeybrokerError `internal` if encryption fails (the key was validated, so this is a bug
 *   or a resource failure; the cause is kept for the log).
 */
export async function sealToKey(key: RecipientKey, plaintext: SecretInput, headers: SealHeaders = {}): Promise<string> {
  const header: CompactJWEHeaderParameters = { alg: key.alg, enc: key.enc }
  if (headers.kid !== undefined) header.kid = headers.kid
  if (headers.cty !== undefined) header.cty = headers.cty
  if (headers['kb.name'] !== undefined) header['kb.name'] = headers['kb.name']
  if (headers['kb.version'] !== undefined) header['kb.version'] = headers['kb.version']
  try {
    return await new CompactEncrypt(secretBytes(plaintext)).setProtectedHeader(header).encrypt(key.keyObject)
  } catch (cause) {
    throw new KeybrokerError('internal', 'sealing the secret failed', { cause })
  }
}
