/**
 * TPM2_MakeCredential done outside the TPM (TPM 2.0 Library Part 1 rev. 1.59, §24 "Credential
 * Protection", §11.4.10 KDFa, §11.4.10.3 KDFe; Part 2 §11.4.33 TPM2B_ID_OBJECT): wraps a
 * credential so that only the TPM holding the EK can recover it, and only when the named AK is
 * loaded in that same TPM (TPM2_ActivateCredential checks the AK's Name in the HMAC). Pure: the
 * seed randomness (RSA EK) or the ephemeral key (ECC EK) comes in as an argument.
 *
 *   seed          RSA: random, sent as RSA-OAEP(EK, seed, nameAlg, label "IDENTITY\0")
 *                 ECC: KDFe(nameAlg, ECDH(eph, EK).x, "IDENTITY", eph.x, EK.x), sent as eph's point
 *   symKey        = KDFa(nameAlg, seed, "STORAGE", name(AK), "", EK symmetric key bits)
 *   encIdentity   = AES-CFB(symKey, IV 0, TPM2B(credential))
 *   HMACkey       = KDFa(nameAlg, seed, "INTEGRITY", "", "", digest bits)
 *   outerHMAC     = HMAC(nameAlg, HMACkey, encIdentity ‖ name(AK))
 *   credentialBlob= TPM2B_ID_OBJECT(TPM2B(outerHMAC) ‖ encIdentity)
 */
import { constants, createCipheriv, createHash, createHmac, diffieHellman, publicEncrypt, type KeyObject } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { fromBase64 } from '../reader.js'
import type { TpmHash } from './algorithms.js'
import { concatBytes, tpm2b, u32be } from './marshal.js'

/** The EK properties MakeCredential depends on (from its TPMT_PUBLIC, or its template by key type). */
export interface EkParameters {
  readonly publicKey: KeyObject
  readonly nameAlg: TpmHash
  /** AES key bits of the EK's symmetric definition (128 or 256). */
  readonly symmetricBits: 128 | 256
}

export interface Credential {
  /** TPM2B_ID_OBJECT, marshaled (size first). */
  readonly credentialBlob: Uint8Array
  /** TPM2B_ENCRYPTED_SECRET, marshaled (size first). */
  readonly encryptedSecret: Uint8Array
  /** The file `tpm2_activatecredential -i` reads: magic 0xBADCC0DE, version 1, then both. */
  readonly tpm2ToolsFile: Uint8Array
}

/** Largest credential: a TPM2B_DIGEST (Part 3 §12.6: credential ≤ the EK nameAlg's digest size). */
function checkCredential(credential: Uint8Array, nameAlg: TpmHash): void {
  if (credential.byteLength === 0 || credential.byteLength > nameAlg.size) {
    throw new EvidenceError('internal', `credential must be 1-${nameAlg.size} bytes`)
  }
}

const NUL = new Uint8Array([0])

function labelBytes(label: string): Uint8Array {
  return concatBytes(new Uint8Array(Buffer.from(label, 'latin1')), NUL)
}

/** KDFa (SP 800-108 counter mode with HMAC), Part 1 §11.4.10.2. */
export function kdfa(hash: TpmHash, key: Uint8Array, label: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Uint8Array {
  const bytes = Math.ceil(bits / 8)
  const parts: Uint8Array[] = []
  let have = 0
  for (let counter = 1; have < bytes; counter++) {
    const block = createHmac(hash.name, key).update(u32be(counter)).update(labelBytes(label)).update(contextU).update(contextV).update(u32be(bits)).digest()
    parts.push(new Uint8Array(block))
    have += block.byteLength
  }
  return concatBytes(...parts).slice(0, bytes)
}

/** KDFe (SP 800-56A concatenation KDF), Part 1 §11.4.10.3. */
export function kdfe(hash: TpmHash, z: Uint8Array, label: string, partyU: Uint8Array, partyV: Uint8Array, bits: number): Uint8Array {
  const bytes = Math.ceil(bits / 8)
  const parts: Uint8Array[] = []
  let have = 0
  for (let counter = 1; have < bytes; counter++) {
    const block = createHash(hash.name).update(u32be(counter)).update(z).update(labelBytes(label)).update(partyU).update(partyV).digest()
    parts.push(new Uint8Array(block))
    have += block.byteLength
  }
  return concatBytes(...parts).slice(0, bytes)
}

function ecPoint(key: KeyObject): { x: Uint8Array; y: Uint8Array } {
  const jwk = key.export({ format: 'jwk' })
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new EvidenceError('internal', 'not an EC key')
  return { x: fromBase64(jwk.x, 'x'), y: fromBase64(jwk.y, 'y') }
}

export type SeedSource =
  | { readonly kind: 'rsa'; readonly seed: Uint8Array }
  | { readonly kind: 'ecc'; readonly ephemeralPrivateKey: KeyObject }

/**
 * MakeCredential for `ek`, binding `credential` to the AK Name `akName`.
 * @throws `internal` when the seed source does not fit the EK (a caller bug)
 */
export function makeCredential(ek: EkParameters, akName: Uint8Array, credential: Uint8Array, source: SeedSource): Credential {
  checkCredential(credential, ek.nameAlg)
  let seed: Uint8Array
  let secret: Uint8Array
  if (ek.publicKey.asymmetricKeyType === 'rsa') {
    if (source.kind !== 'rsa' || source.seed.byteLength !== ek.nameAlg.size) throw new EvidenceError('internal', 'RSA EK needs a seed of the nameAlg size')
    seed = source.seed
    secret = new Uint8Array(
      publicEncrypt({ key: ek.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: ek.nameAlg.name, oaepLabel: labelBytes('IDENTITY') }, seed),
    )
  } else if (ek.publicKey.asymmetricKeyType === 'ec') {
    if (source.kind !== 'ecc') throw new EvidenceError('internal', 'ECC EK needs an ephemeral key')
    const ephemeral = ecPoint(source.ephemeralPrivateKey)
    const z = new Uint8Array(diffieHellman({ privateKey: source.ephemeralPrivateKey, publicKey: ek.publicKey }))
    seed = kdfe(ek.nameAlg, z, 'IDENTITY', ephemeral.x, ecPoint(ek.publicKey).x, ek.nameAlg.size * 8)
    secret = concatBytes(tpm2b(ephemeral.x), tpm2b(ephemeral.y))
  } else {
    throw new EvidenceError('evidence-unsupported', 'EK: only RSA and ECC keys')
  }
  const symKey = kdfa(ek.nameAlg, seed, 'STORAGE', akName, new Uint8Array(0), ek.symmetricBits)
  const cipher = createCipheriv(`aes-${ek.symmetricBits}-cfb`, symKey, new Uint8Array(16))
  const encIdentity = new Uint8Array(Buffer.concat([cipher.update(tpm2b(credential)), cipher.final()]))
  const hmacKey = kdfa(ek.nameAlg, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), ek.nameAlg.size * 8)
  const outerHmac = new Uint8Array(createHmac(ek.nameAlg.name, hmacKey).update(encIdentity).update(akName).digest())
  const credentialBlob = tpm2b(concatBytes(tpm2b(outerHmac), encIdentity))
  const encryptedSecret = tpm2b(secret)
  return {
    credentialBlob,
    encryptedSecret,
    tpm2ToolsFile: concatBytes(u32be(0xbadcc0de), u32be(1), credentialBlob, encryptedSecret),
  }
}
