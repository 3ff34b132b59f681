/**
 * What `POST /admin/v1/collateral/snp` accepts: AMD SEV-SNP certificates (VCEK, VLEK, ASK, ASVK,
 * ARK) and ARK-signed CRLs. The server derives each value's kind and key itself (the lookup keys
 * of `src/evidence/snp/collateral.ts`) and stores only what chains, at the service's `now`, to a
 * pinned ARK — the same roots and chain checks as request-time verification.
 */
import { EvidenceError, KeybrokerError } from '../errors.js'
import { fromBase64, toHex } from '../evidence/reader.js'
import {
  AMD_CERTIFICATES,
  collateralCertificateDer,
  crlIssuerCommonName,
  decodePemCertificates,
  encodeTcb,
  hwidSize,
  isSnpProduct,
  PINNED_ARK_SPKI_SHA256,
  productFromIssuerName,
  readEndorsementExtensions,
  SNP_COLLATERAL_KINDS,
  tcbHex,
  verifyCrl,
  verifyEndorsementChain,
  type PinnedArk,
  type SnpProduct,
} from '../evidence/snp/index.js'
import { parseCertificate, verifyCertificateChain, type ParsedCertificate } from '../evidence/x509-chain.js'
import { getCollateral } from '../storage/index.js'
import type { VerifiedCollateral } from './collateral-admin.js'
import type { Services } from './services.js'

export interface SnpCollateralUpload {
  /** PEM text (one or more certificates, e.g. a KDS `cert_chain`) or base64 DER of one certificate. */
  readonly certificate?: string | undefined
  /** A CRL: base64 DER or PEM (`X509 CRL`). */
  readonly crl?: string | undefined
  /** Which KDS CRL it is (`/vcek/v1/{product}/crl` or `/vlek/…`); default `vcek`. */
  readonly crlFor?: 'vcek' | 'vlek' | undefined
}

type Role = 'ark' | 'ask' | 'asvk' | 'vcek' | 'vlek'
interface Classified {
  readonly role: Role
  readonly product: SnpProduct
  readonly cert: ParsedCertificate
}

const MAX_CERTIFICATES = 8
const AMD_SIGNATURE_ALGORITHMS = ['RSA-PSS/SHA-384'] as const
const ROLE_ORDER: readonly Role[] = ['ark', 'ask', 'asvk', 'vcek', 'vlek']

function untrusted(detail: string): EvidenceError {
  return new EvidenceError('chain-untrusted', detail)
}

/** An AMD certificate's role and product, by AMD's naming (the chain checks then hold it to that). */
function classify(cert: ParsedCertificate): Classified {
  const cn = cert.subjectCommonName ?? ''
  const named = (role: Role, product: string | undefined): Classified => {
    if (product === undefined || !isSnpProduct(product)) throw untrusted(`${cn || 'certificate'}: not an AMD SEV-SNP certificate of a known product`)
    return { role, product, cert }
  }
  if (cn === 'SEV-VCEK') return named('vcek', productFromIssuerName(cert.issuerCommonName))
  if (cn === 'SEV-VLEK') return named('vlek', productFromIssuerName(cert.issuerCommonName))
  const ark = /^ARK-(\w+)$/.exec(cn)
  if (ark !== null) return named('ark', ark[1])
  const asvk = /^SEV-VLEK-(\w+)$/.exec(cn)
  if (asvk !== null) return named('asvk', asvk[1])
  const ask = /^SEV-(\w+)$/.exec(cn)
  if (ask !== null) return named('ask', ask[1])
  throw untrusted(`${cn || 'certificate'}: not an AMD SEV-SNP certificate`)
}

function uploadedCertificates(text: string): Uint8Array[] {
  const ders = text.includes('-----BEGIN') ? decodePemCertificates(text, 'certificate') : [fromBase64(text.trim(), 'certificate')]
  if (ders.length > MAX_CERTIFICATES) throw new EvidenceError('evidence-malformed', `certificate: more than ${MAX_CERTIFICATES} certificates`)
  return ders
}

const CRL_PEM = /^\s*-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----\s*$/

function uploadedCrl(text: string): Uint8Array {
  const pem = CRL_PEM.exec(text)
  return fromBase64(pem === null ? text.trim() : (pem[1] ?? '').replace(/\s+/g, ''), 'crl')
}

/**
 * Checks an upload and returns what to store. Certificates of one upload may vouch for each
 * other (an ARK + ASK `cert_chain`); otherwise the issuer comes from the admin store, then AMD's
 * built-in certificates. Every ARK must be pinned (AMD's SPKI fingerprints, plus test-only pins).
 * @throws `bad-request` (not certificates / not a CRL), `chain-untrusted` (not AMD's, not
 * chaining to a pinned ARK at `now`, wrong product, no TCB/hwID extensions)
 */
export async function verifySnpUpload(
  s: Pick<Services, 'database' | 'now' | 'snpExtraPinnedArks'>,
  upload: SnpCollateralUpload,
): Promise<VerifiedCollateral[]> {
  try {
    return await verifyUpload(s, upload)
  } catch (err) {
    // An upload is not evidence: what does not parse is a bad request.
    if (err instanceof KeybrokerError && err.code === 'evidence-malformed') throw new KeybrokerError('bad-request', err.detail, { cause: err })
    throw err
  }
}

