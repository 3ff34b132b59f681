import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { KeybrokerError } from '../errors.js'
import { ByteReader } from '../evidence/reader.js'
import type { Kek, KekRing } from './kek.js'
import { secretBytes, type SecretInput } from './secret-value.js'

/**
 * Secrets at rest (docs/architecture.md, "Secrets"): envelope encryption with AES-256-GCM (NIST SP 800-38D).
 * A fresh 32-byte data key encrypts the secret; the KEK encrypts the data key. Both encryptions
 * bind the envelope header and the caller's `aad` (e.g. `secret:<name>:v<version>`), so an
 * envelope copied to another secret name or version, or re-labelled with another KEK id, fails.
 *
 * Binary layout, version 1 (all integers big-endian):
 *
 * | size   | field                                              |
 * |--------|----------------------------------------------------|
 * | 3      | magic `KBE`                                        |
 * | 1      | version `0x01`                                     |
 * | 1      | kekIdLength (16)                                   |
 * | n      | kekId, ASCII lowercase hex                         |
 * | 12     | wrapIv                                             |
 * | 1      | wrappedKeyLength (48 = 32 encrypted key + 16 tag)  |
 * | 48     | wrappedKey                                         |
 * | 12     | dataIv                                             |
 * | 4      | ciphertextLength                                   |
 * | n      | ciphertext                                         |
 * | 16     | dataTag                                            |
 *
 * The header is bytes [0, 5 + kekIdLength). AAD of the key wrap is
 * `"keybroker-envelope-v1 dek\0" ‖ header ‖ UTF-8(aad)`, of the data
 * `"keybroker-envelope-v1 data\0" ‖ header ‖ UTF-8(aad)`: distinct labels, so neither
 * ciphertext can stand in for the other.
 */
const MAGIC = Buffer.from('KBE', 'ascii')
export const ENVELOPE_VERSION = 0x01
const DATA_KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const WRAPPED_KEY_BYTES = DATA_KEY_BYTES + TAG_BYTES
const KEK_ID = /^[0-9a-f]{16}$/
/** Bounds a declared length before anything is allocated from it (secrets are small). */
export const MAX_SECRET_BYTES = 1024 * 1024
const WRAP_LABEL = Buffer.from('keybroker-envelope-v1 dek\0', 'ascii')
const DATA_LABEL = Buffer.from('keybroker-envelope-v1 data\0', 'ascii')
const OPEN_FAILED = 'secret envelope cannot be opened'

/**
 * Encrypts `plaintext` for storage under `kek`, binding `aad`.
 * @returns a new envelope; it never contains the plaintext, the data key or the KEK.
 * @throws KeybrokerError `internal` if the KEK is malformed or the plaintext exceeds 1 MiB.
 */
export function sealAtRest(kek: Kek, plaintext: SecretInput, aad: string): Uint8Array {
  const data = secretBytes(plaintext)
  if (data.byteLength > MAX_SECRET_BYTES) throw new KeybrokerError('internal', 'secret too large to seal')
  if (!KEK_ID.test(kek.id) || kek.key.byteLength !== DATA_KEY_BYTES) {
    throw new KeybrokerError('internal', 'KEK is malformed')
  }
  const header = envelopeHeader(kek.id)
  const dataKey = randomBytes(DATA_KEY_BYTES)
  try {
    const wrapIv = randomBytes(IV_BYTES)
    const wrap = createCipheriv('aes-256-gcm', kek.key, wrapIv)
    wrap.setAAD(Buffer.concat([WRAP_LABEL, header, Buffer.from(aad, 'utf8')]))
    const wrappedKey = Buffer.concat([wrap.update(dataKey), wrap.final(), wrap.getAuthTag()])

    const dataIv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', dataKey, dataIv)
    cipher.setAAD(Buffer.concat([DATA_LABEL, header, Buffer.from(aad, 'utf8')]))
    const ciphertext = Buffer.concat([cipher.update(data), cipher.final()])
    const length = Buffer.alloc(4)
    length.writeUInt32BE(ciphertext.byteLength)

    return new Uint8Array(
      Buffer.concat([
        header,
        wrapIv,
        Buffer.from([wrappedKey.byteLength]),
        wrappedKey,
        dataIv,
        length,
        ciphertext,
        cipher.getAuthTag(),
      ]),
    )
  } finally {
    dataKey.fill(0)
  }
}

