/**
 * Synthetic TPM structures for tests (the layouts of src/evidence/tpm/): TPMS_ATTEST quotes,
 * TPMT_SIGNATURE made with node keys, TPMT_PUBLIC of node keys. Every field can be overridden
 * so a negative test changes one thing.
 */
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { constants, createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { TPM_ALG, TPMA_OBJECT, type TpmHashName } from '../../src/evidence/tpm/algorithms.js'
import { AK_REQUIRED_ATTRIBUTES } from '../../src/evidence/tpm/public.js'

const HASH_ALG: Record<TpmHashName, number> = { sha1: TPM_ALG.sha1, sha256: TPM_ALG.sha256, sha384: TPM_ALG.sha384, sha512: TPM_ALG.sha512 }
const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff])
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}
const u64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(n)
  return b
}
const tpm2b = (b: Uint8Array): Buffer => Buffer.concat([u16(b.byteLength), Buffer.from(b)])

export interface QuoteFields {
  magic: number
  type: number
  qualifiedSigner: Uint8Array
  extraData: Uint8Array
  clock: bigint
  resetCount: number
  restartCount: number
  safe: number
  firmwareVersion: bigint
  banks: { bank: TpmHashName; pcrs: number[]; sizeofSelect?: number }[]
  /** Defaults to the digest of `pcrValues` with `digestHash`. */
  pcrDigest?: Uint8Array
}

export type PcrValueMap = Partial<Record<TpmHashName, Record<number, Uint8Array>>>

/** Zero-filled values for every selected PCR unless given. */
export function pcrValuesFor(banks: QuoteFields['banks'], given: PcrValueMap = {}): PcrValueMap {
  const out: PcrValueMap = {}
  const sizes: Record<TpmHashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }
  for (const b of banks) {
    const m: Record<number, Uint8Array> = {}
    for (const p of b.pcrs) m[p] = given[b.bank]?.[p] ?? new Uint8Array(sizes[b.bank]).fill(p)
    out[b.bank] = m
  }
  return out
}

export function pcrDigestOf(banks: QuoteFields['banks'], values: PcrValueMap, hash: TpmHashName): Uint8Array {
  const h = createHash(hash)
  for (const b of banks) for (const p of b.pcrs) h.update(values[b.bank]![p]!)
  return new Uint8Array(h.digest())
}

export function quoteFields(overrides: Partial<QuoteFields> = {}): QuoteFields {
  return {
    magic: 0xff544347,
    type: 0x8018,
    qualifiedSigner: new Uint8Array([0, 0x0b, ...new Uint8Array(32).fill(0x51)]),
    extraData: new Uint8Array(32).fill(0xee),
    clock: 123456789n,
    resetCount: 3,
    restartCount: 1,
    safe: 1,
    firmwareVersion: 0x2019102300163636n,
    banks: [{ bank: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 10] }],
    ...overrides,
  }
}

export function encodeQuote(f: QuoteFields, values: PcrValueMap, digestHash: TpmHashName = 'sha256'): Uint8Array {
  const selection = Buffer.concat([
    u32(f.banks.length),
    ...f.banks.map((b) => {
      const size = b.sizeofSelect ?? 3
      const sel = Buffer.alloc(size)
      for (const p of b.pcrs) sel[p >> 3]! |= 1 << (p & 7)
      return Buffer.concat([u16(HASH_ALG[b.bank]), Buffer.from([size]), sel])
    }),
  ])
  const digest = f.pcrDigest ?? pcrDigestOf(f.banks, values, digestHash)
  return new Uint8Array(
    Buffer.concat([
      u32(f.magic),
      u16(f.type),
      tpm2b(f.qualifiedSigner),
      tpm2b(f.extraData),
      u64(f.clock),
      u32(f.resetCount),
      u32(f.restartCount),
      Buffer.from([f.safe]),
      u64(f.firmwareVersion),
      selection,
      tpm2b(digest),
    ]),
  )
}

export type SigScheme = 'rsassa' | 'rsapss' | 'ecdsa'

