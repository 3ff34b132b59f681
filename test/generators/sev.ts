/**
 * Synthetic AMD SEV (pre-SNP) material for what the real vectors cannot show: a whole chain
 * (ARK → ASK → CEK, OCA, PEK, PDH) whose private keys we hold, with one defect at a time, and a
 * software stand-in for the PSP (the guest side of LAUNCH_START, LAUNCH_MEASURE, LAUNCH_SECRET).
 *
 * Certificates are written through the parser's layout tables (src/sev/layout.ts); signatures
 * come from node:crypto (RSASSA-PSS with a digest-long salt, ECDSA as R ‖ S), stored
 * little-endian as AMD's format wants. The fake PSP uses the KDF and MACs of src/sev/session.ts,
 * whose outputs the upstream vectors pin independently (test/sev/session.test.ts).
 */
import { constants, createHash, diffieHellman, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import {
  ALGORITHM,
  CA_CERT_PREAMBLE,
  CA_CERT_PREAMBLE_SIZE,
  DISK_PASSPHRASE_GUID,
  ECC_PUBKEY,
  KEY_USAGE,
  PLATFORM_CERT,
  PLATFORM_CERT_SIGNED_SIZE,
  PLATFORM_CERT_SIZE,
  RSA_PUBKEY,
  SECRET_HEADER,
  SECRET_HEADER_SIZE,
  SECRET_TABLE_GUID,
  SESSION,
  SESSION_SIZE,
  SIGNATURE_SLOT,
  USAGE_INVALID,
  aes128Ctr,
  computeMeasure,
  deriveSessionKeys,
  guidBytes,
  hmacSha256,
  parsePlatformCertificate,
  policyBytes,
  sevRoot,
  spkiSha256,
  type Algorithm,
  type KeyUsage,
  type SevRoot,
} from '../../src/sev/index.js'
import { equalBytes, fromBase64 } from '../../src/evidence/reader.js'

type Hash = 'sha256' | 'sha384'

interface KeyPair {
  readonly publicKey: KeyObject
  readonly privateKey: KeyObject
}

const rsaKeys = (bits: number): KeyPair => generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 })
const ecKeys = (curve = 'secp384r1'): KeyPair => generateKeyPairSync('ec', { namedCurve: curve })

function le(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes).reverse()
}

function jwkBytes(key: KeyObject, member: 'n' | 'e' | 'x' | 'y'): Uint8Array {
  const jwk = key.export({ format: 'jwk' }) as Record<string, string>
  return fromBase64(jwk[member]!, member)
}

function pss(hash: Hash, key: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: hash === 'sha256' ? 32 : 48 }))
}

export interface CaCertOptions {
  readonly usage: 'ARK' | 'ASK'
  readonly keyId: Uint8Array
  readonly certifyingId: Uint8Array
  readonly key: KeyPair
  readonly signer: KeyObject
  readonly bits: 2048 | 4096
}

/** An AMD CA certificate (ARK/ASK) in AMD's format, signed by `signer`. */
export function caCertificate(o: CaCertOptions): Uint8Array {
  const size = o.bits / 8
  const out = new Uint8Array(CA_CERT_PREAMBLE_SIZE + 3 * size)
  const v = new DataView(out.buffer)
  v.setUint32(CA_CERT_PREAMBLE.version.at, 1, true)
  out.set(o.keyId, CA_CERT_PREAMBLE.keyId.at)
  out.set(o.certifyingId, CA_CERT_PREAMBLE.certifyingId.at)
  v.setUint32(CA_CERT_PREAMBLE.keyUsage.at, KEY_USAGE[o.usage], true)
  v.setUint32(CA_CERT_PREAMBLE.pubExpSize.at, o.bits, true)
  v.setUint32(CA_CERT_PREAMBLE.modulusSize.at, o.bits, true)
  out.set(le(jwkBytes(o.key.publicKey, 'e')), CA_CERT_PREAMBLE_SIZE)
  out.set(le(jwkBytes(o.key.publicKey, 'n')), CA_CERT_PREAMBLE_SIZE + size)
  const signature = pss(o.bits === 2048 ? 'sha256' : 'sha384', o.signer, out.subarray(0, CA_CERT_PREAMBLE_SIZE + 2 * size))
  out.set(le(signature), CA_CERT_PREAMBLE_SIZE + 2 * size)
  return out
}

