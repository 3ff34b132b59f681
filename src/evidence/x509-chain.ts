/**
 * The one X.509 chain checker of keybroker (docs/conventions.md §2). `@peculiar/x509` parses; node's
 * `X509Certificate` (OpenSSL) verifies signatures, ~15x faster than WebCrypto per RSA-PSS-4096
 * verify on a parsed certificate. Everything RFC 5280 would check that matters to a pinned,
 * known-shape chain is checked here explicitly, each failure a `chain-untrusted` with its reason:
 * validity at `now`, issuer/subject names, signatures, basicConstraints CA and path length on
 * issuers, keyUsage keyCertSign where present, unknown critical extensions, signature algorithm
 * allowlist, a self-signed root pinned by SPKI SHA-256.
 *
 * It deliberately does not build paths: the caller names the chain (leaf first, root last).
 * AMD VCEKs carry no Authority Key Identifier, so strict RFC 5280 path building rejects them
 * (vectors' MANIFEST, "Traps").
 */
import 'reflect-metadata'
import { createHash, X509Certificate as NodeX509Certificate, type KeyObject } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { EvidenceError } from '../errors.js'
import { toHex } from './reader.js'

export interface CertificateExtension {
  readonly critical: boolean
  /** extnValue contents (the DER inside the OCTET STRING). */
  readonly value: Uint8Array
}

/** A parsed certificate with the facts chain checks need, computed once. */
export interface ParsedCertificate {
  readonly der: Uint8Array
  /** SHA-256 of the DER, lowercase hex: the cache key of anything derived from this certificate. */
  readonly sha256: string
  readonly subject: string
  readonly issuer: string
  readonly subjectCommonName: string | undefined
  readonly issuerCommonName: string | undefined
  /** Serial number, lowercase hex without leading zeros (`0` for zero). */
  readonly serialNumber: string
  readonly notBefore: Date
  readonly notAfter: Date
  readonly publicKey: KeyObject
  /** SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex. */
  readonly spkiSha256: string
  /** `RSA-PSS/SHA-384`, `ECDSA/SHA-384`, … (WebCrypto name / hash). */
  readonly signatureAlgorithm: string
  readonly isCa: boolean
  readonly pathLength: number | undefined
  /** keyUsage bits as `@peculiar/x509` KeyUsageFlags, or undefined when the extension is absent. */
  readonly keyUsage: number | undefined
  readonly extensions: ReadonlyMap<string, CertificateExtension>
  readonly node: NodeX509Certificate
}

const OID_KEY_USAGE = '2.5.29.15'
const OID_BASIC_CONSTRAINTS = '2.5.29.19'
/** Critical extensions this module understands itself. */
const HANDLED_CRITICAL = new Set([OID_KEY_USAGE, OID_BASIC_CONSTRAINTS])

export function normalizeSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^0+/, '')
  return s === '' ? '0' : s
}

function algorithmName(alg: x509.HashedAlgorithm | Algorithm): string {
  const hash = 'hash' in alg ? (alg.hash as Algorithm | string) : undefined
  const hashName = typeof hash === 'string' ? hash : hash?.name
  return hashName === undefined ? alg.name : `${alg.name}/${hashName}`
}

/**
 * Parses one DER certificate. PEM text must be decoded by the caller.
 * @throws `evidence-malformed` when the bytes are not a certificate either library accepts
 */
export function parseCertificate(der: Uint8Array, what = 'certificate'): ParsedCertificate {
  try {
    return readCertificate(der, what)
  } catch (cause) {
    // Both libraries decode some fields only when first read (the public key, signature
    // algorithm parameters): what they throw there is malformed input as well, never internal.
    if (cause instanceof EvidenceError) throw cause
    throw new EvidenceError('evidence-malformed', `${what}: not a DER X.509 certificate`, { cause })
  }
}

function readCertificate(der: Uint8Array, what: string): ParsedCertificate {
  let cert: x509.X509Certificate
  let node: NodeX509Certificate
  try {
    cert = new x509.X509Certificate(new Uint8Array(der))
    node = new NodeX509Certificate(der)
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', `${what}: not a DER X.509 certificate`, { cause })
  }
  const extensions = new Map<string, CertificateExtension>()
  let isCa = false
  let pathLength: number | undefined
  let keyUsage: number | undefined
  for (const ext of cert.extensions) {
    if (extensions.has(ext.type)) throw new EvidenceError('evidence-malformed', `${what}: duplicate extension ${ext.type}`)
    extensions.set(ext.type, { critical: ext.critical, value: new Uint8Array(ext.value) })
    if (ext instanceof x509.BasicConstraintsExtension) {
      isCa = ext.ca
      pathLength = ext.pathLength
    } else if (ext instanceof x509.KeyUsagesExtension) {
      keyUsage = ext.usages
    }
  }
  let publicKey: KeyObject
  let spki: Buffer
  try {
    // OpenSSL decodes the key only when asked: a corrupt SubjectPublicKeyInfo throws here, not above.
    publicKey = node.publicKey
    spki = publicKey.export({ type: 'spki', format: 'der' })
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', `${what}: unreadable public key`, { cause })
  }
  const copy = der.slice()
  return {
    der: copy,
    sha256: createHash('sha256').update(copy).digest('hex'),
    subject: cert.subject,
    issuer: cert.issuer,
    subjectCommonName: cert.subjectName.getField('CN')[0],
    issuerCommonName: cert.issuerName.getField('CN')[0],
    serialNumber: normalizeSerial(cert.serialNumber),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    publicKey,
    spkiSha256: createHash('sha256').update(spki).digest('hex'),
    signatureAlgorithm: algorithmName(cert.signatureAlgorithm),
    isCa,
    pathLength,
    keyUsage,
    extensions,
    node,
  }
}

