import 'reflect-metadata'
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate as NodeX509, type KeyObject } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Certificate as AsnCertificate, CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509'
import * as x509 from '@peculiar/x509'
import { KeybrokerError } from '../errors.js'
import { REASON_CODES, type ExtendedKeyUsageName, type RevocationReason } from './certificate-terms.js'
import { ATTESTATION_EXTENSION_OID, encodeAttestationExtension, type AttestationResultExtension } from './attestation-extension.js'

/**
 * Certificates and CRLs of keybroker's CA (issue 16), built with @peculiar/x509 (RFC 5280
 * profiles) and signed through WebCrypto. Pure apart from the key generation and the clock the
 * caller passes in.
 */
x509.cryptoProvider.set(webcrypto as Crypto)

export const CA_KEY_TYPES = ['P-256', 'P-384'] as const
export type CaKeyType = (typeof CA_KEY_TYPES)[number]

/** A CA key ready to sign: its certificate, the key for WebCrypto (x509) and for node:crypto (OCSP). */
export interface CaSigner {
  readonly certificate: x509.X509Certificate
  readonly certificateDer: Uint8Array
  readonly privateKey: CryptoKey
  readonly keyObject: KeyObject
  readonly signingAlgorithm: EcdsaParams | Algorithm
  /** node:crypto digest name of the signatures it makes. */
  readonly hash: 'sha256' | 'sha384'
  /** SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 §4.2.1.2 (1)), hex: the key identifier. */
  readonly keyId: string
}

const CURVES: Readonly<Record<CaKeyType, { readonly nodeCurve: string; readonly hash: 'sha256' | 'sha384'; readonly webHash: string }>> = {
  'P-256': { nodeCurve: 'prime256v1', hash: 'sha256', webHash: 'SHA-256' },
  'P-384': { nodeCurve: 'secp384r1', hash: 'sha384', webHash: 'SHA-384' },
}

/** A fresh CA private key, PKCS#8 DER (the caller seals it at rest at once). */
export function generateCaKey(keyType: CaKeyType): Uint8Array {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: CURVES[keyType].nodeCurve })
  return new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }))
}

/**
 * A self-signed root for a generated CA: subject `CN=<commonName>`, basicConstraints CA with
 * pathLen 0 (it signs leaf certificates only), keyUsage keyCertSign + cRLSign, key identifiers.
 */
export async function createRootCertificate(input: {
  readonly pkcs8: Uint8Array
  readonly commonName: string
  readonly serialHex: string
  readonly notBefore: Date
  readonly notAfter: Date
}): Promise<Uint8Array> {
  const keyObject = createPrivateKey({ key: Buffer.from(input.pkcs8), format: 'der', type: 'pkcs8' })
  const { privateKey, signingAlgorithm, publicKey } = await webKeys(keyObject)
  const name = new x509.Name([{ '2.5.4.3': [input.commonName] }, { '2.5.4.10': ['keybroker'] }])
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: input.serialHex,
    subject: name,
    issuer: name,
    notBefore: wholeSeconds(input.notBefore),
    notAfter: wholeSeconds(input.notAfter),
    publicKey,
    signingKey: privateKey,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  })
  return new Uint8Array(cert.rawData)
}

/**
 * The signer of a CA version from its key (PKCS#8) and certificate (DER).
 * @throws KeybrokerError `bad-request` when the key is not EC P-256/P-384 or RSA ≥ 2048, or
 *   does not belong to the certificate.
 */
export async function caSigner(pkcs8: Uint8Array, certificateDer: Uint8Array): Promise<CaSigner> {
  let keyObject: KeyObject
  try {
    keyObject = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })
  } catch (cause) {
    throw new KeybrokerError('bad-request', 'the CA private key is not PKCS#8', { cause })
  }
  const certificate = new x509.X509Certificate(Uint8Array.from(certificateDer))
  const certSpki = Buffer.from(certificate.publicKey.rawData)
  const keySpki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' })
  if (!certSpki.equals(keySpki)) throw new KeybrokerError('bad-request', 'the private key does not belong to the CA certificate')
  const { privateKey, signingAlgorithm, hash } = await webKeys(keyObject)
  return { certificate, certificateDer: Uint8Array.from(certificateDer), privateKey, keyObject, signingAlgorithm, hash, keyId: keyIdentifier(certificateDer) }
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifier(certificateDer: Uint8Array): string {
  const cert = AsnConvert.parse(certificateDer, AsnCertificate)
  return createHash('sha1').update(Buffer.from(cert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)).digest('hex')
}

