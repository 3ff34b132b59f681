/**
 * The endorsement chain of a report: VCEK → ASK → ARK, or VLEK → ASVK → ARK, all RSA-PSS
 * SHA-384 (KDS spec 57230), ending in the product's pinned ARK. Certificates are parsed once and
 * verified chains remembered by digest (parsing ~1.1 ms per certificate, a cached chain costs a
 * map lookup plus the validity check at `now`).
 */
import { createHash } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { equalBytes } from '../reader.js'
import {
  chainDigest,
  checkValidityAt,
  parseCertificate,
  verifyChainStructure,
  type ParsedCertificate,
} from '../x509-chain.js'
import { BoundedCache } from './cache.js'
import type { PinnedArk } from './options.js'
import type { SnpReport } from './parse.js'
import { hwidSize, isSnpProduct, PINNED_ARK_SPKI_SHA256, type SnpProduct } from './products.js'
import { decodeTcb, TCB_COMPONENTS } from './tcb.js'
import { readEndorsementExtensions, type EndorsementExtensions } from './vcek-extensions.js'

export type EndorsementKind = 'vcek' | 'vlek'

export interface EndorsementChain {
  readonly leaf: ParsedCertificate
  /** ASK for a VCEK, ASVK for a VLEK. */
  readonly intermediate: ParsedCertificate
  readonly ark: ParsedCertificate
}

const AMD_SIGNATURE_ALGORITHMS = ['RSA-PSS/SHA-384'] as const

const parsedCertificates = new BoundedCache<ParsedCertificate>(512)
const verifiedChains = new BoundedCache<true>(256)

/** `parseCertificate`, memoized by the SHA-256 of the DER. @throws `evidence-malformed` */
export function parseCertificateCached(der: Uint8Array, what: string): ParsedCertificate {
  const key = createHash('sha256').update(der).digest('hex')
  const hit = parsedCertificates.get(key)
  if (hit !== undefined) return hit
  const cert = parseCertificate(der, what)
  parsedCertificates.set(key, cert)
  return cert
}

/** Forgets every parsed certificate and verified chain (tests; configuration changes). */
export function clearSnpCaches(): void {
  parsedCertificates.clear()
  verifiedChains.clear()
}

/** The product line a certificate names: `SEV-Milan`, `SEV-VLEK-Genoa`, `ARK-Turin` → product. */
export function productFromIssuerName(commonName: string | undefined): SnpProduct | undefined {
  const name = /^(?:SEV-VLEK-|SEV-|ARK-)(\w+)$/.exec(commonName ?? '')?.[1]
  return name !== undefined && isSnpProduct(name) ? name : undefined
}

export function expectedCommonNames(kind: EndorsementKind, product: SnpProduct): { leaf: string; intermediate: string; ark: string } {
  return kind === 'vcek'
    ? { leaf: 'SEV-VCEK', intermediate: `SEV-${product}`, ark: `ARK-${product}` }
    : { leaf: 'SEV-VLEK', intermediate: `SEV-VLEK-${product}`, ark: `ARK-${product}` }
}

function untrusted(detail: string): EvidenceError {
  return new EvidenceError('chain-untrusted', detail)
}

/**
 * Verifies the chain for `product` at `now`: AMD's names for each role, an ECDSA P-384 leaf,
 * then `x509-chain.ts` (signatures RSA-PSS SHA-384, CA constraints, key usage, pin of the
 * product's ARK or an extra pinned ARK of that product, validity at `now`).
 * @throws `chain-untrusted`
 */
export function verifyEndorsementChain(
  chain: EndorsementChain,
  kind: EndorsementKind,
  product: SnpProduct,
  extraPinnedArks: readonly PinnedArk[],
  now: Date,
): void {
  const names = expectedCommonNames(kind, product)
  if (chain.leaf.subjectCommonName !== names.leaf) throw untrusted(`endorsement key certificate is not a ${names.leaf}`)
  if (chain.intermediate.subjectCommonName !== names.intermediate) throw untrusted(`intermediate is not ${names.intermediate}`)
  if (chain.ark.subjectCommonName !== names.ark) throw untrusted(`root is not ${names.ark}`)
  const details = chain.leaf.publicKey.asymmetricKeyDetails
  if (chain.leaf.publicKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'secp384r1') {
    throw untrusted('endorsement key is not ECDSA P-384')
  }
  const pins = new Set([PINNED_ARK_SPKI_SHA256[product], ...extraPinnedArks.filter((p) => p.product === product).map((p) => p.spkiSha256)])
  const certs = [chain.leaf, chain.intermediate, chain.ark]
  const key = chainDigest(certs, `${kind}|${product}|${[...pins].sort().join(',')}`)
  if (verifiedChains.get(key) === undefined) {
    verifyChainStructure(certs, { pinnedRootSpkiSha256: pins, signatureAlgorithms: AMD_SIGNATURE_ALGORITHMS })
    verifiedChains.set(key, true)
  }
  checkValidityAt(certs, now)
}

/**
 * The endorsement certificate must certify exactly what the report claims: its product, its
 * REPORTED_TCB (each SPL, FMC on Turin), and for a VCEK the CHIP_ID (hwID; with MASK_CHIP_KEY the
 * report shows zeros and the chain alone binds the chip). A VLEK has no hwID.
 * @throws `chain-untrusted`
 */
export function checkEndorsementMatchesReport(
  leaf: ParsedCertificate,
  kind: EndorsementKind,
  product: SnpProduct,
  report: SnpReport,
): EndorsementExtensions {
  const ext = readEndorsementExtensions(leaf, hwidSize(product))
  if (ext.productName === undefined || ext.productName.split('-')[0] !== product) {
    throw untrusted(`endorsement certificate is for product ${ext.productName ?? '(none)'}, not ${product}`)
  }
  const tcb = decodeTcb(report.reportedTcb, product)
  for (const c of TCB_COMPONENTS) {
    const certified = ext[c]
    const reported = tcb[c]
    if (reported === undefined) continue
    if (certified !== reported) {
      throw untrusted(`REPORTED_TCB ${c} ${reported} differs from the endorsement certificate's ${certified ?? '(absent)'}`)
    }
  }
  if (kind === 'vcek') {
    if (ext.hwId === undefined) throw untrusted('VCEK has no hwID extension')
    if (!report.maskChipKey && !equalBytes(ext.hwId, report.chipId.subarray(0, ext.hwId.byteLength))) {
      throw untrusted('CHIP_ID differs from the VCEK hwID')
    }
  }
  return ext
}
