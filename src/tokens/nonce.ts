import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import { KeybrokerError } from '../errors.js'
import { equalBytes, toBase64Url } from '../evidence/reader.js'

/**
 * Stateless challenge nonces (docs/architecture.md, "Stateless"): any replica holding the same key can
 * verify a nonce without shared memory; single use is enforced elsewhere by a unique DB row
 * keyed on {@link VerifiedNonce.id}.
 *
 * Wire format, base64url without padding of 57 bytes (76 characters):
 *
 * | offset | size | field                                         |
 * |--------|------|-----------------------------------------------|
 * | 0      | 1    | version, `0x01`                               |
 * | 1      | 8    | expiry, unsigned big-endian seconds since epoch |
 * | 9      | 16   | random                                        |
 * | 25     | 32   | HMAC-SHA-256(key, bytes 0..24)                |
 */
export const NONCE_VERSION = 0x01
export const NONCE_KEY_BYTES = 32
const RANDOM_BYTES = 16
const MAC_BYTES = 32
const SIGNED_BYTES = 1 + 8 + RANDOM_BYTES
const NONCE_BYTES = SIGNED_BYTES + MAC_BYTES
/** 57 bytes is a multiple of 3, so the base64url text has no partial final group. */
export const NONCE_LENGTH = (NONCE_BYTES / 3) * 4
const NONCE_TEXT = /^[A-Za-z0-9_-]+$/
/** Upper bound on the lifetime so a misconfiguration cannot mint near-eternal challenges. */
const MAX_TTL_SECONDS = 24 * 60 * 60

export interface NonceServiceOptions {
  /** 32 secret bytes shared by all replicas; copied, the caller may wipe its buffer. */
  readonly key: Uint8Array
  /** Lifetime of an issued nonce, a positive integer of at most one day. */
  readonly ttlSeconds: number
  /**
   * Keys of earlier KEKs (32 bytes each) whose nonces still verify: during a KEK rotation across
   * replicas, a nonce issued by a replica still on the old KEK is accepted by one on the new.
   */
  readonly previousKeys?: readonly Uint8Array[]
}

export interface IssuedNonce {
  readonly nonce: string
  readonly expiresAt: Date
}

export interface VerifiedNonce {
  /** Stable identifier for the single-use row: base64url of the 16 random bytes (22 characters). */
  readonly id: string
  readonly expiresAt: Date
}

export interface NonceService {
  /** Issues a nonce valid until `now` (truncated to whole seconds) + `ttlSeconds`. */
  issue(now: Date): IssuedNonce
  /**
   * Verifies a nonce received from a client.
   * @throws KeybrokerError `nonce-invalid` for anything not produced by this key (wrong length,
   *   characters, version or MAC); `nonce-expired` when `now` is at or past its expiry.
   *   Nothing else is thrown for any input string.
   */
  verify(nonce: string, now: Date): VerifiedNonce
}

/**
 * Creates the nonce service.
 * @throws KeybrokerError `internal` when the key is not 32 bytes or the TTL is out of range
 *   (a configuration error, not a client one).
 */
export function createNonceService(options: NonceServiceOptions): NonceService {
  if (options.key.byteLength !== NONCE_KEY_BYTES) {
    throw new KeybrokerError('internal', `nonce key must be ${NONCE_KEY_BYTES} bytes`)
  }
  const { ttlSeconds } = options
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new KeybrokerError('internal', `nonce ttlSeconds must be an integer in 1..${MAX_TTL_SECONDS}`)
  }
  // A KeyObject keeps the key out of JS-visible buffers after this point.
  const key: KeyObject = createSecretKey(Uint8Array.from(options.key))
  const previous: KeyObject[] = (options.previousKeys ?? []).map((k) => {
    if (k.byteLength !== NONCE_KEY_BYTES) throw new KeybrokerError('internal', `nonce key must be ${NONCE_KEY_BYTES} bytes`)
    return createSecretKey(Uint8Array.from(k))
  })

  const macWith = (k: KeyObject, signed: Uint8Array): Uint8Array => new Uint8Array(createHmac('sha256', k).update(signed).digest())
  const mac = (signed: Uint8Array): Uint8Array => macWith(key, signed)

  return {
    issue(now: Date): IssuedNonce {
      const expirySeconds = Math.floor(epochMillis(now) / 1000) + ttlSeconds
      const bytes = new Uint8Array(NONCE_BYTES)
      const view = new DataView(bytes.buffer)
      bytes[0] = NONCE_VERSION
      view.setBigUint64(1, BigInt(expirySeconds), false)
      bytes.set(randomBytes(RANDOM_BYTES), 9)
      bytes.set(mac(bytes.subarray(0, SIGNED_BYTES)), SIGNED_BYTES)
      return { nonce: toBase64Url(bytes), expiresAt: new Date(expirySeconds * 1000) }
    },

    verify(nonce: string, now: Date): VerifiedNonce {
      // Length and alphabet first: bounds the work and makes Node's lenient decoder exact.
      if (typeof nonce !== 'string' || nonce.length !== NONCE_LENGTH || !NONCE_TEXT.test(nonce)) {
        throw new KeybrokerError('nonce-invalid', 'nonce is malformed')
      }
      const bytes = new Uint8Array(Buffer.from(nonce, 'base64url'))
      if (bytes.byteLength !== NONCE_BYTES || bytes[0] !== NONCE_VERSION) {
        throw new KeybrokerError('nonce-invalid', 'nonce is malformed')
      }
      // Constant-time MAC comparison; the expiry is only trusted after the MAC holds.
      const signed = bytes.subarray(0, SIGNED_BYTES)
      const tag = bytes.subarray(SIGNED_BYTES)
      if (!equalBytes(mac(signed), tag) && !previous.some((k) => equalBytes(macWith(k, signed), tag))) {
        throw new KeybrokerError('nonce-invalid', 'nonce was not issued by this service')
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      const expirySeconds = view.getBigUint64(1, false)
      const expiresAtMillis = Number(expirySeconds) * 1000
      if (!Number.isSafeInteger(expiresAtMillis)) {
        // Only reachable with a MAC from our key, i.e. a bug in issue(); refuse rather than guess.
        throw new KeybrokerError('nonce-invalid', 'nonce expiry out of range')
      }
      if (epochMillis(now) >= expiresAtMillis) {
        throw new KeybrokerError('nonce-expired', 'nonce has expired')
      }
      return { id: toBase64Url(bytes.subarray(9, SIGNED_BYTES)), expiresAt: new Date(expiresAtMillis) }
    },
  }
}

function epochMillis(now: Date): number {
  const t = now.getTime()
  if (!Number.isFinite(t)) throw new KeybrokerError('internal', 'invalid clock value')
  return t
}
