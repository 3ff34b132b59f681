import 'reflect-metadata'
import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { isIP } from 'node:net'
import { AsnConvert } from '@peculiar/asn1-schema'
import { CertificationRequest } from '@peculiar/asn1-csr'
import { Attribute as AsnAttribute, Certificate as AsnCertificate, Extensions, GeneralNames, id_ce_subjectAltName, Name as AsnName } from '@peculiar/asn1-x509'
import { KeybrokerError } from '../errors.js'
import { parseRecipientKey, type RecipientJwk } from '../secrets/recipient-key.js'
import { parseExactDer } from './der.js'
import { subjectAttributesOf, type SubjectAttribute } from './names.js'

/**
 * PKCS #10 certificate signing requests (RFC 2986) as keybroker's CA reads them: untrusted bytes
 * in, the few facts issuance needs out (subject, requested SANs, public key), after the request's
 * signature is checked with the key it carries (proof of possession, RFC 2986 §3).
 */
export interface ParsedCsr {
  /** The whole request, DER. */
  readonly der: Uint8Array
  /** The subject, DER, exactly as requested (copied into the certificate once allowed). */
  readonly subjectDer: Uint8Array
  readonly subject: readonly SubjectAttribute[]
  /** Requested `dNSName` SANs, lower-cased, in request order. */
  readonly dnsNames: readonly string[]
  /** Requested `iPAddress` SANs, in the text form of node:net. */
  readonly ipAddresses: readonly string[]
  /** Requested SANs of any other type (`email`, `url`, …), by type; a profile allows none. */
  readonly otherNames: readonly string[]
  /** SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array
  readonly publicKey: KeyObject
  /** Canonical JWK of the key (the RFC 7638 members), comparable with an EAR's `cnf.jwk`. */
  readonly publicJwk: RecipientJwk
  /** OIDs of the other requested extensions; they are never copied into a certificate. */
  readonly otherExtensions: readonly string[]
}

/** A request larger than this is refused before parsing (an attestation extension fits easily). */
export const MAX_CSR_BYTES = 64 * 1024
const PKCS9_EXTENSION_REQUEST = '1.2.840.113549.1.9.14'

