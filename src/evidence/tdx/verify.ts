import { createHash } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { BoundedCache } from '../snp/cache.js'
import { toHex } from '../reader.js'
import { NO_COLLATERAL, type Claims, type CollateralLookup } from '../types.js'
import type { ParsedCertificate } from '../x509-chain.js'
import { replayTdEventLog, type ReplayedTdEventLog } from './ccel.js'
import {
  intelRootCertificate,
  parseIntelCertificate,
  PCK_CHAIN_NAMES,
  rootPins,
  TCB_SIGNING_CHAIN_NAMES,
  verifyIntelChain,
} from './certificates.js'
import {
  lookupTdxCollateral,
  QE_IDENTITY_KEY,
  ROOT_CA_CRL_KEY,
  TCB_SIGNING_CHAIN_KEY,
  tcbInfoCollateralKey,
  TDX_COLLATERAL_KINDS,
  type PckCa,
} from './collateral.js'
import { checkNotRevokedBy, isIntelCrlCurrent, verifyIntelCrl } from './crl.js'
import { INTEL_NAMES } from './intel-root.js'
import { resolveTdxOptions, type TdxVerifyOptions } from './options.js'
import { decodeTdAttributes } from './attributes.js'
import { parseQuote, type TdxQuote } from './quote/parse.js'
import { decodePemCertificateList } from './quote/pem.js'
import { readPckExtensions, type PckExtensions } from './quote/pck-extensions.js'
import { attestationPublicKey, checkQeReportData, verifyQeReportSignature, verifyQuoteSignature } from './quote/signatures.js'
import { splitSignedJson, verifySignedJson } from './signed-json.js'
import { evaluateTdxTcb, type TdxTcbEvaluation } from './tcb.js'
import { decodeQeIdentity, decodeTcbInfo, type TdQeIdentity, type TdxTcbInfo } from './tcb-info.js'
import { toClaims } from './to-claims.js'

/** Collateral sent with the evidence; each member as the bytes PCS served (see `collateral.ts`). */
export interface TdxEvidenceCollateral {
  readonly tcbInfo?: Uint8Array
  readonly qeIdentity?: Uint8Array
  readonly tcbSigningChain?: Uint8Array
  readonly pckCrl?: Uint8Array
  readonly rootCaCrl?: Uint8Array
}

/** Everything the pure TDX verifier needs (docs/conventions.md §2). */
export interface TdxVerifyInput {
  /** The quote exactly as configfs-tsm `outblob` holds it (trailing zero padding allowed). */
  readonly quote: Uint8Array
  readonly collateral?: TdxEvidenceCollateral
  /** CCEL table data (the TD event log), optional. */
  readonly eventLog?: Uint8Array
  readonly now: Date
  readonly lookup?: CollateralLookup
  readonly options?: Partial<TdxVerifyOptions>
}

/** What verification established besides the quote itself. */
export interface TdxVerification {
  readonly quote: TdxQuote
  readonly pck: PckExtensions
  readonly pckCertificate: ParsedCertificate
  readonly pckCa: PckCa
  readonly tcb: TdxTcbEvaluation
  readonly crl: 'checked' | 'stale' | 'absent'
  readonly eventLog: ReplayedTdEventLog | undefined
}

async function pick(
  fromEvidence: Uint8Array | undefined,
  lookup: CollateralLookup,
  kind: (typeof TDX_COLLATERAL_KINDS)[keyof typeof TDX_COLLATERAL_KINDS],
  key: string,
): Promise<Uint8Array | undefined> {
  return fromEvidence ?? (await lookupTdxCollateral(lookup, kind, key))
}

function checkCurrent(issueDate: Date, nextUpdate: Date, now: Date, what: string): void {
  if (now.getTime() < issueDate.getTime()) throw new EvidenceError('collateral-missing', `${what} is not valid before ${issueDate.toISOString()}`)
  if (now.getTime() > nextUpdate.getTime()) throw new EvidenceError('collateral-missing', `${what} expired at ${nextUpdate.toISOString()} (nextUpdate)`)
}

