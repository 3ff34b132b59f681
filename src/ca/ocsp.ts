import 'reflect-metadata'
import { createHash, sign } from 'node:crypto'
import {
  BasicOCSPResponse,
  CertID,
  CertStatus,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
  KeyHash,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
} from '@peculiar/asn1-ocsp'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier, Certificate, CRLReason, Extension } from '@peculiar/asn1-x509'
import { KeybrokerError } from '../errors.js'
import { REASON_CODES, type CaSigner, type RevocationReason } from './certificate.js'
import { parseExactDer } from './der.js'

/**
 * OCSP (RFC 6960) for keybroker's CA: requests parsed and responses built with the
 * @peculiar/asn1-ocsp schema (never hand-written DER); responses signed by the issuing CA key
 * itself (§4.2.2.2: the CA that issued the certificate may sign), so clients need no delegated
 * responder certificate. Pure: time comes in as arguments.
 */

/** Bigger than any OCSP request a client sends (one CertID is ~80 bytes). */
export const MAX_OCSP_REQUEST_BYTES = 16 * 1024
/** A request may ask about several certificates; more than this is refused. */
export const MAX_OCSP_QUERIES = 16

/** CertID hash algorithms accepted (RFC 6960 §4.1.1; SHA-1 is what openssl and Go send by default). */
const HASHES: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
}

export interface OcspQuery {
  /** The CertID as the client sent it: echoed in the answer (§4.2.1). */
  readonly certId: CertID
  /** node:crypto name of the CertID hash, or undefined when it is not one we support. */
  readonly hash: string | undefined
  readonly issuerNameHash: Uint8Array
  readonly issuerKeyHash: Uint8Array
  /** Canonical lowercase hex (no leading zero octets). */
  readonly serialHex: string
}

export interface ParsedOcspRequest {
  readonly queries: readonly OcspQuery[]
  /** The nonce extension (RFC 8954), echoed unchanged in the answer. */
  readonly nonce: Extension | undefined
}

/**
 * Parses a DER OCSPRequest. A signed request is accepted, its signature ignored (§4.1.2:
 * responders may require signatures; this one answers anyone, answers are public data).
 * @throws KeybrokerError `bad-request` for anything that is not one DER OCSPRequest with
 *   1..16 requests.
 */
export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  const req = parseExactDer(der, OCSPRequest, 'OCSPRequest', MAX_OCSP_REQUEST_BYTES, 'bad-request')
  const list = req.tbsRequest.requestList
  if (list.length === 0 || list.length > MAX_OCSP_QUERIES) throw bad(`an OCSP request asks about 1..${MAX_OCSP_QUERIES} certificates`)
  const queries = list.map((r): OcspQuery => {
    const id = r.reqCert
    return {
      certId: id,
      hash: HASHES[id.hashAlgorithm.algorithm],
      issuerNameHash: new Uint8Array(id.issuerNameHash.buffer),
      issuerKeyHash: new Uint8Array(id.issuerKeyHash.buffer),
      serialHex: serialHex(new Uint8Array(id.serialNumber)),
    }
  })
  const nonce = req.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce)
  if (nonce !== undefined && nonce.extnValue.byteLength > 64) throw bad('the OCSP nonce is longer than 64 bytes')
  return { queries, nonce }
}

/** Hashes of a CA as a CertID names it: of its subject DER and of its subjectPublicKey bits. */
export interface IssuerIdentity {
  readonly subjectDer: Uint8Array
  readonly subjectPublicKey: Uint8Array
}

export function issuerIdentityOf(certificateDer: Uint8Array): IssuerIdentity {
  const cert = AsnConvert.parse(certificateDer, Certificate)
  return {
    subjectDer: new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.subject)),
    subjectPublicKey: new Uint8Array(cert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey),
  }
}

