import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { createHash } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { normalizeSerial, type ParsedCertificate } from '../x509-chain.js'
import { BoundedCache } from './cache.js'

/** An ARK-signed CRL whose signature has been checked. */
export interface VerifiedCrl {
  readonly revokedSerials: ReadonlySet<string>
  readonly thisUpdate: Date
  readonly nextUpdate: Date | undefined
}

const verifiedCrls = new BoundedCache<VerifiedCrl>(64)

/**
 * Parses an AMD KDS CRL (DER) and checks it is issued and signed (RSA-PSS SHA-384) by `ark`.
 * Cached by the digests of CRL and ARK.
 * @throws `evidence-malformed` (not a CRL), `chain-untrusted` (wrong issuer, algorithm or signature)
 */
export async function verifyCrl(der: Uint8Array, ark: ParsedCertificate): Promise<VerifiedCrl> {
  const key = `${createHash('sha256').update(der).digest('hex')}/${ark.sha256}`
  const hit = verifiedCrls.get(key)
  if (hit !== undefined) return hit
  let crl: x509.X509Crl
  try {
    crl = new x509.X509Crl(new Uint8Array(der))
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', 'crl: not a DER CRL', { cause })
  }
  if (crl.issuer !== ark.subject) throw new EvidenceError('chain-untrusted', 'crl: not issued by the ARK')
  const alg = crl.signatureAlgorithm
  const hash = 'hash' in alg ? (alg.hash as { name?: string }).name : undefined
  if (alg.name !== 'RSA-PSS' || hash !== 'SHA-384') throw new EvidenceError('chain-untrusted', 'crl: signature algorithm not RSA-PSS SHA-384')
  let ok: boolean
  try {
    ok = await crl.verify({ publicKey: new x509.PublicKey(ark.publicKey.export({ type: 'spki', format: 'der' })) })
  } catch (cause) {
    throw new EvidenceError('chain-untrusted', 'crl: signature could not be checked', { cause })
  }
  if (!ok) throw new EvidenceError('chain-untrusted', 'crl: signature does not verify with the ARK')
  const result: VerifiedCrl = {
    revokedSerials: new Set(crl.entries.map((e) => normalizeSerial(e.serialNumber))),
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
  }
  verifiedCrls.set(key, result)
  return result
}

/**
 * The issuer common name of a DER CRL (e.g. `ARK-Milan`), before any signature check: it only
 * says which ARK `verifyCrl` must then be given.
 * @throws `evidence-malformed` (not a CRL)
 */
export function crlIssuerCommonName(der: Uint8Array): string | undefined {
  try {
    return new x509.X509Crl(new Uint8Array(der)).issuerName.getField('CN')[0]
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', 'crl: not a DER CRL', { cause })
  }
}

/** True when `now` lies in [thisUpdate, nextUpdate] (RFC 5280 §5.1.2.4-5). */
export function isCrlCurrent(crl: VerifiedCrl, now: Date): boolean {
  const t = now.getTime()
  return crl.thisUpdate.getTime() <= t && (crl.nextUpdate === undefined || t <= crl.nextUpdate.getTime())
}

/**
 * Revocation holds whatever the CRL's age: a stale CRL still proves a serial revoked.
 * @throws `chain-untrusted` when any certificate's serial is listed
 */
export function checkNotRevoked(crl: VerifiedCrl, certs: readonly ParsedCertificate[]): void {
  for (const cert of certs) {
    if (crl.revokedSerials.has(cert.serialNumber)) {
      throw new EvidenceError('chain-untrusted', `${cert.subjectCommonName ?? 'certificate'} serial ${cert.serialNumber} is revoked`)
    }
  }
}