async function webKeys(keyObject: KeyObject): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; signingAlgorithm: EcdsaParams | Algorithm; hash: 'sha256' | 'sha384' }> {
  const pkcs8 = keyObject.export({ format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' })
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve
    const keyType = (Object.keys(CURVES) as CaKeyType[]).find((k) => CURVES[k].nodeCurve === curve)
    if (keyType === undefined) throw new KeybrokerError('bad-request', 'CA keys must be EC P-256, P-384 or RSA')
    const algorithm = { name: 'ECDSA', namedCurve: keyType }
    const { hash, webHash } = CURVES[keyType]
    return {
      privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']),
      publicKey: await webcrypto.subtle.importKey('spki', spki, algorithm, true, ['verify']),
      signingAlgorithm: { name: 'ECDSA', hash: webHash },
      hash,
    }
  }
  if (keyObject.asymmetricKeyType === 'rsa' && (keyObject.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
    return {
      privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']),
      publicKey: await webcrypto.subtle.importKey('spki', spki, algorithm, true, ['verify']),
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
      hash: 'sha256',
    }
  }
  throw new KeybrokerError('bad-request', 'CA keys must be EC P-256, P-384 or RSA of at least 2048 bits')
}

/**
 * Checks that an imported certificate may act as an issuing CA at `now`: a v3 certificate with
 * basicConstraints cA, keyUsage (when present) including keyCertSign and cRLSign, a path length
 * that allows leaf certificates, and `now` inside its validity.
 * @throws KeybrokerError `bad-request` naming the failed check.
 */
export function checkCaCertificate(der: Uint8Array, now: Date): void {
  let cert: NodeX509
  try {
    cert = new NodeX509(Buffer.from(der))
  } catch (cause) {
    throw new KeybrokerError('bad-request', 'the CA certificate does not parse', { cause })
  }
  if (!cert.ca) throw new KeybrokerError('bad-request', 'the certificate is not a CA (basicConstraints cA is not set)')
  const parsed = new x509.X509Certificate(Uint8Array.from(der))
  const ku = parsed.getExtension(x509.KeyUsagesExtension)
  if (ku !== null && (ku.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) !== (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) {
    throw new KeybrokerError('bad-request', 'the CA certificate keyUsage lacks keyCertSign or cRLSign')
  }
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) throw new KeybrokerError('bad-request', 'the CA certificate is not valid now')
}


export interface LeafInput {
  readonly signer: CaSigner
  readonly serialHex: string
  readonly subjectDer: Uint8Array
  readonly spki: Uint8Array
  readonly isRsaKey: boolean
  readonly notBefore: Date
  readonly notAfter: Date
  readonly dnsNames: readonly string[]
  readonly ipAddresses: readonly string[]
  readonly extendedKeyUsage: readonly ExtendedKeyUsageName[]
  /** Where the CRL of this CA version is served (CRL distribution point), if known. */
  readonly crlUrl?: string | undefined
  /** The OCSP responder and the issuer certificate (authorityInfoAccess), if known. */
  readonly ocspUrl?: string | undefined
  readonly caIssuersUrl?: string | undefined
  readonly attestation: AttestationResultExtension
}

/**
 * An end-entity certificate (RFC 5280 §4.1): the requested subject and SANs (already allowed by
 * the profile), basicConstraints cA=false, keyUsage digitalSignature (+ keyEncipherment for RSA
 * keys, RFC 5246 §7.4.7.1), the profile's EKUs, key identifiers, CRL distribution point, AIA and
 * the attestation result extension. The SAN extension is critical when the subject is empty
 * (RFC 5280 §4.2.1.6).
 */
export async function createLeafCertificate(input: LeafInput): Promise<Uint8Array> {
  const { signer } = input
  const publicKey = new x509.PublicKey(Uint8Array.from(input.spki))
  const subject = new x509.Name(Uint8Array.from(input.subjectDer))
  const isSubjectEmpty = subject.toJSON().length === 0
  const sans = [
    ...input.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...input.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ]
  if (isSubjectEmpty && sans.length === 0) throw new KeybrokerError('csr-malformed', 'the CSR has neither a subject nor a SAN')
  const usages = x509.KeyUsageFlags.digitalSignature | (input.isRsaKey ? x509.KeyUsageFlags.keyEncipherment : 0)
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usages, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    new x509.AuthorityKeyIdentifierExtension(signer.keyId),
  ]
  if (input.extendedKeyUsage.length > 0) {
    extensions.push(new x509.ExtendedKeyUsageExtension(input.extendedKeyUsage.map((u) => x509.ExtendedKeyUsage[u])))
  }
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, isSubjectEmpty))
  if (input.crlUrl !== undefined) extensions.push(new x509.CRLDistributionPointsExtension([input.crlUrl]))
  if (input.ocspUrl !== undefined || input.caIssuersUrl !== undefined) {
    extensions.push(
      new x509.AuthorityInfoAccessExtension({
        ...(input.ocspUrl === undefined ? {} : { ocsp: [input.ocspUrl] }),
        ...(input.caIssuersUrl === undefined ? {} : { caIssuers: [input.caIssuersUrl] }),
      }),
    )
  }
  extensions.push(new x509.Extension(ATTESTATION_EXTENSION_OID, false, Uint8Array.from(encodeAttestationExtension(input.attestation))))
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: input.serialHex,
    subject,
    issuer: signer.certificate.subjectName,
    notBefore: wholeSeconds(input.notBefore),
    notAfter: wholeSeconds(input.notAfter),
    publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: signer.signingAlgorithm,
    extensions,
  })
  return new Uint8Array(cert.rawData)
}