/** True when the CertID of `q` names this issuer (§4.1.1: issuerNameHash and issuerKeyHash). */
export function isIssuedBy(q: OcspQuery, issuer: IssuerIdentity): boolean {
  if (q.hash === undefined) return false
  const name = createHash(q.hash).update(issuer.subjectDer).digest()
  const key = createHash(q.hash).update(issuer.subjectPublicKey).digest()
  return name.equals(q.issuerNameHash) && key.equals(q.issuerKeyHash)
}

export type OcspCertStatus =
  | { readonly kind: 'good' }
  | { readonly kind: 'revoked'; readonly revokedAt: Date; readonly reason: RevocationReason }
  | { readonly kind: 'unknown' }

export interface OcspAnswer {
  readonly certId: CertID
  readonly status: OcspCertStatus
}

/**
 * A successful, signed OCSP response (§4.2.1): one SingleResponse per answer with `thisUpdate`
 * = `now` and `nextUpdate` = `now` + `validitySeconds`, responder id by key hash, the nonce
 * echoed when the request had one.
 */
export function createOcspResponse(input: {
  readonly signer: CaSigner
  readonly now: Date
  readonly validitySeconds: number
  readonly answers: readonly OcspAnswer[]
  readonly nonce?: Extension | undefined
}): Uint8Array {
  const now = wholeSeconds(input.now)
  const next = new Date(now.getTime() + input.validitySeconds * 1000)
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new KeyHash(Buffer.from(input.signer.keyId, 'hex')) }),
    producedAt: now,
    responses: input.answers.map(
      (a) =>
        new SingleResponse({
          certID: a.certId,
          certStatus: certStatus(a.status),
          thisUpdate: now,
          nextUpdate: next,
        }),
    ),
    ...(input.nonce === undefined ? {} : { responseExtensions: [input.nonce] }),
  })
  const tbs = Buffer.from(AsnConvert.serialize(data))
  const signature = sign(input.signer.hash, tbs, input.signer.keyObject)
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: signatureAlgorithm(input.signer),
    signature: new Uint8Array(signature).buffer,
    // The signer's certificate, so clients find the signer by the responder id without
    // configuration (openssl ocsp looks only in the response and -verify_other).
    certs: [AsnConvert.parse(input.signer.certificateDer, Certificate)],
  })
  const response = new OCSPResponse({
    responseStatus: OCSPResponseStatus.successful,
    responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
  })
  return new Uint8Array(AsnConvert.serialize(response))
}

/** An unsigned OCSP error response (§2.3): only the status, no response bytes. */
export function createOcspError(status: 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized'): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(new OCSPResponse({ responseStatus: OCSPResponseStatus[status] })))
}

function certStatus(s: OcspCertStatus): CertStatus {
  switch (s.kind) {
    case 'good':
      return new CertStatus({ good: null })
    case 'unknown':
      return new CertStatus({ unknown: null })
    case 'revoked':
      return new CertStatus({
        revoked: new RevokedInfo({
          revocationTime: wholeSeconds(s.revokedAt),
          ...(s.reason === 'unspecified' ? {} : { revocationReason: new CRLReason(REASON_CODES[s.reason]) }),
        }),
      })
  }
}

function signatureAlgorithm(signer: CaSigner): AlgorithmIdentifier {
  if (signer.signingAlgorithm.name === 'ECDSA') {
    // ecdsa-with-SHA256 / -SHA384 take no parameters (RFC 5758 §3.2).
    return new AlgorithmIdentifier({ algorithm: signer.hash === 'sha384' ? '1.2.840.10045.4.3.3' : '1.2.840.10045.4.3.2' })
  }
  // sha256WithRSAEncryption with NULL parameters (RFC 4055 §5).
  return new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null })
}

function serialHex(bytes: Uint8Array): string {
  let i = 0
  while (i < bytes.byteLength - 1 && bytes[i] === 0) i++
  return Buffer.from(bytes.subarray(i)).toString('hex')
}

function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000)
}

function bad(detail: string, cause?: unknown): KeybrokerError {
  return new KeybrokerError('bad-request', detail, cause === undefined ? undefined : { cause })
}
