import { z } from 'zod'
import { fromBase64 } from '../reader.js'
import type { Claims, EvidenceVerifier, VerifyContext } from '../types.js'
import { tdxEvidenceFromFiles } from './from-file.js'
import type { TdxVerifyOptions } from './options.js'
import { verifyTdxEvidence, type TdxEvidenceCollateral } from './verify.js'
import { REPORT_DATA_BINDING } from '../binding.js'

const text = (max: number) => z.string().min(1).max(max)

/**
 * `evidence` of type `tdx` on the wire: `quote` is the configfs-tsm `outblob` of a TDX guest
 * (a DCAP quote v4 or v5) in base64 or base64url, sent unchanged; `collateral` optionally carries
 * Intel PCS responses exactly as served — `tcbInfo` and `qeIdentity` as the JSON text (signed
 * byte for byte), `tcbSigningChain` as PEM text, `pckCrl` and `rootCaCrl` as base64 DER or PEM
 * text; `eventLog` the CCEL table data in base64 (trailing zero or 0xFF fill may be cut).
 * Sizes are bounded before anything is decoded.
 */
export const tdxEvidenceSchema = z.object({
  type: z.literal('tdx'),
  quote: text(96 * 1024),
  collateral: z
    .object({
      tcbInfo: text(256 * 1024).optional(),
      qeIdentity: text(64 * 1024).optional(),
      tcbSigningChain: text(16 * 1024).optional(),
      pckCrl: text(1024 * 1024).optional(),
      rootCaCrl: text(64 * 1024).optional(),
    })
    .optional(),
  eventLog: text(4 * 1024 * 1024).optional(),
})
export type TdxEvidence = z.infer<typeof tdxEvidenceSchema>

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'))
/** A CRL member: PEM text as is, otherwise base64 of DER. */
const crlBytes = (s: string, what: string): Uint8Array => (s.includes('-----BEGIN') ? utf8(s) : fromBase64(s, what))

function evidenceCollateral(c: NonNullable<TdxEvidence['collateral']>): TdxEvidenceCollateral {
  return {
    ...(c.tcbInfo === undefined ? {} : { tcbInfo: utf8(c.tcbInfo) }),
    ...(c.qeIdentity === undefined ? {} : { qeIdentity: utf8(c.qeIdentity) }),
    ...(c.tcbSigningChain === undefined ? {} : { tcbSigningChain: utf8(c.tcbSigningChain) }),
    ...(c.pckCrl === undefined ? {} : { pckCrl: crlBytes(c.pckCrl, 'collateral.pckCrl') }),
    ...(c.rootCaCrl === undefined ? {} : { rootCaCrl: crlBytes(c.rootCaCrl, 'collateral.rootCaCrl') }),
  }
}

/** Verifies wire-format TDX evidence with `options` (defaults: `DEFAULT_TDX_VERIFY_OPTIONS`). */
export function verifyTdxWireEvidence(evidence: TdxEvidence, ctx: VerifyContext, options?: Partial<TdxVerifyOptions>): Promise<Claims> {
  return verifyTdxEvidence({
    quote: fromBase64(evidence.quote, 'quote'),
    ...(evidence.collateral === undefined ? {} : { collateral: evidenceCollateral(evidence.collateral) }),
    ...(evidence.eventLog === undefined ? {} : { eventLog: fromBase64(evidence.eventLog, 'eventLog') }),
    now: ctx.now,
    lookup: ctx.collateral,
    ...(options === undefined ? {} : { options }),
  })
}

/** Builds a `tdx` verifier with fixed options. */
export function createTdxVerifier(options?: Partial<TdxVerifyOptions>): EvidenceVerifier<TdxEvidence> {
  return {
    type: 'tdx',
    schema: tdxEvidenceSchema,
    verify: (evidence, ctx) => verifyTdxWireEvidence(evidence, ctx, options),
    binding: REPORT_DATA_BINDING,
    fromFile: tdxEvidenceFromFiles,
  }
}

/** The registered `tdx` verifier, with the safe default options. */
export const tdxVerifier: EvidenceVerifier<TdxEvidence> = createTdxVerifier()

export { tdxEvidenceFromFiles } from './from-file.js'
export { verifyTdxEvidence, verifyTdxQuote, clearTdxDocumentCache } from './verify.js'
export type { TdxVerifyInput, TdxVerification, TdxEvidenceCollateral } from './verify.js'
export { toClaims } from './to-claims.js'
export { DEFAULT_TDX_VERIFY_OPTIONS, resolveTdxOptions } from './options.js'
export type { TdxVerifyOptions } from './options.js'
export { evaluateTdxTcb, TDX_TCB_STATUSES, isTdxTcbStatus, tdxModuleIdentityId } from './tcb.js'
export type { TdxTcbStatus, TdxTcbEvaluation } from './tcb.js'
export { decodeTcbInfo, decodeQeIdentity, PLATFORM_TCB_STATUSES, IDENTITY_TCB_STATUSES } from './tcb-info.js'
export type { TdxTcbInfo, TdQeIdentity, PlatformTcbStatus, IdentityTcbStatus } from './tcb-info.js'
export { splitSignedJson, verifySignedJson, topLevelSpans } from './signed-json.js'
export {
  TDX_COLLATERAL_KINDS,
  QE_IDENTITY_KEY,
  TCB_SIGNING_CHAIN_KEY,
  ROOT_CA_CRL_KEY,
  tcbInfoCollateralKey,
  pcsPath,
} from './collateral.js'
export type { TdxCollateralKind, PckCa } from './collateral.js'
export { INTEL_SGX_ROOT_CA_SPKI_SHA256, INTEL_SGX_ROOT_CA_PEM, INTEL_NAMES } from './intel-root.js'
export { clearTdxCertificateCaches, intelRootCertificate, parseIntelCertificate, verifyIntelChain, PCK_CHAIN_NAMES, TCB_SIGNING_CHAIN_NAMES, rootPins } from './certificates.js'
export { verifyIntelCrl, crlDer, clearTdxCrlCache } from './crl.js'
export { replayTdEventLog, eventLogClaims } from './ccel.js'
export { decodeTdAttributes, TD_ATTRIBUTE_BITS } from './attributes.js'
export { parseQuote, parseQeReport, decodePckExtensions, readPckExtensions, attestationPublicKey } from './quote/index.js'
export type { TdxQuote, TdReportBody, QeReport, PckExtensions } from './quote/index.js'