/** The TCB Signing chain (signing certificate, root) verified at `now`, honouring pinned signing keys. */
function verifyTcbSigningChain(pem: Uint8Array, options: TdxVerifyOptions, now: Date): ParsedCertificate[] {
  const ders = decodePemCertificateList(Buffer.from(pem).toString('latin1'), 'TCB signing chain')
  const chain = ders.map((der, i) => parseIntelCertificate(der, `TCB signing chain[${i}]`))
  if (chain.length === 1) chain.push(intelRootCertificate())
  const signing = chain[0]
  const pinnedKey = signing !== undefined && options.pinnedTcbSigningKeys.includes(signing.spkiSha256)
  verifyIntelChain(chain, TCB_SIGNING_CHAIN_NAMES, rootPins(options.extraPinnedRoots), now, pinnedKey ? new Set([signing]) : new Set())
  return chain
}

const verifiedDocuments = new BoundedCache<TdxTcbInfo | TdQeIdentity>(128)

/**
 * Splits, verifies and decodes a signed PCS document; remembered by the digests of document and
 * signing certificate (a pure result: scanning, JSON, schema and one P-256 verify are skipped on a
 * hit). Freshness is checked by the caller at every `now`.
 */
function decodeSigned<T extends TdxTcbInfo | TdQeIdentity>(
  bytes: Uint8Array,
  member: 'tcbInfo' | 'enclaveIdentity',
  what: string,
  signing: ParsedCertificate,
  decode: (body: unknown) => T,
  isKind: (v: TdxTcbInfo | TdQeIdentity) => v is T,
): T {
  const key = `${member}|${createHash('sha256').update(bytes).digest('hex')}|${signing.sha256}`
  const hit = verifiedDocuments.get(key)
  if (hit !== undefined && isKind(hit)) return hit
  const signed = splitSignedJson(bytes, member, what)
  verifySignedJson(signed, signing.publicKey, what)
  const value = decode(signed.body)
  verifiedDocuments.set(key, value)
  return value
}

const isTcbInfo = (v: TdxTcbInfo | TdQeIdentity): v is TdxTcbInfo => 'fmspc' in v
const isQeIdentity = (v: TdxTcbInfo | TdQeIdentity): v is TdQeIdentity => 'isvProdId' in v

/** Forgets verified PCS documents (tests, benchmarks). */
export function clearTdxDocumentCache(): void {
  verifiedDocuments.clear()
}

/**
 * Verifies an Intel TDX DCAP quote (v4, v5; TDX 1.0 and 1.5 bodies) completely and offline, in
 * the order of Intel's quote verification (docs/conventions.md §10: structure, then signatures, then
 * meaning): `parseQuote`; PCK chain → pinned Intel SGX Root CA at `now`; QE report signature by
 * the PCK key; QE report data binds attestation key and QE auth data; quote signature by the
 * attestation key; PCK SGX extensions; Root CA and PCK CRLs when available (required with
 * `requireCrls`); TD_ATTRIBUTES.DEBUG; the event log replayed to RTMR0-3 when given; TCB Info and
 * QE identity (from the evidence, else the collateral lookup) signed by a TCB Signing chain to
 * the pinned root, current at `now`; Intel's TCB evaluation; the status accepted by
 * `acceptedTcbStatuses`.
 * @throws `EvidenceError` with code `evidence-malformed`, `evidence-unsupported`,
 *   `signature-invalid`, `chain-untrusted`, `collateral-missing`, `debug-enabled`,
 *   `event-log-mismatch` or `tcb-below-minimum`
 */