export interface SlotSigner {
  readonly usage: KeyUsage
  readonly algorithm: Algorithm
  readonly key: KeyObject
}

export interface PlatformCertOptions {
  readonly usage: 'OCA' | 'PEK' | 'PDH' | 'CEK'
  readonly algorithm: Algorithm
  readonly publicKey: KeyObject
  readonly apiMajor?: number
  readonly apiMinor?: number
  readonly signers: readonly SlotSigner[]
}

const HASH_OF: Readonly<Record<Algorithm, Hash>> = {
  RSA_SHA256: 'sha256',
  ECDSA_SHA256: 'sha256',
  ECDH_SHA256: 'sha256',
  RSA_SHA384: 'sha384',
  ECDSA_SHA384: 'sha384',
  ECDH_SHA384: 'sha384',
}

/** A platform certificate (0x824 bytes), signed in slot order by `signers`. */
export function platformCertificate(o: PlatformCertOptions): Uint8Array {
  const out = new Uint8Array(PLATFORM_CERT_SIZE)
  const v = new DataView(out.buffer)
  v.setUint32(PLATFORM_CERT.version.at, 1, true)
  out[PLATFORM_CERT.apiMajor.at] = o.apiMajor ?? 0
  out[PLATFORM_CERT.apiMinor.at] = o.apiMinor ?? 22
  v.setUint32(PLATFORM_CERT.pubKeyUsage.at, KEY_USAGE[o.usage], true)
  v.setUint32(PLATFORM_CERT.pubKeyAlgo.at, ALGORITHM[o.algorithm], true)
  const key = PLATFORM_CERT.pubKey.at
  if (o.publicKey.asymmetricKeyType === 'rsa') {
    const n = jwkBytes(o.publicKey, 'n')
    v.setUint32(key + RSA_PUBKEY.modulusSize.at, n.byteLength * 8, true)
    out.set(le(jwkBytes(o.publicKey, 'e')), key + RSA_PUBKEY.pubExp.at)
    out.set(le(n), key + RSA_PUBKEY.modulus.at)
  } else {
    const curve = o.publicKey.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 1 : 2
    v.setUint32(key + ECC_PUBKEY.curve.at, curve, true)
    out.set(le(jwkBytes(o.publicKey, 'x')), key + ECC_PUBKEY.qx.at)
    out.set(le(jwkBytes(o.publicKey, 'y')), key + ECC_PUBKEY.qy.at)
  }
  const slots = [PLATFORM_CERT.sig1.at, PLATFORM_CERT.sig2.at]
  for (const at of slots) v.setUint32(at + SIGNATURE_SLOT.usage.at, USAGE_INVALID, true)
  const signed = out.slice(0, PLATFORM_CERT_SIGNED_SIZE)
  o.signers.forEach((s, i) => {
    const at = slots[i]!
    v.setUint32(at + SIGNATURE_SLOT.usage.at, KEY_USAGE[s.usage], true)
    v.setUint32(at + SIGNATURE_SLOT.algo.at, ALGORITHM[s.algorithm], true)
    const hash = HASH_OF[s.algorithm]
    const valueAt = at + SIGNATURE_SLOT.value.at
    if (s.key.asymmetricKeyType === 'rsa') {
      out.set(le(pss(hash, s.key, signed)), valueAt)
    } else {
      const rs = sign(hash, signed, { key: s.key, dsaEncoding: 'ieee-p1363' })
      const half = rs.byteLength / 2
      out.set(le(rs.subarray(0, half)), valueAt)
      out.set(le(rs.subarray(half)), valueAt + 0x48)
    }
  })
  return out
}

export interface SyntheticSev {
  readonly arkKey: KeyPair
  readonly askKey: KeyPair
  readonly ark: Uint8Array
  readonly ask: Uint8Array
  /** SPKI SHA-256 of the ARK key: pin it to trust the chain. */
  readonly arkPin: string
  readonly root: SevRoot
  readonly keys: { readonly cek: KeyPair; readonly oca: KeyPair; readonly pek: KeyPair; readonly pdh: KeyPair }
  readonly certs: { readonly pdh: Uint8Array; readonly pek: Uint8Array; readonly oca: Uint8Array; readonly cek: Uint8Array }
  /** PDH ‖ PEK ‖ OCA ‖ CEK, as `sevctl export` writes it. */
  readonly chain: Uint8Array
  /** The chain followed by ASK ‖ ARK (`sevctl export --full`). */
  readonly fullChain: Uint8Array
}