function untrusted(reason: string): EvidenceError {
  return new EvidenceError('chain-untrusted', reason)
}

function label(cert: ParsedCertificate): string {
  return cert.subjectCommonName ?? cert.sha256.slice(0, 16)
}

export interface ChainPolicy {
  /** SPKI SHA-256 (lowercase hex) of the roots this chain may end in. */
  readonly pinnedRootSpkiSha256: ReadonlySet<string>
  /** Critical extensions the caller checks itself (e.g. AMD's); any other unknown critical one fails. */
  readonly handledCriticalExtensions?: readonly string[]
  /** When set, every certificate's signature algorithm (as in `ParsedCertificate.signatureAlgorithm`) must be listed. */
  readonly signatureAlgorithms?: readonly string[]
  /**
   * The last certificate is a registered trust anchor (pinned by SPKI), which may be an
   * intermediate CA: its own issuer name and signature are then not checked (RFC 5280 §6.1.1: a
   * trust anchor is a name and a key). Default false: the last certificate must be self-signed.
   */
  readonly anchorMayBeIntermediate?: boolean
}

/**
 * Checks everything about `chain` (leaf first, self-signed root last) that does not depend on
 * time: names, signatures, CA constraints, key usage, critical extensions, algorithms and the
 * root pin. The result can be cached by the certificates' digests; `checkValidityAt` must still
 * run for every `now`.
 * @throws `chain-untrusted`
 */
export function verifyChainStructure(chain: readonly ParsedCertificate[], policy: ChainPolicy): void {
  const root = chain[chain.length - 1]
  if (root === undefined) throw untrusted('empty certificate chain')
  if (!policy.pinnedRootSpkiSha256.has(root.spkiSha256)) throw untrusted(`root ${label(root)} is not a pinned root`)
  const handled = new Set([...HANDLED_CRITICAL, ...(policy.handledCriticalExtensions ?? [])])
  chain.forEach((cert, i) => {
    for (const [oid, ext] of cert.extensions) {
      if (ext.critical && !handled.has(oid)) throw untrusted(`${label(cert)}: unknown critical extension ${oid}`)
    }
    if (policy.signatureAlgorithms !== undefined && !policy.signatureAlgorithms.includes(cert.signatureAlgorithm)) {
      throw untrusted(`${label(cert)}: signature algorithm ${cert.signatureAlgorithm} not allowed`)
    }
    const issuer = chain[i + 1] ?? cert
    if (i > 0) {
      // Every issuer must be a CA allowed to sign certificates, with room for the CAs below it.
      if (!cert.isCa) throw untrusted(`${label(cert)}: issuer is not a CA (basicConstraints)`)
      if (cert.keyUsage !== undefined && (cert.keyUsage & x509.KeyUsageFlags.keyCertSign) === 0) {
        throw untrusted(`${label(cert)}: keyUsage lacks keyCertSign`)
      }
      if (cert.pathLength !== undefined && i - 1 > cert.pathLength) {
        throw untrusted(`${label(cert)}: path length constraint exceeded`)
      }
    }
    if (policy.anchorMayBeIntermediate === true && i === chain.length - 1 && cert.issuer !== cert.subject) return
    if (cert.issuer !== issuer.subject) throw untrusted(`${label(cert)}: issuer name does not match ${label(issuer)}`)
    if (!cert.node.verify(issuer.publicKey)) {
      throw untrusted(`${label(cert)}: signature does not verify with ${i + 1 < chain.length ? label(issuer) : 'its own key'}`)
    }
  })
}

/**
 * Each certificate must be valid at `now` (notBefore <= now <= notAfter, RFC 5280 §4.1.2.5).
 * @throws `chain-untrusted`
 */
export function checkValidityAt(chain: readonly ParsedCertificate[], now: Date): void {
  const t = now.getTime()
  for (const cert of chain) {
    if (t < cert.notBefore.getTime()) throw untrusted(`${label(cert)}: not valid before ${cert.notBefore.toISOString()}`)
    if (t > cert.notAfter.getTime()) throw untrusted(`${label(cert)}: expired ${cert.notAfter.toISOString()}`)
  }
}

/** Both checks of a chain at `now`. @throws `chain-untrusted` */
export function verifyCertificateChain(chain: readonly ParsedCertificate[], policy: ChainPolicy & { readonly now: Date }): void {
  verifyChainStructure(chain, policy)
  checkValidityAt(chain, policy.now)
}

/** SHA-256 over the concatenated digests of the certificates: a cache key for a whole chain. */
export function chainDigest(chain: readonly ParsedCertificate[], salt = ''): string {
  const h = createHash('sha256').update(salt)
  for (const c of chain) h.update(c.sha256)
  return h.digest('hex')
}

/** Lowercase hex SHA-256 of bytes (a helper for pins computed from certificates in tests and tools). */
export function sha256Hex(bytes: Uint8Array): string {
  return toHex(new Uint8Array(createHash('sha256').update(bytes).digest()))
}
