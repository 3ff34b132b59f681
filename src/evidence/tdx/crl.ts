/**
 * Intel's CRLs (PCK Certificate and CRL Profile, section 1.4): the Root CA CRL (issued by the
 * Intel SGX Root CA, lists revoked Platform/Processor CAs and TCB Signing certificates) and the
 * PCK CRLs (issued by the Platform or Processor CA, list revoked PCK certificates). ECDSA
 * P-256/SHA-256. Verified CRLs are remembered by the digests of CRL and issuer.
 */
import 'reflect-metadata'
import { createHash } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { EvidenceError } from '../../errors.js'
import { BoundedCache } from '../snp/cache.js'
import { normalizeSerial, type ParsedCertificate } from '../x509-chain.js'
import { fromBase64 } from '../reader.js'

export interface VerifiedIntelCrl {
  readonly issuer: string
  readonly revokedSerials: ReadonlySet<string>
  readonly thisUpdate: Date
  readonly nextUpdate: Date | undefined
}

const verified = new BoundedCache<VerifiedIntelCrl>(64)

const PEM_CRL = /^\s*-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----\s*$/

/** CRL bytes as DER: DER as is, or PEM (`X509 CRL`), or hex text (what PCS serves without `encoding=der`). */
export function crlDer(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes[0] === 0x30) return bytes
  const text = Buffer.from(bytes).toString('latin1')
  const pem = PEM_CRL.exec(text)
  if (pem !== null) return fromBase64((pem[1] ?? '').replace(/\s+/g, ''), what)
  const hex = text.trim()
  if (/^(?:[0-9a-fA-F]{2})+$/.test(hex) && hex.startsWith('30')) return new Uint8Array(Buffer.from(hex, 'hex'))
  throw new EvidenceError('evidence-malformed', `${what}: not a DER, PEM or hex CRL`)
}

/**
 * Parses a CRL and checks that `issuer` issued and signed it (ECDSA with SHA-256).
 * @throws `evidence-malformed` (not a CRL), `chain-untrusted` (other issuer, algorithm, bad signature)
 */
export async function verifyIntelCrl(bytes: Uint8Array, issuer: ParsedCertificate, what: string): Promise<VerifiedIntelCrl> {
  const der = crlDer(bytes, what)
  const key = `${createHash('sha256').update(der).digest('hex')}/${issuer.sha256}`
  const hit = verified.get(key)
  if (hit !== undefined) return hit
  let crl: x509.X509Crl
  try {
    crl = new x509.X509Crl(new Uint8Array(der))
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', `${what}: not a DER CRL`, { cause })
  }
  if (crl.issuer !== issuer.subject) throw new EvidenceError('chain-untrusted', `${what}: not issued by ${issuer.subjectCommonName ?? 'the expected CA'}`)
  const alg = crl.signatureAlgorithm
  const hashValue: unknown = 'hash' in alg ? alg.hash : undefined
  const hash =
    typeof hashValue === 'string'
      ? hashValue
      : typeof hashValue === 'object' && hashValue !== null && 'name' in hashValue && typeof hashValue.name === 'string'
        ? hashValue.name
        : undefined
  if (alg.name !== 'ECDSA' || hash !== 'SHA-256') throw new EvidenceError('chain-untrusted', `${what}: signature algorithm is not ECDSA SHA-256`)
  let ok: boolean
  try {
    ok = await crl.verify({ publicKey: new x509.PublicKey(issuer.publicKey.export({ type: 'spki', format: 'der' })) })
  } catch (cause) {
    throw new EvidenceError('chain-untrusted', `${what}: signature could not be checked`, { cause })
  }
  if (!ok) throw new EvidenceError('chain-untrusted', `${what}: signature does not verify with ${issuer.subjectCommonName ?? 'the issuer'}`)
  const result: VerifiedIntelCrl = {
    issuer: crl.issuer,
    revokedSerials: new Set(crl.entries.map((e) => normalizeSerial(e.serialNumber))),
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
  }
  verified.set(key, result)
  return result
}

/** True when `now` lies in [thisUpdate, nextUpdate]. */
export function isIntelCrlCurrent(crl: VerifiedIntelCrl, now: Date): boolean {
  const t = now.getTime()
  return crl.thisUpdate.getTime() <= t && (crl.nextUpdate === undefined || t <= crl.nextUpdate.getTime())
}

/** A revoked serial stays revoked whatever the CRL's age. @throws `chain-untrusted` */
export function checkNotRevokedBy(crl: VerifiedIntelCrl, certs: readonly ParsedCertificate[]): void {
  for (const cert of certs) {
    if (cert.issuer === crl.issuer && crl.revokedSerials.has(cert.serialNumber)) {
      throw new EvidenceError('chain-untrusted', `${cert.subjectCommonName ?? 'certificate'} serial ${cert.serialNumber} is revoked`)
    }
  }
}

/** Forgets verified CRLs (tests). */
export function clearTdxCrlCache(): void {
  verified.clear()
}