/** TPMT_SIGNATURE over `message` with `key` (ECDSA r/s in the curve's size). */
export function signQuote(message: Uint8Array, key: KeyObject, scheme: SigScheme, hash: TpmHashName = 'sha256'): Uint8Array {
  if (scheme === 'ecdsa') {
    const sig = sign(hash, message, { key, dsaEncoding: 'ieee-p1363' })
    const half = sig.length / 2
    return new Uint8Array(Buffer.concat([u16(TPM_ALG.ecdsa), u16(HASH_ALG[hash]), tpm2b(sig.subarray(0, half)), tpm2b(sig.subarray(half))]))
  }
  const padding = scheme === 'rsassa' ? constants.RSA_PKCS1_PADDING : constants.RSA_PKCS1_PSS_PADDING
  const sig = sign(hash, message, { key, padding, saltLength: 32 })
  return new Uint8Array(Buffer.concat([u16(scheme === 'rsassa' ? TPM_ALG.rsassa : TPM_ALG.rsapss), u16(HASH_ALG[hash]), tpm2b(sig)]))
}

const CURVE_ID: Record<string, number> = { prime256v1: 0x0003, secp384r1: 0x0004, secp521r1: 0x0005 }

/** TPMT_PUBLIC of a node public key, an AK by default (restricted signing key). */
export function encodePublic(key: KeyObject, options: { attributes?: number; nameAlg?: TpmHashName; scheme?: SigScheme } = {}): Uint8Array {
  const attributes = options.attributes ?? (AK_REQUIRED_ATTRIBUTES | TPMA_OBJECT.userWithAuth)
  const nameAlg = HASH_ALG[options.nameAlg ?? 'sha256']
  const jwk = key.export({ format: 'jwk' })
  const head = Buffer.concat([u16(key.asymmetricKeyType === 'rsa' ? TPM_ALG.rsa : TPM_ALG.ecc), u16(nameAlg), u32(attributes), tpm2b(new Uint8Array(0))])
  if (key.asymmetricKeyType === 'rsa') {
    const n = Buffer.from(jwk.n!, 'base64url')
    const scheme = options.scheme === 'rsapss' ? TPM_ALG.rsapss : TPM_ALG.rsassa
    return new Uint8Array(Buffer.concat([head, u16(TPM_ALG.null), u16(scheme), u16(TPM_ALG.sha256), u16(n.length * 8), u32(0), tpm2b(n)]))
  }
  const curve = CURVE_ID[key.asymmetricKeyDetails!.namedCurve!]!
  return new Uint8Array(
    Buffer.concat([
      head,
      u16(TPM_ALG.null),
      u16(TPM_ALG.ecdsa),
      u16(TPM_ALG.sha256),
      u16(curve),
      u16(TPM_ALG.null),
      tpm2b(Buffer.from(jwk.x!, 'base64url')),
      tpm2b(Buffer.from(jwk.y!, 'base64url')),
    ]),
  )
}

export function akKeyPair(kind: 'rsa' | 'p256' | 'p384'): { privateKey: KeyObject; publicKey: KeyObject } {
  return kind === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: kind === 'p256' ? 'prime256v1' : 'secp384r1' })
}

/** Wire `pcrs` of a value map. */
export function wirePcrs(values: PcrValueMap): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {}
  for (const [bank, m] of Object.entries(values)) out[bank] = Object.fromEntries(Object.entries(m!).map(([i, v]) => [i, Buffer.from(v).toString('hex')]))
  return out
}


const { subtle } = globalThis.crypto
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const

export interface TestCa {
  readonly keys: CryptoKeyPair
  readonly cert: x509.X509Certificate
  readonly pem: string
}

/** A self-signed ECDSA P-256 CA (e.g. a cloud provider's AK CA). */
export async function createTestCa(name: string): Promise<TestCa> {
  const keys = (await subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    notBefore: new Date('2020-01-01T00:00:00Z'),
    notAfter: new Date('2099-01-01T00:00:00Z'),
    signingAlgorithm: EC,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  })
  return { keys, cert, pem: cert.toString('pem') }
}

/** An AK certificate for the key with DER SPKI `spki`, issued by `ca`. PEM. */
export async function issueAkCertificate(ca: TestCa, spki: Uint8Array, options: { notAfter?: Date } = {}): Promise<string> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0b',
    subject: 'CN=test AK',
    issuer: ca.cert.subject,
    notBefore: new Date('2020-01-01T00:00:00Z'),
    notAfter: options.notAfter ?? new Date('2099-01-01T00:00:00Z'),
    signingAlgorithm: EC,
    publicKey: new x509.PublicKey(new Uint8Array(spki)),
    signingKey: ca.keys.privateKey,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  })
  return cert.toString('pem')
}