export interface SyntheticSevOptions {
  readonly product?: string
  /** Reuse the ARK/ASK of another synthetic set (a second chip of the same product). */
  readonly ca?: Pick<SyntheticSev, 'arkKey' | 'askKey' | 'ark' | 'ask' | 'arkPin'>
  /** Who signs each certificate: replace one to make one defect. */
  readonly cekSigner?: KeyObject
  readonly pekSigners?: (keys: { cek: KeyPair; oca: KeyPair }) => readonly SlotSigner[]
  readonly ocaSigners?: (keys: { oca: KeyPair }) => readonly SlotSigner[]
  readonly pdhSigners?: (keys: { pek: KeyPair }) => readonly SlotSigner[]
}

/** A synthetic product: 2048-bit ARK and ASK (as Naples), a P-384 platform chain. */
export function syntheticSev(options: SyntheticSevOptions = {}): SyntheticSev {
  const product = options.product ?? 'Synthetic'
  const ca =
    options.ca ??
    (() => {
      const arkKey = rsaKeys(2048)
      const askKey = rsaKeys(2048)
      const arkId = new Uint8Array(randomBytes(16))
      const ark = caCertificate({ usage: 'ARK', keyId: arkId, certifyingId: arkId, key: arkKey, signer: arkKey.privateKey, bits: 2048 })
      const ask = caCertificate({ usage: 'ASK', keyId: new Uint8Array(randomBytes(16)), certifyingId: arkId, key: askKey, signer: arkKey.privateKey, bits: 2048 })
      return { arkKey, askKey, ark, ask, arkPin: spkiSha256(arkKey.publicKey) }
    })()
  const keys = { cek: ecKeys(), oca: ecKeys(), pek: ecKeys(), pdh: ecKeys() }
  const cek = platformCertificate({
    usage: 'CEK',
    algorithm: 'ECDSA_SHA256',
    publicKey: keys.cek.publicKey,
    apiMinor: 14,
    signers: [{ usage: 'ASK', algorithm: 'RSA_SHA256', key: options.cekSigner ?? ca.askKey.privateKey }],
  })
  const oca = platformCertificate({
    usage: 'OCA',
    algorithm: 'ECDSA_SHA256',
    publicKey: keys.oca.publicKey,
    signers: options.ocaSigners?.(keys) ?? [{ usage: 'OCA', algorithm: 'ECDSA_SHA256', key: keys.oca.privateKey }],
  })
  const pek = platformCertificate({
    usage: 'PEK',
    algorithm: 'ECDSA_SHA256',
    publicKey: keys.pek.publicKey,
    signers: options.pekSigners?.(keys) ?? [
      { usage: 'OCA', algorithm: 'ECDSA_SHA256', key: keys.oca.privateKey },
      { usage: 'CEK', algorithm: 'ECDSA_SHA256', key: keys.cek.privateKey },
    ],
  })
  const pdh = platformCertificate({
    usage: 'PDH',
    algorithm: 'ECDH_SHA256',
    publicKey: keys.pdh.publicKey,
    signers: options.pdhSigners?.(keys) ?? [{ usage: 'PEK', algorithm: 'ECDSA_SHA256', key: keys.pek.privateKey }],
  })
  const chain = new Uint8Array(Buffer.concat([pdh, pek, oca, cek]))
  return {
    ...ca,
    root: sevRoot(product, ca.ark, ca.ask, [ca.arkPin]),
    keys,
    certs: { pdh, pek, oca, cek },
    chain,
    fullChain: new Uint8Array(Buffer.concat([chain, ca.ask, ca.ark])),
  }
}

/** The PSP's view of a launched guest: what LAUNCH_START unwrapped. */
export interface PspGuest {
  readonly tek: Uint8Array
  readonly tik: Uint8Array
  readonly policy: number
}

/**
 * A software PSP holding a PDH private key: unwraps a guest owner's session (LAUNCH_START),
 * produces LAUNCH_MEASURE over a launch digest, opens a LAUNCH_SECRET packet.
 */