/** Signature algorithms accepted on a request, with the hash node:crypto verifies with. */
const SIGNATURE_ALGORITHMS: Readonly<Record<string, { readonly hash: string; readonly kty: 'EC' | 'RSA' }>> = {
  '1.2.840.10045.4.3.2': { hash: 'sha256', kty: 'EC' }, // ecdsa-with-SHA256 (RFC 5758 §3.2)
  '1.2.840.10045.4.3.3': { hash: 'sha384', kty: 'EC' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', kty: 'EC' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', kty: 'RSA' }, // sha256WithRSAEncryption (RFC 4055 §5)
  '1.2.840.113549.1.1.12': { hash: 'sha384', kty: 'RSA' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', kty: 'RSA' },
}

const PEM = /^-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END (?:NEW )?CERTIFICATE REQUEST-----\s*$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const BASE64URL = /^[A-Za-z0-9_-]+$/

/**
 * The DER bytes of a request given as text: PEM (`CERTIFICATE REQUEST`), base64 or base64url of
 * the DER, or base64 of the PEM text (what a Go client sends when it puts the PEM in a `[]byte`
 * JSON field, as absmach/certs' SDK does).
 * @throws KeybrokerError `csr-malformed`.
 */
export function csrDerFromText(text: string): Uint8Array {
  const trimmed = text.trim()
  if (trimmed.length === 0) throw malformed('the CSR is empty')
  if (trimmed.length > MAX_CSR_BYTES * 2) throw malformed(`the CSR is larger than ${MAX_CSR_BYTES} bytes`)
  if (trimmed.startsWith('-----BEGIN')) return fromPem(trimmed)
  let bytes: Buffer
  if (BASE64.test(trimmed)) bytes = Buffer.from(trimmed, 'base64')
  else if (BASE64URL.test(trimmed)) bytes = Buffer.from(trimmed, 'base64url')
  else throw malformed('the CSR is neither PEM nor base64')
  const asText = bytes.subarray(0, 10).toString('latin1')
  if (asText.startsWith('-----BEGIN')) return fromPem(bytes.toString('latin1').trim())
  return new Uint8Array(bytes)
}

function fromPem(text: string): Uint8Array {
  const m = PEM.exec(text)
  const body = m?.[1]?.replace(/\s+/g, '')
  if (body === undefined || !BASE64.test(body)) throw malformed('the CSR is not one PEM "CERTIFICATE REQUEST" block')
  return new Uint8Array(Buffer.from(body, 'base64'))
}

/**
 * Parses a request and verifies its signature with its own key.
 *
 * Accepted keys: EC P-256 / P-384 and RSA 2048..16384 bits with e = 65537 (the keys an EAR's
 * `cnf.jwk` can hold); signatures ECDSA or RSASSA-PKCS1-v1_5 with SHA-256/384/512 matching the
 * key type. Version must be 0 (RFC 2986 §4.1). The subject must be single-valued RDNs of
 * string attributes. The extension request may hold SANs; other extensions are listed, never used.
 * @throws KeybrokerError `csr-malformed` (structure, encoding, unsupported algorithm),
 *   `key-unsupported` (key type or size), `csr-signature-invalid` (signature does not verify).
 */
export function parseCsr(der: Uint8Array): ParsedCsr {
  const csr = parseExactDer(der, CertificationRequest, 'PKCS #10 request', MAX_CSR_BYTES, 'csr-malformed')
  const info = csr.certificationRequestInfo
  const tbs = csr.certificationRequestInfoRaw
  if (tbs === undefined) throw malformed('the CSR has no request info')
  if (info.version !== 0) throw malformed(`CSR version ${info.version} is not v1 (0)`)

  const spki = new Uint8Array(AsnConvert.serialize(info.subjectPKInfo))
  let publicKey: KeyObject
  try {
    publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
  } catch (cause) {
    throw new KeybrokerError('key-unsupported', 'the CSR public key cannot be read', { cause })
  }
  let jwk: unknown
  try {
    jwk = publicKey.export({ format: 'jwk' })
  } catch (cause) {
    throw new KeybrokerError('key-unsupported', 'the CSR public key type is not supported (use EC P-256, P-384 or RSA)', { cause })
  }
  const { publicJwk } = parseRecipientKey(jwk)

  const algorithm = SIGNATURE_ALGORITHMS[csr.signatureAlgorithm.algorithm]
  if (algorithm === undefined) throw malformed(`CSR signature algorithm ${csr.signatureAlgorithm.algorithm} is not supported`)
  if (algorithm.kty !== publicJwk.kty) throw malformed('the CSR signature algorithm does not fit its key type')
  let valid: boolean
  try {
    valid = verify(algorithm.hash, Buffer.from(tbs), publicKey, Buffer.from(csr.signature))
  } catch (cause) {
    throw new KeybrokerError('csr-signature-invalid', 'the CSR signature does not verify with its key', { cause })
  }
  if (!valid) throw new KeybrokerError('csr-signature-invalid', 'the CSR signature does not verify with its key')

  const subjectDer = new Uint8Array(AsnConvert.serialize(info.subject))
  const subject = subjectAttributesOf(AsnConvert.parse(subjectDer, AsnName))
  const requested = requestedExtensions(info.attributes)
  const dnsNames: string[] = []
  const ipAddresses: string[] = []
  const otherNames: string[] = []
  const otherExtensions: string[] = []
  for (const ext of requested) {
    if (ext.extnID !== id_ce_subjectAltName) {
      otherExtensions.push(ext.extnID)
      continue
    }
    let names: GeneralNames
    try {
      names = AsnConvert.parse(ext.extnValue, GeneralNames)
    } catch (cause) {
      throw malformed('the requested subjectAltName does not parse', cause)
    }
    for (const n of names) {
      if (n.dNSName !== undefined) dnsNames.push(n.dNSName.toLowerCase())
      else if (n.iPAddress !== undefined) ipAddresses.push(ipText(n.iPAddress))
      else otherNames.push(Object.keys(n).find((k) => (n as unknown as Record<string, unknown>)[k] !== undefined) ?? 'unknown')
    }
  }
  return { der: Uint8Array.from(der), subjectDer, subject, dnsNames, ipAddresses, otherNames, spki, publicKey, publicJwk, otherExtensions }
}

function requestedExtensions(attributes: readonly AsnAttribute[]): Extensions {
  const out = new Extensions()
  for (const attr of attributes) {
    if (attr.type !== PKCS9_EXTENSION_REQUEST) continue
    if (attr.values.length !== 1 || attr.values[0] === undefined) throw malformed('extensionRequest must have one value')
    try {
      out.push(...AsnConvert.parse(attr.values[0], Extensions))
    } catch (cause) {
      throw malformed('the extensionRequest attribute does not parse', cause)
    }
  }
  const seen = new Set<string>()
  for (const e of out) {
    if (seen.has(e.extnID)) throw malformed(`extension ${e.extnID} is requested twice`)
    seen.add(e.extnID)
  }
  return out
}

/**
 * `iPAddress` is 4 bytes (IPv4) or 16 (IPv6) in network order (RFC 5280 §4.2.1.6); asn1-x509 turns
 * those into text and leaves any other length as hex, which is refused here.
 */
function ipText(ip: string): string {
  if (isIP(ip) === 0) throw malformed('a requested iPAddress SAN is neither 4 nor 16 bytes')
  return ip.toLowerCase()
}

function malformed(detail: string, cause?: unknown): KeybrokerError {
  return new KeybrokerError('csr-malformed', detail, cause === undefined ? undefined : { cause })
}

/** What issuance reads of a request, also obtainable from an issued certificate (renewal). */
export type RequestFacts = Pick<ParsedCsr, 'subjectDer' | 'subject' | 'dnsNames' | 'ipAddresses' | 'otherNames' | 'spki' | 'publicJwk'>

/**
 * The subject, SANs and key of a certificate keybroker issued, as a renewal for the same key
 * requests them again.
 * @throws KeybrokerError `internal` when a stored certificate does not parse (it was ours).
 */
export function factsOfCertificate(der: Uint8Array): RequestFacts {
  try {
    const cert = AsnConvert.parse(der, AsnCertificate)
    const tbs = cert.tbsCertificate
    const spki = new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo))
    const { publicJwk } = parseRecipientKey(createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' }))
    const san = tbs.extensions?.find((e) => e.extnID === id_ce_subjectAltName)
    const names = san === undefined ? [] : AsnConvert.parse(san.extnValue, GeneralNames)
    return {
      subjectDer: new Uint8Array(AsnConvert.serialize(tbs.subject)),
      subject: subjectAttributesOf(tbs.subject),
      dnsNames: names.flatMap((n) => (n.dNSName === undefined ? [] : [n.dNSName.toLowerCase()])),
      ipAddresses: names.flatMap((n) => (n.iPAddress === undefined ? [] : [n.iPAddress.toLowerCase()])),
      otherNames: [],
      spki,
      publicJwk,
    }
  } catch (cause) {
    throw new KeybrokerError('internal', 'a stored certificate does not parse', { cause })
  }
}
