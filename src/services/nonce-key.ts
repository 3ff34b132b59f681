import { hkdfSync } from 'node:crypto'
import type { Kek } from '../secrets/index.js'

const NONCE_KEY_INFO = 'keybroker nonce mac key v1'

/**
 * The nonce MAC key, derived from the KEK with HKDF-SHA-256 (RFC 5869). Every replica must hold
 * the same KEK to open secrets, so deriving the nonce key from it gives every replica the same
 * nonce key without another secret to distribute; the distinct `info` keeps the two uses apart.
 */
export function deriveNonceKey(kek: Kek): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', kek.key, new Uint8Array(0), NONCE_KEY_INFO, 32))
}
