import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import { KeybrokerError } from '../errors.js'

/**
 * A bundle signer's public key, as an admin registers it (a trust anchor). The fingerprint is
 * the lowercase hex SHA-256 of the DER SubjectPublicKeyInfo: it is the JWS `kid` of our bundles
 * and the pinned identity in provenance records (`openssl pkey -pubin -outform DER | sha256sum`).
 */
export interface SignerKey {
  readonly key: KeyObject
  readonly fingerprint: string
  /** The one JWS algorithm this key signs our bundles with. */
  readonly jwsAlg: 'ES256' | 'ES384' | 'EdDSA' | 'PS256'
  /** What it is, for display: `EC P-256`, `RSA 3072`, `Ed25519`, … */
  readonly description: string
  /** The SPKI PEM, normalized. */
  readonly pem: string
}

export const SIGNER_FORMATS = ['keybroker', 'automata', 'corim'] as const
export type SignerFormat = (typeof SIGNER_FORMATS)[number]

const MAX_PEM = 16_384

/**
 * Parses an SPKI PEM public key for `format`: our JWS bundles take EC P-256 (ES256), P-384
 * (ES384), Ed25519 (EdDSA) or RSA ≥ 2048 bits (PS256); Automata's json_sig_tool signs with EC
 * P-256 or RSA (PKCS#1 v1.5, SHA-256), so only those for `automata`; CoRIM's COSE_Sign1 takes
 * EC P-256/P-384/P-521 (ES256/384/512), RSA (PS256) and Ed25519 (EdDSA) for `corim`.
 * @throws KeybrokerError `bad-request` for anything else (private keys included).
 */
export function parseSignerKey(pem: string, format: SignerFormat): SignerKey {
  if (pem.length > MAX_PEM || !pem.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new KeybrokerError('bad-request', 'publicKey: an SPKI PEM public key ("-----BEGIN PUBLIC KEY-----")')
  }
  let key: KeyObject
  try {
    key = createPublicKey({ key: pem, format: 'pem' })
  } catch (cause) {
    throw new KeybrokerError('bad-request', 'publicKey: not a readable public key', { cause })
  }
  const der = key.export({ type: 'spki', format: 'der' })
  const fingerprint = createHash('sha256').update(der).digest('hex')
  const normalized = key.export({ type: 'spki', format: 'pem' }).toString()
  const details = key.asymmetricKeyDetails ?? {}
  let jwsAlg: SignerKey['jwsAlg']
  let description: string
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details.namedCurve === 'prime256v1') {
        jwsAlg = 'ES256'
        description = 'EC P-256'
      } else if (details.namedCurve === 'secp384r1' && format !== 'automata') {
        jwsAlg = 'ES384'
        description = 'EC P-384'
      } else if (details.namedCurve === 'secp521r1' && format === 'corim') {
        // COSE ES512; jwsAlg is only used for keybroker bundles.
        jwsAlg = 'ES384'
        description = 'EC P-521'
      } else throw new KeybrokerError('bad-request', `publicKey: EC curve ${details.namedCurve ?? '?'} is not accepted for ${format} signers`)
      break
    case 'rsa': {
      const bits = details.modulusLength ?? 0
      if (bits < 2048 || bits > 16384) throw new KeybrokerError('bad-request', 'publicKey: RSA keys of 2048 to 16384 bits')
      jwsAlg = 'PS256'
      description = `RSA ${bits}`
      break
    }
    case 'ed25519':
      if (format === 'automata') throw new KeybrokerError('bad-request', 'publicKey: Ed25519 is not accepted for automata signers')
      jwsAlg = 'EdDSA'
      description = 'Ed25519'
      break
    default:
      throw new KeybrokerError('bad-request', `publicKey: ${key.asymmetricKeyType ?? 'unknown'} keys are not accepted`)
  }
  return { key, fingerprint, jwsAlg, description, pem: normalized }
}

export const FINGERPRINT = /^[0-9a-f]{64}$/
