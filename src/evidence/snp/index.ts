import { z } from 'zod'
import { fromBase64 } from '../reader.js'
import type { Claims, EvidenceVerifier, VerifyContext } from '../types.js'
import { decodeEvidenceCertificates } from './cert-table.js'
import { snpEvidenceFromFiles } from './from-file.js'
import type { SnpVerifyOptions } from './options.js'
import { verifySnpEvidence } from './verify.js'
import { REPORT_DATA_BINDING } from '../binding.js'

/**
 * `evidence` of type `snp` on the wire (docs/architecture.md, "Wire details"): `report` is the 1184-byte
 * report (configfs-tsm `outblob`) in base64 or base64url; `certs` the configfs-tsm `auxblob`
 * certificate table in base64, or PEM text, or a list of base64 DER / PEM certificates; `crl`
 * an AMD KDS CRL (DER) in base64. Sizes are bounded before any decoding.
 */
export const snpEvidenceSchema = z
  .object({
    type: z.literal('snp'),
    report: z.string().min(1).max(2048).describe('the 1184-byte ATTESTATION_REPORT (configfs-tsm outblob), base64 or base64url'),
    certs: z
      .union([z.string().max(65_536), z.array(z.string().max(16_384)).max(8)])
      .optional()
      .describe('the extended-report certificate table (configfs-tsm auxblob) in base64, or PEM text, or a list of base64 DER / PEM certificates'),
    crl: z.string().max(65_536).optional().describe("a CRL (DER, base64) signed by the product's ARK"),
  })
  .describe('AMD SEV-SNP evidence (README, "SEV-SNP evidence")')
export type SnpEvidence = z.infer<typeof snpEvidenceSchema>

/** Verifies wire-format SNP evidence with `options` (defaults: `DEFAULT_SNP_VERIFY_OPTIONS`). */
export function verifySnpWireEvidence(evidence: SnpEvidence, ctx: VerifyContext, options?: Partial<SnpVerifyOptions>): Promise<Claims> {
  return verifySnpEvidence({
    report: fromBase64(evidence.report, 'report'),
    ...(evidence.certs === undefined ? {} : { certs: decodeEvidenceCertificates(evidence.certs) }),
    ...(evidence.crl === undefined ? {} : { crl: fromBase64(evidence.crl, 'crl') }),
    now: ctx.now,
    collateral: ctx.collateral,
    ...(options === undefined ? {} : { options }),
  })
}

/** Builds an `snp` verifier with fixed options (the service passes its configuration). */
export function createSnpVerifier(options?: Partial<SnpVerifyOptions>): EvidenceVerifier<SnpEvidence> {
  return {
    type: 'snp',
    schema: snpEvidenceSchema,
    verify: (evidence, ctx) => verifySnpWireEvidence(evidence, ctx, options),
    binding: REPORT_DATA_BINDING,
    fromFile: snpEvidenceFromFiles,
  }
}

/** The registered `snp` verifier, with the safe default options. */
export const snpVerifier: EvidenceVerifier<SnpEvidence> = createSnpVerifier()

export { verifySnpEvidence, verifySnpReport } from './verify.js'
export type { SnpVerifyInput, SnpVerification } from './verify.js'
export { parseReport } from './parse.js'
export type { SnpReport, SnpPolicy, SnpPlatformInfo, FirmwareVersion, Cpuid } from './parse.js'
export { toClaims } from './to-claims.js'
export type { SnpEndorsementFacts } from './to-claims.js'
export { DEFAULT_SNP_VERIFY_OPTIONS, resolveSnpOptions } from './options.js'
export type { SnpVerifyOptions, PinnedArk } from './options.js'
export { PINNED_ARK_SPKI_SHA256, SNP_PRODUCTS, isSnpProduct, productFromCpuid } from './products.js'
export type { SnpProduct } from './products.js'
export { decodeTcb, encodeTcb, tcbHex } from './tcb.js'
export type { TcbParts } from './tcb.js'
export { REPORT, REPORT_SIZE, SIGNED_SIZE, REPORT_RESERVED } from './report-layout.js'
export { CERT_TABLE_GUIDS, parseCertTable, buildCertTable, decodeEvidenceCertificates, decodePemCertificates } from './cert-table.js'
export type { CertTableEntry, EvidenceCertificates } from './cert-table.js'
export {
  SNP_COLLATERAL_KINDS,
  vcekCollateralKey,
  vlekCollateralKey,
  crlCollateralKey,
  kdsVcekPath,
} from './collateral.js'
export { clearSnpCaches, productFromIssuerName, verifyEndorsementChain } from './vcek-chain.js'
export { snpEvidenceFromFiles } from './from-file.js'
export { crlIssuerCommonName, verifyCrl } from './crl.js'
export type { VerifiedCrl } from './crl.js'
export { readEndorsementExtensions } from './vcek-extensions.js'
export type { EndorsementExtensions } from './vcek-extensions.js'
export { hwidSize } from './products.js'
export { collateralCertificateDer, hwidHex } from './collateral.js'
export { AMD_CERTIFICATES } from './amd-certs.js'
