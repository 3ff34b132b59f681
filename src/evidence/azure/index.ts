import { z } from 'zod'
import { EvidenceError } from '../../errors.js'
import { fromBase64, jsonObjectOf, parseJsonFile } from '../reader.js'
import { decodeEvidenceCertificates } from '../snp/cert-table.js'
import type { SnpVerifyOptions } from '../snp/options.js'
import { decodePcrValues } from '../tpm/pcrs.js'
import type { Claims, EvidenceFiles, EvidenceVerifier, VerifyContext } from '../types.js'
import type { TdxEvidenceCollateral, TdxVerifyOptions } from '../tdx/index.js'
import { verifyAzSnpVtpm } from './snp-vtpm.js'
import { verifyAzTdxVtpm } from './tdx-vtpm.js'
import { REPORT_DATA_BINDING } from '../binding.js'
import { azSnpVtpmEvidenceSchema, azTdxVtpmEvidenceSchema, type AzSnpVtpmEvidence, type AzTdxVtpmEvidence } from './schema.js'

export { azSnpVtpmEvidenceSchema, azTdxVtpmEvidenceSchema } from './schema.js'
export type { AzSnpVtpmEvidence, AzTdxVtpmEvidence } from './schema.js'

export function verifyAzSnpVtpmWireEvidence(e: AzSnpVtpmEvidence, ctx: VerifyContext, snpOptions?: Partial<SnpVerifyOptions>): Promise<Claims> {
  return verifyAzSnpVtpm({
    hclReport: fromBase64(e.hclReport, 'hclReport'),
    quote: fromBase64(e.quote, 'quote'),
    signature: fromBase64(e.signature, 'signature'),
    pcrs: decodePcrValues(e.pcrs),
    certs: e.certs === undefined ? undefined : decodeEvidenceCertificates(e.certs),
    crl: e.crl === undefined ? undefined : fromBase64(e.crl, 'crl'),
    eventLog: e.eventLog === undefined ? undefined : fromBase64(e.eventLog, 'eventLog'),
    now: ctx.now,
    collateral: ctx.collateral,
    ...(snpOptions === undefined ? {} : { snpOptions }),
  })
}

const hexToB64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64')
const bytesToB64 = (a: readonly number[]): string => Buffer.from(a).toString('base64')
const HexList = z.array(z.string().regex(/^[0-9a-fA-F]*$/).max(128)).max(24)

/** trustee's az-snp-vtpm/az-tdx-vtpm evidence, v1/v2 (hex and base64url) and v0 (byte arrays). */
const TrusteeV1 = z.object({
  hcl_report: z.string(),
  tpm_quote: z.object({ signature: z.string(), message: z.string(), pcrs: HexList }),
  vcek: z.string().optional(),
})
const TrusteeV0 = z.object({
  report: z.array(z.number().int().min(0).max(255)),
  quote: z.object({ signature: z.array(z.number().int().min(0).max(255)), message: z.array(z.number().int().min(0).max(255)), pcrs: z.array(z.array(z.number().int().min(0).max(255))).max(24) }),
  vcek: z.string().optional(),
})

const pcrList = (list: readonly string[]): Record<string, string> => Object.fromEntries(list.map((v, i) => [String(i), v.toLowerCase()]))

/**
 * For `keybroker evidence verify --type az-snp-vtpm FILE [--certs …]`: FILE is the evidence as
 * JSON — keybroker's wire form, or trustee's az-snp-vtpm evidence (v0, v1) — and `--certs`
 * files are the VCEK chain. @throws `evidence-malformed`
 */
