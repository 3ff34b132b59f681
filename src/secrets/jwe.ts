import {
  constants,
  createCipheriv,
  createHash,
  diffieHellman,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
} from 'node:crypto'
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

const CEK_BYTES = 32
const IV_BYTES = 12
/** RFC 3394 §2.2.3.1 default initial value, which node's `id-aes256-wrap` expects explicitly. */
const AES_KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex')

/**
 * Encrypts `plaintext` to the attested key as an RFC 7516 compact JWE: `ECDH-ES+A256KW` for EC
 * keys, `RSA-OAEP-256` for RSA keys, content encryption `A256GCM`, all in the integrity-protected
 * header. Every call draws a fresh CEK, IV and (for ECDH-ES) ephemeral key.
 *
 * Composed from node:crypto primitives (ECDH, SHA-256, AES key wrap, AES-GCM, RSA-OAEP) rather
 * than jose's WebCrypto path: same algorithms, ~4× less time per release for P-256 (docs/architecture.md,
 * "Measured facts"). Interop with jose, pyca/cryptography and jwcrypto is tested.
 * @throws KeybrokerError `internal` if encryption fails (the key was validated, so this is a bug
 *   or a resource failure; the cause is kept for the log).
 */
export async function sealToKey(key: RecipientKey, plaintext: SecretInput, headers: SealHeaders = {}): Promise<string> {
  try {
    const cek = randomBytes(CEK_BYTES)
    const header: Record<string, unknown> = { alg: key.alg, enc: key.enc }
    let wrapped: Buffer
    if (key.alg === 'ECDH-ES+A256KW') {
      const crv = key.publicJwk.kty === 'EC' ? key.publicJwk.crv : undefined
      if (crv === undefined) throw new Error('ECDH-ES needs an EC recipient key')
      const ephemeral = generateKeyPairSync('ec', { namedCurve: crv })
      const z = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: key.keyObject })
      const kek = concatKdf(z, key.alg)
      z.fill(0)
      const epk = ephemeral.publicKey.export({ format: 'jwk' })
      header.epk = { kty: 'EC', crv, x: epk.x, y: epk.y }
      const wrap = createCipheriv('id-aes256-wrap', kek, AES_KW_IV)
      wrapped = Buffer.concat([wrap.update(cek), wrap.final()])
      kek.fill(0)
    } else {
      wrapped = publicEncrypt({ key: key.keyObject, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek)
    }
    if (headers.kid !== undefined) header.kid = headers.kid
    if (headers.cty !== undefined) header.cty = headers.cty
    if (headers['kb.name'] !== undefined) header['kb.name'] = headers['kb.name']
    if (headers['kb.version'] !== undefined) header['kb.version'] = headers['kb.version']
    const protectedHeader = Buffer.from(JSON.stringify(header)).toString('base64url')
    const iv = randomBytes(IV_BYTES)
    // RFC 7516 §5.1 step 14: the AAD is the ASCII of the encoded protected header.
    const cipher = createCipheriv('aes-256-gcm', cek, iv).setAAD(Buffer.from(protectedHeader, 'ascii'))
    const ciphertext = Buffer.concat([cipher.update(secretBytes(plaintext)), cipher.final()])
    cek.fill(0)
    return [protectedHeader, wrapped, iv, ciphertext, cipher.getAuthTag()]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.')
  } catch (cause) {
    throw new KeybrokerError('internal', 'sealing the secret failed', { cause })
  }
}

/**
 * Concat KDF of RFC 7518 §4.6.2 (NIST SP 800-56A §5.8.1) for a 256-bit key: one SHA-256 round
 * over counter 1 ‖ Z ‖ AlgorithmID ‖ PartyUInfo ‖ PartyVInfo ‖ SuppPubInfo, with empty
 * apu/apv (keybroker sets neither header) and the key length in bits.
 */
function concatKdf(z: Buffer, alg: string): Buffer {
  const lengthPrefixed = (bytes: Buffer) => Buffer.concat([uint32(bytes.byteLength), bytes])
  return createHash('sha256')
    .update(uint32(1))
    .update(z)
    .update(lengthPrefixed(Buffer.from(alg, 'ascii')))
    .update(lengthPrefixed(Buffer.alloc(0)))
    .update(lengthPrefixed(Buffer.alloc(0)))
    .update(uint32(CEK_BYTES * 8))
    .digest()
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