/**
 * Opens an envelope made by {@link sealAtRest}. Every length is checked before use and trailing
 * bytes are refused; the KEK is chosen by the id in the envelope.
 * @returns the plaintext (a fresh buffer the caller owns; wrap it in a SecretValue to pass it on).
 * @throws KeybrokerError `internal` with one fixed detail for every failure (malformed,
 *   truncated, tampered, wrong `aad`, unknown KEK); the reason is only in `cause`, for the log.
 */
export function openAtRest(keks: KekRing, envelope: Uint8Array, aad: string): Uint8Array {
  try {
    return open(keks, envelope, aad)
  } catch (cause) {
    throw new KeybrokerError('internal', OPEN_FAILED, { cause })
  }
}

function open(keks: KekRing, envelope: Uint8Array, aad: string): Uint8Array {
  const r = new ByteReader(envelope)
  if (!MAGIC.equals(r.bytes(MAGIC.byteLength, 'magic'))) throw new Error('not a keybroker envelope')
  const version = r.u8('version')
  if (version !== ENVELOPE_VERSION) throw new Error(`unknown envelope version ${version}`)
  const kekId = Buffer.from(r.bytes(r.u8('kekIdLength'), 'kekId')).toString('latin1')
  if (!KEK_ID.test(kekId)) throw new Error('malformed KEK id')
  const header = envelope.subarray(0, r.position)
  const kek = keks.get(kekId)
  if (kek === undefined) throw new Error(`unknown KEK ${kekId}`)

  const wrapIv = r.bytes(IV_BYTES, 'wrapIv')
  const wrappedLength = r.u8('wrappedKeyLength')
  if (wrappedLength !== WRAPPED_KEY_BYTES) throw new Error(`wrapped key length ${wrappedLength}`)
  const wrappedKey = r.bytes(WRAPPED_KEY_BYTES, 'wrappedKey')
  const dataIv = r.bytes(IV_BYTES, 'dataIv')
  const ciphertextLength = r.u32be('ciphertextLength')
  if (ciphertextLength > MAX_SECRET_BYTES) throw new Error(`ciphertext length ${ciphertextLength}`)
  const ciphertext = r.bytes(ciphertextLength, 'ciphertext')
  const dataTag = r.bytes(TAG_BYTES, 'dataTag')
  r.end('envelope')

  const unwrap = createDecipheriv('aes-256-gcm', kek.key, wrapIv, { authTagLength: TAG_BYTES })
  unwrap.setAAD(Buffer.concat([WRAP_LABEL, header, Buffer.from(aad, 'utf8')]))
  unwrap.setAuthTag(wrappedKey.subarray(DATA_KEY_BYTES))
  const dataKey = Buffer.concat([unwrap.update(wrappedKey.subarray(0, DATA_KEY_BYTES)), unwrap.final()])
  let head: Buffer | undefined
  let tail: Buffer | undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, dataIv, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.concat([DATA_LABEL, header, Buffer.from(aad, 'utf8')]))
    decipher.setAuthTag(dataTag)
    head = decipher.update(ciphertext)
    tail = decipher.final()
    // Own, unpooled buffer for the plaintext; the intermediate (possibly pooled) buffers are
    // wiped, also when the tag check fails and `head` holds unauthenticated plaintext.
    const plaintext = new Uint8Array(head.byteLength + tail.byteLength)
    plaintext.set(head)
    plaintext.set(tail, head.byteLength)
    return plaintext
  } finally {
    dataKey.fill(0)
    head?.fill(0)
    tail?.fill(0)
  }
}

function envelopeHeader(kekId: string): Buffer {
  const id = Buffer.from(kekId, 'ascii')
  return Buffer.concat([MAGIC, Buffer.from([ENVELOPE_VERSION, id.byteLength]), id])
}