export interface CrlEntry {
  readonly serialHex: string
  readonly revokedAt: Date
  readonly reason: RevocationReason
}

/**
 * A v2 CRL (RFC 5280 §5) of one CA version: every revoked certificate of it that has not
 * expired, with its reason (omitted when `unspecified`, §5.3.1), the CRL number and the
 * authority key identifier.
 */
export async function createCrl(input: {
  readonly signer: CaSigner
  readonly crlNumber: bigint
  readonly thisUpdate: Date
  readonly nextUpdate: Date
  readonly entries: readonly CrlEntry[]
}): Promise<Uint8Array> {
  const { signer } = input
  const crl = await x509.X509CrlGenerator.create({
    issuer: signer.certificate.subjectName,
    thisUpdate: wholeSeconds(input.thisUpdate),
    nextUpdate: wholeSeconds(input.nextUpdate),
    signingKey: signer.privateKey,
    signingAlgorithm: signer.signingAlgorithm,
    entries: input.entries.map((e) => ({
      serialNumber: e.serialHex,
      revocationDate: wholeSeconds(e.revokedAt),
      ...(e.reason === 'unspecified' ? {} : { reason: REASON_CODES[e.reason] }),
    })),
    extensions: [
      new x509.AuthorityKeyIdentifierExtension(signer.keyId),
      new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(Number(input.crlNumber)))),
    ],
  })
  return new Uint8Array(crl.rawData)
}

/**
 * A fresh serial: 16 random bytes, first byte in 0x01..0x7f so the DER INTEGER is positive and
 * exactly 16 octets (RFC 5280 §4.1.2.2: positive, at most 20 octets, unpredictable). Lowercase hex.
 */
export function newSerial(): string {
  const bytes = randomBytes(16)
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01
  return bytes.toString('hex')
}


function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000)
}

export { EXTENDED_KEY_USAGES, REASON_CODES, REVOCATION_REASONS, certificatePem, normalizeSerial } from './certificate-terms.js'
export type { ExtendedKeyUsageName, RevocationReason } from './certificate-terms.js'
