/**
 * Certificate paths of TPM keys: an EK certificate to a registered TPM manufacturer CA, or an AK
 * certificate (cloud vTPMs issue them) to a registered AK CA. The path is built from the
 * certificates the client sent and the registered CAs by issuer name; a registered CA ends it
 * (it may be an intermediate: registering it is the trust decision). `x509-chain.ts` then checks
 * signatures, CA constraints, key usage, critical extensions and validity at `now`.
 */
import { createHash } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { fromBase64 } from '../reader.js'
import { BoundedCache } from '../snp/cache.js'
import { checkValidityAt, parseCertificate, verifyChainStructure, type ParsedCertificate } from '../x509-chain.js'

/** Longest path accepted, leaf and anchor included. */
export const MAX_PATH_LENGTH = 6

/**
 * Critical extensions TCG EK/AK credential profiles use that a path check need not interpret:
 * subjectAltName (the TPM manufacturer/model/version directory name, critical when the subject
 * is empty: TCG EK Credential Profile 2.5 §3.2.9), certificatePolicies, subjectDirectoryAttributes
 * (TPM specification), extendedKeyUsage (tcg-kp-EKCertificate / AIKCertificate).
 */
export const TPM_CERT_CRITICAL_EXTENSIONS = ['2.5.29.17', '2.5.29.32', '2.5.29.9', '2.5.29.37'] as const

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g

/**
 * Certificates from text: one or more PEM blocks (nothing but white space between them), or
 * base64 of one DER certificate. @throws `evidence-malformed`
 */
export function decodeCertificateText(text: string, what: string): Uint8Array[] {
  if (!text.includes('-----BEGIN')) return [fromBase64(text, what)]
  const out: Uint8Array[] = []
  let outside = ''
  let last = 0
  for (const m of text.matchAll(PEM_BLOCK)) {
    outside += text.slice(last, m.index)
    last = m.index + m[0].length
    out.push(fromBase64((m[1] ?? '').replace(/\s+/g, ''), what))
  }
  outside += text.slice(last)
  if (out.length === 0 || outside.trim() !== '') throw new EvidenceError('evidence-malformed', `${what}: not PEM certificates`)
  return out
}

const parsed = new BoundedCache<ParsedCertificate>(512)

/** `parseCertificate`, memoized by the SHA-256 of the DER. @throws `evidence-malformed` */
export function parseCertificateMemo(der: Uint8Array, what: string): ParsedCertificate {
  const key = createHash('sha256').update(der).digest('hex')
  const hit = parsed.get(key)
  if (hit !== undefined) return hit
  const cert = parseCertificate(der, what)
  parsed.set(key, cert)
  return cert
}

export interface CertificatePath {
  /** Leaf first, the registered CA last. */
  readonly path: readonly ParsedCertificate[]
  readonly anchor: ParsedCertificate
}

/**
 * Builds and verifies the path from `leaf` through `intermediates` (any order) to one of
 * `anchors`, at `now`.
 * @throws `chain-untrusted` (no registered CA reached, a check of x509-chain.ts fails);
 *   `evidence-malformed` (a certificate does not parse)
 */
export function verifyCertificatePath(
  leafDer: Uint8Array,
  intermediatesDer: readonly Uint8Array[],
  anchorsDer: readonly Uint8Array[],
  now: Date,
  what: string,
): CertificatePath {
  const leaf = parseCertificateMemo(leafDer, what)
  const intermediates = intermediatesDer.map((d, i) => parseCertificateMemo(d, `${what} chain[${i}]`))
  const anchors = anchorsDer.map((d) => parseCertificateMemo(d, 'registered CA'))
  const path: ParsedCertificate[] = [leaf]
  for (;;) {
    const current = path[path.length - 1]!
    const anchor = anchors.find((a) => a.subject === current.issuer && current.node.verify(a.publicKey))
    if (anchor !== undefined) {
      if (anchor.sha256 !== current.sha256) path.push(anchor)
      verifyChainStructure(path, {
        pinnedRootSpkiSha256: new Set([anchor.spkiSha256]),
        handledCriticalExtensions: TPM_CERT_CRITICAL_EXTENSIONS,
        anchorMayBeIntermediate: true,
      })
      checkValidityAt(path, now)
      return { path, anchor }
    }
    if (path.length >= MAX_PATH_LENGTH - 1) break
    const next = intermediates.find((c) => c.subject === current.issuer && !path.includes(c))
    if (next === undefined) break
    path.push(next)
  }
  throw new EvidenceError('chain-untrusted', `${what}: does not chain to a registered CA`)
}