export async function verifyTdxQuote(input: TdxVerifyInput): Promise<TdxVerification> {
  const options = resolveTdxOptions(input.options)
  const lookup = input.lookup ?? NO_COLLATERAL
  const ev = input.collateral ?? {}
  const quote = parseQuote(input.quote)

  const chain = quote.pckChain.map((der, i) => parseIntelCertificate(der, `PCK chain[${i}]`))
  if (chain.length === 2) chain.push(intelRootCertificate())
  const pins = rootPins(options.extraPinnedRoots)
  verifyIntelChain(chain, PCK_CHAIN_NAMES, pins, input.now)
  const [pckCert, pckCaCert, root] = chain
  if (pckCert === undefined || pckCaCert === undefined || root === undefined) throw new EvidenceError('chain-untrusted', 'PCK chain incomplete')
  verifyQeReportSignature(quote, pckCert.publicKey)
  checkQeReportData(quote)
  verifyQuoteSignature(quote, attestationPublicKey(quote))
  const pck = readPckExtensions(pckCert)
  const pckCa: PckCa = pckCaCert.subjectCommonName === INTEL_NAMES.processorCa ? 'processor' : 'platform'

  // Revocation: a listed serial is revoked whatever the CRL's age; only freshness needs `now`.
  const rootCrlBytes = await pick(ev.rootCaCrl, lookup, TDX_COLLATERAL_KINDS.rootCaCrl, ROOT_CA_CRL_KEY)
  const pckCrlBytes = await pick(ev.pckCrl, lookup, TDX_COLLATERAL_KINDS.pckCrl, pckCa)
  const rootCrl = rootCrlBytes === undefined ? undefined : await verifyIntelCrl(rootCrlBytes, root, 'Root CA CRL')
  const pckCrl = pckCrlBytes === undefined ? undefined : await verifyIntelCrl(pckCrlBytes, pckCaCert, 'PCK CRL')
  if (rootCrl !== undefined) checkNotRevokedBy(rootCrl, [pckCaCert])
  if (pckCrl !== undefined) checkNotRevokedBy(pckCrl, [pckCert])
  const crls = [rootCrl, pckCrl]
  const crl = crls.some((c) => c === undefined) ? 'absent' : crls.every((c) => c !== undefined && isIntelCrlCurrent(c, input.now)) ? 'checked' : 'stale'
  if (options.requireCrls && crl !== 'checked') throw new EvidenceError('collateral-missing', `no current Root CA and PCK CRLs (${crl})`)

  if (decodeTdAttributes(quote.body.tdAttributes).debug && !options.allowDebug) {
    throw new EvidenceError('debug-enabled', 'TD_ATTRIBUTES.DEBUG is set: the TD is debuggable')
  }
  const eventLog = input.eventLog === undefined ? undefined : replayTdEventLog(input.eventLog, quote.body)

  const fmspc = toHex(pck.fmspc)
  const tcbInfoBytes = await pick(ev.tcbInfo, lookup, TDX_COLLATERAL_KINDS.tcbInfo, tcbInfoCollateralKey(fmspc))
  const qeIdentityBytes = await pick(ev.qeIdentity, lookup, TDX_COLLATERAL_KINDS.qeIdentity, QE_IDENTITY_KEY)
  const signingBytes = await pick(ev.tcbSigningChain, lookup, TDX_COLLATERAL_KINDS.tcbSigningChain, TCB_SIGNING_CHAIN_KEY)
  if (tcbInfoBytes === undefined) throw new EvidenceError('collateral-missing', `no TDX TCB info for FMSPC ${fmspc}`)
  if (qeIdentityBytes === undefined) throw new EvidenceError('collateral-missing', 'no TD QE identity')
  if (signingBytes === undefined) throw new EvidenceError('collateral-missing', 'no TCB Signing certificate chain')
  const [signing] = verifyTcbSigningChain(signingBytes, options, input.now)
  if (signing === undefined) throw new EvidenceError('chain-untrusted', 'TCB signing chain incomplete')
  if (rootCrl !== undefined) checkNotRevokedBy(rootCrl, [signing])
  const tcbInfo = decodeSigned(tcbInfoBytes, 'tcbInfo', 'TCB info', signing, decodeTcbInfo, isTcbInfo)
  const qeIdentity = decodeSigned(qeIdentityBytes, 'enclaveIdentity', 'QE identity', signing, decodeQeIdentity, isQeIdentity)
  checkCurrent(tcbInfo.issueDate, tcbInfo.nextUpdate, input.now, 'TCB info')
  checkCurrent(qeIdentity.issueDate, qeIdentity.nextUpdate, input.now, 'QE identity')

  const tcb = evaluateTdxTcb(tcbInfo, qeIdentity, pck, quote)
  if (!options.acceptedTcbStatuses.includes(tcb.status)) {
    throw new EvidenceError('tcb-below-minimum', `TCB status ${tcb.status} is not accepted (accepted: ${options.acceptedTcbStatuses.join(', ')})`, {
      extensions: { tcbStatus: tcb.status, advisoryIds: [...tcb.advisoryIds] },
    })
  }
  return { quote, pck, pckCertificate: pckCert, pckCa, tcb, crl, eventLog }
}

/** `verifyTdxQuote`, then `toClaims`. Same guarantees and errors. */
export async function verifyTdxEvidence(input: TdxVerifyInput): Promise<Claims> {
  return toClaims(await verifyTdxQuote(input))
}