export function azSnpVtpmEvidenceFromFile(main: Uint8Array, files: EvidenceFiles): { readonly type: string; readonly [k: string]: unknown } {
  const json = parseJsonFile(main, 'az-snp-vtpm evidence file')
  const certs = files.certs.map((c) => (Buffer.from(c.subarray(0, 64)).toString('latin1').includes('-----BEGIN') ? Buffer.from(c).toString('latin1') : Buffer.from(c).toString('base64')))
  const v1 = TrusteeV1.safeParse(json)
  if (v1.success) {
    const vcek = v1.data.vcek === undefined ? [] : [v1.data.vcek.includes('-----BEGIN') ? v1.data.vcek : Buffer.from(v1.data.vcek, 'base64url').toString('base64')]
    return {
      type: 'az-snp-vtpm',
      // trustee writes base64url with padding, which the wire decoder refuses: re-encode.
      hclReport: Buffer.from(v1.data.hcl_report, 'base64url').toString('base64'),
      quote: hexToB64(v1.data.tpm_quote.message),
      signature: hexToB64(v1.data.tpm_quote.signature),
      pcrs: { sha256: pcrList(v1.data.tpm_quote.pcrs) },
      ...(certs.length + vcek.length > 0 ? { certs: [...vcek, ...certs] } : {}),
    }
  }
  const v0 = TrusteeV0.safeParse(json)
  if (v0.success) {
    const vcek = v0.data.vcek === undefined ? [] : [v0.data.vcek]
    return {
      type: 'az-snp-vtpm',
      hclReport: bytesToB64(v0.data.report),
      quote: bytesToB64(v0.data.quote.message),
      signature: bytesToB64(v0.data.quote.signature),
      pcrs: { sha256: pcrList(v0.data.quote.pcrs.map((p) => Buffer.from(p).toString('hex'))) },
      ...(certs.length + vcek.length > 0 ? { certs: [...vcek, ...certs] } : {}),
    }
  }
  const object = jsonObjectOf(json, 'az-snp-vtpm evidence file')
  return { ...object, type: 'az-snp-vtpm', ...(certs.length > 0 ? { certs } : {}) }
}

/** Builds an `az-snp-vtpm` verifier; `snpOptions` are the `snp` verifier's (the service passes its configuration). */
export function createAzSnpVtpmVerifier(snpOptions?: Partial<SnpVerifyOptions>): EvidenceVerifier<AzSnpVtpmEvidence> {
  return {
    type: 'az-snp-vtpm',
    schema: azSnpVtpmEvidenceSchema,
    verify: (evidence, ctx) => verifyAzSnpVtpmWireEvidence(evidence, ctx, snpOptions),
    binding: REPORT_DATA_BINDING,
    fromFile: azSnpVtpmEvidenceFromFile,
  }
}

export const azSnpVtpmVerifier: EvidenceVerifier<AzSnpVtpmEvidence> = createAzSnpVtpmVerifier()

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'))
/** As `tdx` evidence: JSON documents and PEM as text, CRLs as PEM or base64 DER. */
function tdCollateral(c: NonNullable<AzTdxVtpmEvidence['collateral']>): TdxEvidenceCollateral {
  const crl = (v: string, what: string): Uint8Array => (v.includes('-----BEGIN') ? utf8(v) : fromBase64(v, what))
  return {
    ...(c.tcbInfo === undefined ? {} : { tcbInfo: utf8(c.tcbInfo) }),
    ...(c.qeIdentity === undefined ? {} : { qeIdentity: utf8(c.qeIdentity) }),
    ...(c.tcbSigningChain === undefined ? {} : { tcbSigningChain: utf8(c.tcbSigningChain) }),
    ...(c.pckCrl === undefined ? {} : { pckCrl: crl(c.pckCrl, 'collateral.pckCrl') }),
    ...(c.rootCaCrl === undefined ? {} : { rootCaCrl: crl(c.rootCaCrl, 'collateral.rootCaCrl') }),
  }
}

export function verifyAzTdxVtpmWireEvidence(e: AzTdxVtpmEvidence, ctx: VerifyContext, tdxOptions?: Partial<TdxVerifyOptions>): Promise<Claims> {
  return verifyAzTdxVtpm({
    hclReport: fromBase64(e.hclReport, 'hclReport'),
    tdQuote: fromBase64(e.tdQuote, 'tdQuote'),
    tdCollateral: e.collateral === undefined ? undefined : tdCollateral(e.collateral),
    quote: fromBase64(e.quote, 'quote'),
    signature: fromBase64(e.signature, 'signature'),
    pcrs: decodePcrValues(e.pcrs),
    eventLog: e.eventLog === undefined ? undefined : fromBase64(e.eventLog, 'eventLog'),
    now: ctx.now,
    collateral: ctx.collateral,
    ...(tdxOptions === undefined ? {} : { tdxOptions }),
  })
}

