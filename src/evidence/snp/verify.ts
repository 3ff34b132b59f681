import { EvidenceError } from '../../errors.js'
import { NO_COLLATERAL, type Claims, type CollateralLookup } from '../types.js'
import type { ParsedCertificate } from '../x509-chain.js'
import { AMD_CERTIFICATES } from './amd-certs.js'
import { CERT_TABLE_GUIDS, decodePemCertificates, trimDerPadding, type EvidenceCertificates } from './cert-table.js'
import { checkReportPolicy } from './checks.js'
import {
  collateralCertificateDer,
  crlCollateralKey,
  lookupCollateral,
  SNP_COLLATERAL_KINDS,
  vcekCollateralKey,
  vlekCollateralKey,
} from './collateral.js'
import { checkNotRevoked, isCrlCurrent, verifyCrl } from './crl.js'
import { resolveSnpOptions, type SnpVerifyOptions } from './options.js'
import { parseReport, type SnpReport } from './parse.js'
import { productFromCpuid, SNP_PRODUCTS, type SnpProduct } from './products.js'
import { verifyReportSignature } from './signature.js'
import { toClaims, type SnpEndorsementFacts } from './to-claims.js'
import {
  checkEndorsementMatchesReport,
  parseCertificateCached,
  productFromIssuerName,
  verifyEndorsementChain,
  type EndorsementChain,
  type EndorsementKind,
} from './vcek-chain.js'

/** Everything the pure SNP verifier needs (docs/conventions.md §2). */
export interface SnpVerifyInput {
  /** The 0x4A0-byte ATTESTATION_REPORT exactly as the guest produced it. */
  readonly report: Uint8Array
  /** Certificates sent with the evidence (see `decodeEvidenceCertificates`). */
  readonly certs?: EvidenceCertificates
  /** A CRL (DER) sent with the evidence. */
  readonly crl?: Uint8Array
  readonly now: Date
  readonly collateral?: CollateralLookup
  readonly options?: Partial<SnpVerifyOptions>
}

/** A report that passed every check, with what verification established. */
export interface SnpVerification {
  readonly report: SnpReport
  readonly chain: EndorsementChain
  readonly facts: SnpEndorsementFacts
}

type Role = 'vcek' | 'vlek' | 'ask' | 'asvk' | 'ark'
type CertBag = Partial<Record<Role, ParsedCertificate>>

function roleByName(cert: ParsedCertificate): Role | undefined {
  const cn = cert.subjectCommonName ?? ''
  if (cn === 'SEV-VCEK') return 'vcek'
  if (cn === 'SEV-VLEK') return 'vlek'
  if (cn.startsWith('SEV-VLEK-')) return 'asvk'
  if (cn.startsWith('ARK-')) return 'ark'
  if (cn.startsWith('SEV-')) return 'ask'
  return undefined
}

/**
 * Sorts the evidence's certificates into roles. Table entries take the role of their GUID (the
 * ASK slot holds the ASVK for VLEK reports, told apart by name); list entries take the role
 * their subject names. Unknown certificates are ignored; two for one role are malformed.
 */
function bagFromEvidence(certs: EvidenceCertificates | undefined): CertBag {
  const bag: CertBag = {}
  const put = (role: Role | undefined, cert: ParsedCertificate): void => {
    if (role === undefined) return
    if (bag[role] !== undefined) throw new EvidenceError('evidence-malformed', `certs: more than one ${role.toUpperCase()}`)
    bag[role] = cert
  }
  if (certs === undefined) return bag
  if (certs.form === 'table') {
    for (const e of certs.entries) {
      const parse = (what: string): ParsedCertificate => parseCertificateCached(trimDerPadding(e.data), `certs: ${what}`)
      if (e.guid === CERT_TABLE_GUIDS.vcek) put('vcek', parse('VCEK'))
      else if (e.guid === CERT_TABLE_GUIDS.vlek) put('vlek', parse('VLEK'))
      else if (e.guid === CERT_TABLE_GUIDS.ark) put('ark', parse('ARK'))
      else if (e.guid === CERT_TABLE_GUIDS.ask) {
        const cert = parse('ASK')
        put(roleByName(cert) === 'asvk' ? 'asvk' : 'ask', cert)
      }
    }
    return bag
  }
  certs.certificates.forEach((der, i) => {
    const cert = parseCertificateCached(der, `certs[${i}]`)
    put(roleByName(cert), cert)
  })
  return bag
}

async function fromCollateral(lookup: CollateralLookup, kind: string, key: string, what: string): Promise<ParsedCertificate | undefined> {
  const value = await lookupCollateral(lookup, kind, key)
  return value === undefined ? undefined : parseCertificateCached(collateralCertificateDer(value, what), what)
}

const builtinDer = new Map<string, Uint8Array>()

function builtin(product: SnpProduct, role: 'ask' | 'asvk' | 'ark'): ParsedCertificate {
  const key = `${product}/${role}`
  let der = builtinDer.get(key)
  if (der === undefined) {
    ;[der] = decodePemCertificates(AMD_CERTIFICATES[product][role], `built-in ${role}`)
    if (der === undefined) throw new EvidenceError('internal', `built-in ${role} of ${product} missing`)
    builtinDer.set(key, der)
  }
  return parseCertificateCached(der, `built-in ${role}`)
}