export class FakePsp {
  constructor(
    readonly pdhPrivateKey: KeyObject,
    readonly platform: { readonly apiMajor: number; readonly apiMinor: number; readonly build: number } = { apiMajor: 1, apiMinor: 55, build: 24 },
  ) {}

  /** LAUNCH_START: the GODH and session blobs (raw bytes) for `policy`; throws as the PSP fails. */
  launchStart(godh: Uint8Array, session: Uint8Array, policy: number): PspGuest {
    const cert = parsePlatformCertificate(godh, 'GODH')
    if (cert.usage !== 'PDH') throw new Error('LAUNCH_START: GODH usage is not PDH')
    if (session.byteLength !== SESSION_SIZE) throw new Error('LAUNCH_START: session buffer size')
    const field = (f: { at: number; size: number }) => session.subarray(f.at, f.at + f.size)
    const z = new Uint8Array(diffieHellman({ privateKey: this.pdhPrivateKey, publicKey: cert.publicKey }))
    const { kek, kik } = deriveSessionKeys(z, field(SESSION.nonce))
    if (!equalBytes(hmacSha256(kik, field(SESSION.wrapTk)), field(SESSION.wrapMac))) throw new Error('LAUNCH_START: WRAP_MAC does not verify')
    const keys = aes128Ctr(kek, field(SESSION.wrapIv), field(SESSION.wrapTk))
    const tek = keys.slice(0, 16)
    const tik = keys.slice(16, 32)
    if (!equalBytes(hmacSha256(tik, policyBytes(policy)), field(SESSION.policyMac))) throw new Error('LAUNCH_START: POLICY_MAC does not verify')
    return { tek, tik, policy }
  }

  /** LAUNCH_MEASURE over `launchDigest`: MEASURE ‖ MNONCE (48 bytes). */
  launchMeasure(guest: PspGuest, launchDigest: Uint8Array, mnonce: Uint8Array = new Uint8Array(randomBytes(16))): Uint8Array {
    const measure = computeMeasure(guest.tik, { ...this.platform, policy: guest.policy }, launchDigest, mnonce)
    return new Uint8Array(Buffer.concat([measure, mnonce]))
  }

  /** LAUNCH_SECRET: checks the header MAC against this guest's MEASURE and decrypts the table. */
  launchSecret(guest: PspGuest, measure: Uint8Array, header: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (header.byteLength !== SECRET_HEADER_SIZE) throw new Error('LAUNCH_SECRET: header size')
    const flags = header.subarray(SECRET_HEADER.flags.at, SECRET_HEADER.flags.at + 4)
    const iv = header.subarray(SECRET_HEADER.iv.at, SECRET_HEADER.iv.at + 16)
    const length = Buffer.alloc(4)
    length.writeUInt32LE(ciphertext.byteLength)
    const mac = hmacSha256(guest.tik, new Uint8Array([0x01]), flags, iv, length, length, ciphertext, measure)
    if (!equalBytes(mac, header.subarray(SECRET_HEADER.mac.at, SECRET_HEADER.mac.at + 32))) throw new Error('LAUNCH_SECRET: MAC does not verify')
    return aes128Ctr(guest.tek, iv, ciphertext)
  }
}

/**
 * Reads the disk passphrase from a secret table the way GRUB's efisecret module does: the table
 * GUID, then entries until the disk-passphrase GUID; the entry's data up to its NUL (aleph) or
 * its length (sevctl).
 */
export function diskPassphraseOf(table: Uint8Array): string | undefined {
  const v = new DataView(table.buffer, table.byteOffset, table.byteLength)
  if (!equalBytes(table.subarray(0, 16), guidBytes(SECRET_TABLE_GUID))) return undefined
  const total = v.getUint32(16, true)
  let at = 20
  while (at + 20 <= Math.min(total, table.byteLength)) {
    const length = v.getUint32(at + 16, true)
    if (length < 20 || at + length > table.byteLength) return undefined
    if (equalBytes(table.subarray(at, at + 16), guidBytes(DISK_PASSPHRASE_GUID))) {
      const data = table.subarray(at + 20, at + length)
      const nul = data.indexOf(0)
      return Buffer.from(nul === -1 ? data : data.subarray(0, nul)).toString('utf8')
    }
    at += length
  }
  return undefined
}

/** SHA-256 of some bytes, hex: a stand-in firmware image's digest. */
export function digestHex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}