const Bytes = z.array(z.number().int().min(0).max(255))
const TrusteeTdxV1 = z.object({ hcl_report: z.string(), td_quote: z.string(), tpm_quote: z.object({ signature: z.string(), message: z.string(), pcrs: HexList }) })
const TrusteeTdxV0 = z.object({ hcl_report: Bytes, td_quote: Bytes, tpm_quote: z.object({ signature: Bytes, message: Bytes, pcrs: z.array(Bytes).max(24) }) })

/**
 * For `keybroker evidence verify --type az-tdx-vtpm FILE`: keybroker's wire JSON, or trustee's
 * az-tdx-vtpm evidence (v0, v1). @throws `evidence-malformed`
 */
export function azTdxVtpmEvidenceFromFile(main: Uint8Array, _files: EvidenceFiles): { readonly type: string; readonly [k: string]: unknown } {
  const json = parseJsonFile(main, 'az-tdx-vtpm evidence file')
  const v1 = TrusteeTdxV1.safeParse(json)
  if (v1.success) {
    return {
      type: 'az-tdx-vtpm',
      hclReport: Buffer.from(v1.data.hcl_report, 'base64url').toString('base64'),
      tdQuote: Buffer.from(v1.data.td_quote, 'base64url').toString('base64'),
      quote: hexToB64(v1.data.tpm_quote.message),
      signature: hexToB64(v1.data.tpm_quote.signature),
      pcrs: { sha256: pcrList(v1.data.tpm_quote.pcrs) },
    }
  }
  const v0 = TrusteeTdxV0.safeParse(json)
  if (v0.success) {
    return {
      type: 'az-tdx-vtpm',
      hclReport: bytesToB64(v0.data.hcl_report),
      tdQuote: bytesToB64(v0.data.td_quote),
      quote: bytesToB64(v0.data.tpm_quote.message),
      signature: bytesToB64(v0.data.tpm_quote.signature),
      pcrs: { sha256: pcrList(v0.data.tpm_quote.pcrs.map((p) => Buffer.from(p).toString('hex'))) },
    }
  }
  const object = jsonObjectOf(json, 'az-tdx-vtpm evidence file')
  return { ...object, type: 'az-tdx-vtpm' }
}

/** Builds an `az-tdx-vtpm` verifier; `tdxOptions` are the `tdx` verifier's. */
export function createAzTdxVtpmVerifier(tdxOptions?: Partial<TdxVerifyOptions>): EvidenceVerifier<AzTdxVtpmEvidence> {
  return {
    type: 'az-tdx-vtpm',
    schema: azTdxVtpmEvidenceSchema,
    verify: (evidence, ctx) => verifyAzTdxVtpmWireEvidence(evidence, ctx, tdxOptions),
    binding: REPORT_DATA_BINDING,
    fromFile: azTdxVtpmEvidenceFromFile,
  }
}

export const azTdxVtpmVerifier: EvidenceVerifier<AzTdxVtpmEvidence> = createAzTdxVtpmVerifier()

export { verifyAzSnpVtpm } from './snp-vtpm.js'
export type { AzSnpVtpmInput } from './snp-vtpm.js'
export { parseHclReport, checkRuntimeDataBinding, HCL_HEADER_SIZE, HCL_HW_REPORT_SIZE } from './hcl-report.js'
export type { HclReport, HclReportType } from './hcl-report.js'
export { parseRuntimeClaims } from './runtime-claims.js'
export type { RuntimeClaims } from './runtime-claims.js'
export { vtpmSignature, verifyVtpmQuote } from './vtpm-quote.js'
export { verifyAzTdxVtpm } from './tdx-vtpm.js'
export type { AzTdxVtpmInput } from './tdx-vtpm.js'