function leafCollateralKey(kind: EndorsementKind, product: SnpProduct, report: SnpReport): string {
  return kind === 'vcek' ? vcekCollateralKey(product, report.chipId, report.reportedTcb) : vlekCollateralKey(product, report.reportedTcb)
}

/**
 * Verifies an SEV-SNP report (ABI spec 56860 rev. 1.58, report versions 2, 3, 5) completely and
 * offline: structure (`parseReport`); the ECDSA P-384 signature with the VCEK/VLEK; the chain to
 * the product's pinned ARK at `now`; that the VCEK/VLEK certifies the report's product, TCB and
 * chip; the ARK-signed CRL when available (required with `requireCrl`); then the guest policy
 * checks of `SnpVerifyOptions`. Certificates come from the evidence, then the collateral lookup
 * (keys in `collateral.ts`), then the built-in AMD certificates.
 * @throws `EvidenceError` with code `evidence-malformed`, `evidence-unsupported`,
 * `signature-invalid`, `chain-untrusted`, `collateral-missing`, `debug-enabled`,
 * `policy-violation` or `tcb-below-minimum`
 */
export async function verifySnpReport(input: SnpVerifyInput): Promise<SnpVerification> {
  const options = resolveSnpOptions(input.options)
  const lookup = input.collateral ?? NO_COLLATERAL
  const report = parseReport(input.report)
  if (report.signingKey === 'none') throw new EvidenceError('signature-invalid', 'report is unsigned (SIGNING_KEY none)')
  const kind: EndorsementKind = report.signingKey
  const bag = bagFromEvidence(input.certs)

  // Product: the signed CPUID of v3+ reports; else configuration; else the name of the leaf's
  // issuer, which only chooses which pinned root the chain must then reach.
  let product: SnpProduct | undefined =
    report.cpuid !== undefined ? productFromCpuid(report.cpuid.family, report.cpuid.model) : options.product
  let leaf = bag[kind]
  product ??= productFromIssuerName(leaf?.issuerCommonName)
  const collateralKind = SNP_COLLATERAL_KINDS[kind]
  if (leaf === undefined) {
    for (const p of product === undefined ? SNP_PRODUCTS : [product]) {
      leaf = await fromCollateral(lookup, collateralKind, leafCollateralKey(kind, p, report), kind.toUpperCase())
      if (leaf !== undefined) {
        product = p
        break
      }
    }
  }
  if (leaf === undefined || product === undefined) {
    throw new EvidenceError('collateral-missing', `no ${kind.toUpperCase()} certificate in the evidence or the collateral store`)
  }

  verifyReportSignature(report, leaf.publicKey)

  const interRole = kind === 'vcek' ? 'ask' : 'asvk'
  const intermediate =
    bag[interRole] ??
    (await fromCollateral(lookup, SNP_COLLATERAL_KINDS[interRole], product, interRole.toUpperCase())) ??
    (options.useBuiltinAmdCertificates ? builtin(product, interRole) : undefined)
  const ark =
    bag.ark ??
    (await fromCollateral(lookup, SNP_COLLATERAL_KINDS.ark, product, 'ARK')) ??
    (options.useBuiltinAmdCertificates ? builtin(product, 'ark') : undefined)
  if (intermediate === undefined || ark === undefined) {
    throw new EvidenceError('collateral-missing', `no ${intermediate === undefined ? interRole.toUpperCase() : 'ARK'} certificate for ${product}`)
  }
  const chain: EndorsementChain = { leaf, intermediate, ark }
  verifyEndorsementChain(chain, kind, product, options.extraPinnedArks, input.now)
  const ext = checkEndorsementMatchesReport(leaf, kind, product, report)

  const crlDer = input.crl ?? (await lookupCollateral(lookup, SNP_COLLATERAL_KINDS.crl, crlCollateralKey(product, kind)))
  let crlState: SnpEndorsementFacts['crl'] = 'absent'
  if (crlDer !== undefined) {
    const crl = await verifyCrl(crlDer, ark)
    checkNotRevoked(crl, [intermediate, leaf])
    crlState = isCrlCurrent(crl, input.now) ? 'checked' : 'stale'
  }
  if (options.requireCrl && crlState !== 'checked') {
    throw new EvidenceError('collateral-missing', `no current CRL for ${product} (${crlState})`)
  }

  checkReportPolicy(report, product, options)

  return {
    report,
    chain,
    facts: {
      product,
      signingKey: kind,
      endorsementSerial: leaf.serialNumber,
      productName: ext.productName,
      cspId: ext.cspId,
      crl: crlState,
    },
  }
}

/** `verifySnpReport`, then `toClaims`. Same guarantees and errors. */
export async function verifySnpEvidence(input: SnpVerifyInput): Promise<Claims> {
  const { report, facts } = await verifySnpReport(input)
  return toClaims(report, facts)
}
