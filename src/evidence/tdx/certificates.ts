/**
 * Parsing and chain checks of Intel's DCAP certificates, with memoization by digest (parsing a
 * certificate costs ~1 ms; a verified chain is then a map lookup plus the validity check at `now`).
 */
import { createHash } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { BoundedCache } from '../snp/cache.js'
import { chainDigest, checkValidityAt, parseCertificate, verifyChainStructure, type ParsedCertificate } from '../x509-chain.js'
import { INTEL_NAMES, INTEL_SGX_ROOT_CA_PEM, INTEL_SGX_ROOT_CA_SPKI_SHA256 } from './intel-root.js'
import { decodePemCertificateList } from './quote/pem.js'

const INTEL_SIGNATURE_ALGORITHMS = ['ECDSA/SHA-256'] as const

const parsed = new BoundedCache<ParsedCertificate>(512)
const verifiedChains = new BoundedCache<true>(256)

/** `parseCertificate`, memoized by the SHA-256 of the DER. @throws `evidence-malformed` */
export function parseIntelCertificate(der: Uint8Array, what: string): ParsedCertificate {
  const key = createHash('sha256').update(der).digest('hex')
  const hit = parsed.get(key)
  if (hit !== undefined) return hit
  const cert = parseCertificate(der, what)
  parsed.set(key, cert)
  return cert
}

let builtinRoot: ParsedCertificate | undefined
/** The built-in Intel SGX Root CA certificate. */
export function intelRootCertificate(): ParsedCertificate {
  if (builtinRoot === undefined) {
    const [der] = decodePemCertificateList(INTEL_SGX_ROOT_CA_PEM, 'built-in Intel SGX Root CA')
    if (der === undefined) throw new EvidenceError('internal', 'built-in Intel SGX Root CA missing')
    builtinRoot = parseIntelCertificate(der, 'built-in Intel SGX Root CA')
  }
  return builtinRoot
}

/** Forgets parsed certificates and verified chains (tests). */
export function clearTdxCertificateCaches(): void {
  parsed.clear()
  verifiedChains.clear()
}

/** Pinned root SPKI digests: Intel's plus `extra` (test roots; never from configuration). */
export function rootPins(extra: readonly string[]): ReadonlySet<string> {
  return new Set([INTEL_SGX_ROOT_CA_SPKI_SHA256, ...extra])
}

function untrusted(detail: string): EvidenceError {
  return new EvidenceError('chain-untrusted', detail)
}

function requireP256(cert: ParsedCertificate, what: string): void {
  const details = cert.publicKey.asymmetricKeyDetails
  if (cert.publicKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') throw untrusted(`${what} key is not ECDSA P-256`)
}

/**
 * Verifies an Intel chain (leaf first, pinned root last) at `now`: each certificate's common name
 * is the one Intel's profile gives its role, every key is P-256, every signature ECDSA/SHA-256,
 * then `x509-chain.ts` (issuer names, signatures, CA constraints, key usage, critical extensions,
 * root pin, validity). `skipValidityOf` names certificates whose validity window is not checked
 * (a pinned TCB Signing key: Intel re-issues that certificate with the same key).
 * @throws `chain-untrusted`
 */
export function verifyIntelChain(
  chain: readonly ParsedCertificate[],
  names: readonly (readonly string[])[],
  pins: ReadonlySet<string>,
  now: Date,
  skipValidityOf: ReadonlySet<ParsedCertificate> = new Set(),
): void {
  if (chain.length !== names.length) throw untrusted(`expected ${names.length} certificates in the chain, got ${chain.length}`)
  chain.forEach((cert, i) => {
    const allowed = names[i] ?? []
    if (cert.subjectCommonName === undefined || !allowed.includes(cert.subjectCommonName)) {
      throw untrusted(`certificate ${i} is ${cert.subjectCommonName ?? '(no CN)'}, expected ${allowed.join(' or ')}`)
    }
    requireP256(cert, cert.subjectCommonName)
  })
  const key = chainDigest(chain, `intel|${[...pins].sort().join(',')}`)
  if (verifiedChains.get(key) === undefined) {
    verifyChainStructure(chain, { pinnedRootSpkiSha256: pins, signatureAlgorithms: INTEL_SIGNATURE_ALGORITHMS })
    verifiedChains.set(key, true)
  }
  checkValidityAt(
    chain.filter((c) => !skipValidityOf.has(c)),
    now,
  )
}

/** Names along a PCK chain: PCK leaf, Platform or Processor CA, root. */
export const PCK_CHAIN_NAMES: readonly (readonly string[])[] = [
  [INTEL_NAMES.pck],
  [INTEL_NAMES.platformCa, INTEL_NAMES.processorCa],
  [INTEL_NAMES.root],
]
/** Names along a TCB Signing chain: TCB Signing, root. */
export const TCB_SIGNING_CHAIN_NAMES: readonly (readonly string[])[] = [[INTEL_NAMES.tcbSigning], [INTEL_NAMES.root]]