async function verifyUpload(
  s: Pick<Services, 'database' | 'now' | 'snpExtraPinnedArks'>,
  upload: SnpCollateralUpload,
): Promise<VerifiedCollateral[]> {
  const now = s.now()
  const extraPins = s.snpExtraPinnedArks
  const pins = (product: SnpProduct): Set<string> =>
    new Set([PINNED_ARK_SPKI_SHA256[product], ...extraPins.filter((p: PinnedArk) => p.product === product).map((p) => p.spkiSha256)])

  const classified = (upload.certificate === undefined ? [] : uploadedCertificates(upload.certificate)).map((der, i) =>
    classify(parseCertificate(der, `certificate[${i}]`)),
  )
  const inUpload = new Map<string, ParsedCertificate>()
  for (const c of classified) {
    const id = `${c.role}/${c.product}`
    if (inUpload.has(id)) throw new EvidenceError('evidence-malformed', `certificate: two ${c.role.toUpperCase()}s of ${c.product}`)
    inUpload.set(id, c.cert)
  }

  /** The issuer to check against: this upload, the admin store, then AMD's built-in certificate. */
  const issuer = async (role: 'ark' | 'ask' | 'asvk', product: SnpProduct): Promise<ParsedCertificate> => {
    const uploaded = inUpload.get(`${role}/${product}`)
    if (uploaded !== undefined) return uploaded
    const stored = await getCollateral(s.database.db, SNP_COLLATERAL_KINDS[role], product)
    if (stored !== undefined) return parseCertificate(collateralCertificateDer(stored, `stored ${role}`), `stored ${role}`)
    const [builtin] = decodePemCertificates(AMD_CERTIFICATES[product][role], `built-in ${role}`)
    if (builtin === undefined) throw new KeybrokerError('internal', `built-in ${role} of ${product} missing`)
    return parseCertificate(builtin, `built-in ${role}`)
  }

  const out: VerifiedCollateral[] = []
  const store = (kind: string, key: string, cert: ParsedCertificate): void => {
    out.push({ kind, key, bytes: cert.der, notAfter: cert.notAfter })
  }
  for (const { role, product, cert } of [...classified].sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role))) {
    const policy = { pinnedRootSpkiSha256: pins(product), signatureAlgorithms: AMD_SIGNATURE_ALGORITHMS, now }
    if (role === 'ark') {
      verifyCertificateChain([cert], policy)
      store(SNP_COLLATERAL_KINDS.ark, product, cert)
    } else if (role === 'ask' || role === 'asvk') {
      const ark = await issuer('ark', product)
      if (ark.subjectCommonName !== `ARK-${product}`) throw untrusted(`root is not ARK-${product}`)
      verifyCertificateChain([cert, ark], policy)
      store(SNP_COLLATERAL_KINDS[role], product, cert)
    } else {
      const chain = { leaf: cert, intermediate: await issuer(role === 'vcek' ? 'ask' : 'asvk', product), ark: await issuer('ark', product) }
      verifyEndorsementChain(chain, role, product, extraPins, now)
      store(SNP_COLLATERAL_KINDS[role], endorsementKey(cert, role, product), cert)
    }
  }

  if (upload.crl !== undefined) {
    const der = uploadedCrl(upload.crl)
    const product = /^ARK-(\w+)$/.exec(crlIssuerCommonName(der) ?? '')?.[1]
    if (product === undefined || !isSnpProduct(product)) throw untrusted('crl: not issued by an AMD ARK')
    const ark = await issuer('ark', product)
    verifyCertificateChain([ark], { pinnedRootSpkiSha256: pins(product), signatureAlgorithms: AMD_SIGNATURE_ALGORITHMS, now })
    const crl = await verifyCrl(der, ark)
    out.push({ kind: SNP_COLLATERAL_KINDS.crl, key: `${product}/${upload.crlFor ?? 'vcek'}`, bytes: der.slice(), notAfter: crl.nextUpdate ?? null })
  }
  return out
}

/**
 * The lookup key of a VCEK (`${product}/${hwID hex}/${TCB hex}`) or VLEK (`${product}/${TCB hex}`)
 * from its extensions, exactly as the verifier derives it from a report it certifies.
 * @throws `chain-untrusted` when the product name, an SPL or the VCEK hwID is missing or wrong
 */
function endorsementKey(cert: ParsedCertificate, kind: 'vcek' | 'vlek', product: SnpProduct): string {
  const ext = readEndorsementExtensions(cert, hwidSize(product))
  if (ext.productName?.split('-')[0] !== product) {
    throw untrusted(`${kind.toUpperCase()} is for product ${ext.productName ?? '(none)'}, not ${product}`)
  }
  const { bootloader, tee, snp, microcode, fmc } = ext
  if (bootloader === undefined || tee === undefined || snp === undefined || microcode === undefined || (product === 'Turin' && fmc === undefined)) {
    throw untrusted(`${kind.toUpperCase()} lacks a TCB SPL extension`)
  }
  const tcb = tcbHex(encodeTcb({ bootloader, tee, snp, microcode, ...(fmc === undefined ? {} : { fmc }) }, product))
  if (kind === 'vlek') return `${product}/${tcb}`
  if (ext.hwId === undefined) throw untrusted('VCEK has no hwID extension')
  return `${product}/${toHex(ext.hwId)}/${tcb}`
}
