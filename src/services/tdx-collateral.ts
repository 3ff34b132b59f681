/**
 * What `POST /admin/v1/collateral/tdx` accepts: Intel PCS responses exactly as served, each with
 * the issuer chain PCS sends in its response header — TCB info (`TCB-Info-Issuer-Chain`), TD QE
 * identity (`SGX-Enclave-Identity-Issuer-Chain`), a PCK CRL (`SGX-PCK-CRL-Issuer-Chain`) — and
 * the Root CA CRL. The server verifies each at its `now` with the same checks as request-time
 * verification (chains to the pinned Intel SGX Root CA, signatures, documents current), derives
 * kind and key itself (`src/evidence/tdx/collateral.ts`) and stores only what passed.
 */
import { EvidenceError, KeybrokerError } from '../errors.js'
import { fromBase64 } from '../evidence/reader.js'
import {
  crlDer,
  decodeQeIdentity,
  decodeTcbInfo,
  INTEL_NAMES,
  intelRootCertificate,
  parseIntelCertificate,
  QE_IDENTITY_KEY,
  ROOT_CA_CRL_KEY,
  rootPins,
  splitSignedJson,
  TCB_SIGNING_CHAIN_KEY,
  TCB_SIGNING_CHAIN_NAMES,
  TDX_COLLATERAL_KINDS,
  verifyIntelChain,
  verifyIntelCrl,
  verifySignedJson,
} from '../evidence/tdx/index.js'
import { decodePemCertificateList, encodePemCertificate } from '../evidence/tdx/quote/index.js'
import type { ParsedCertificate } from '../evidence/x509-chain.js'
import type { VerifiedCollateral } from './collateral-admin.js'
import type { Services } from './services.js'

export interface SignedDocumentUpload {
  /** The response body, byte for byte (it is signed as sent). */
  readonly body: string
  /** PEM, or the URL-encoded PEM of the response header. */
  readonly issuerChain: string
}

export interface CrlUpload {
  /** base64 DER, PEM, or hex (PCS without `encoding=der`). */
  readonly crl: string
  /** PEM, or URL-encoded PEM: the issuing CA then the root. Optional for the Root CA CRL (Intel's root is built in). */
  readonly issuerChain?: string | undefined
}

export interface TdxCollateralUpload {
  readonly tcbInfo?: SignedDocumentUpload | undefined
  readonly qeIdentity?: SignedDocumentUpload | undefined
  readonly pckCrl?: CrlUpload | undefined
  readonly rootCaCrl?: CrlUpload | undefined
}

const PCK_CA_CHAIN_NAMES: readonly (readonly string[])[] = [[INTEL_NAMES.platformCa, INTEL_NAMES.processorCa], [INTEL_NAMES.root]]
const ROOT_CHAIN_NAMES: readonly (readonly string[])[] = [[INTEL_NAMES.root]]

/** PEM text of an issuer chain; response headers carry it URL-encoded (`-----BEGIN%20CERTIFICATE-----%0A…`). */
function issuerChain(text: string, what: string): ParsedCertificate[] {
  let pem = text
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    try {
      pem = decodeURIComponent(text)
    } catch (cause) {
      throw new EvidenceError('evidence-malformed', `${what}: not PEM or URL-encoded PEM`, { cause })
    }
  }
  const ders = decodePemCertificateList(pem, what)
  if (ders.length > 4) throw new EvidenceError('evidence-malformed', `${what}: more than 4 certificates`)
  return ders.map((der, i) => parseIntelCertificate(der, `${what}[${i}]`))
}

/** A chain without its root (some tools strip it) is completed with the built-in Intel SGX Root CA, which must then be pinned too. */
function withRoot(chain: ParsedCertificate[], length: number): ParsedCertificate[] {
  return chain.length === length - 1 ? [...chain, intelRootCertificate()] : chain
}

function utf8(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'))
}

function current(issueDate: Date, nextUpdate: Date, now: Date, what: string): void {
  if (now.getTime() < issueDate.getTime() || now.getTime() > nextUpdate.getTime()) {
    throw new EvidenceError('collateral-missing', `${what} is not current (issued ${issueDate.toISOString()}, next update ${nextUpdate.toISOString()})`)
  }
}

function chainPem(chain: readonly ParsedCertificate[]): Uint8Array {
  return utf8(chain.map((c) => encodePemCertificate(c.der)).join(''))
}

/**
 * Checks an upload and returns what to store (a TCB info or QE identity brings its TCB Signing
 * chain along, stored under `tdx-tcb-signing-chain`).
 * @throws `bad-request` (not JSON / PEM / a CRL), `evidence-unsupported` (another id or version),
 *   `chain-untrusted` (not chaining to a pinned root at `now`, wrong issuer), `signature-invalid`,
 *   `collateral-missing` (a document that is not current)
 */
export async function verifyTdxUpload(
  s: Pick<Services, 'now' | 'tdxExtraPinnedRoots' | 'tdxPinnedTcbSigningKeys'>,
  upload: TdxCollateralUpload,
): Promise<VerifiedCollateral[]> {
  try {
    return await verifyUpload(s, upload)
  } catch (err) {
    // An upload is not evidence: what does not parse is a bad request.
    if (err instanceof KeybrokerError && err.code === 'evidence-malformed') throw new KeybrokerError('bad-request', err.detail, { cause: err })
    throw err
  }
}

async function verifyUpload(s: Pick<Services, 'now' | 'tdxExtraPinnedRoots' | 'tdxPinnedTcbSigningKeys'>, upload: TdxCollateralUpload): Promise<VerifiedCollateral[]> {
  const now = s.now()
  const pins = rootPins(s.tdxExtraPinnedRoots)
  const out: VerifiedCollateral[] = []
  const signingChains = new Map<string, ParsedCertificate[]>()

  const signedDocument = (doc: SignedDocumentUpload, member: string, what: string): { body: unknown; signing: ParsedCertificate[] } => {
    const chain = withRoot(issuerChain(doc.issuerChain, `${what} issuer chain`), TCB_SIGNING_CHAIN_NAMES.length)
    // As at verification (verify.ts): a pinned TCB Signing key is trusted past its certificate's
    // notAfter (Intel re-certifies the same key); the chain must still reach a pinned root.
    const first = chain[0]
    const pinnedKey = first !== undefined && s.tdxPinnedTcbSigningKeys.includes(first.spkiSha256) ? new Set([first]) : new Set<ParsedCertificate>()
    verifyIntelChain(chain, TCB_SIGNING_CHAIN_NAMES, pins, now, pinnedKey)
    const signed = splitSignedJson(utf8(doc.body), member, what)
    const signing = chain[0]
    if (signing === undefined) throw new EvidenceError('chain-untrusted', `${what}: empty issuer chain`)
    verifySignedJson(signed, signing.publicKey, what)
    signingChains.set(signing.sha256, chain)
    return { body: signed.body, signing: chain }
  }

  if (upload.tcbInfo !== undefined) {
    const { body } = signedDocument(upload.tcbInfo, 'tcbInfo', 'TCB info')
    const t = decodeTcbInfo(body)
    current(t.issueDate, t.nextUpdate, now, 'TCB info')
    out.push({ kind: TDX_COLLATERAL_KINDS.tcbInfo, key: t.fmspc, bytes: utf8(upload.tcbInfo.body), notAfter: t.nextUpdate })
  }
  if (upload.qeIdentity !== undefined) {
    const { body } = signedDocument(upload.qeIdentity, 'enclaveIdentity', 'QE identity')
    const q = decodeQeIdentity(body)
    current(q.issueDate, q.nextUpdate, now, 'QE identity')
    out.push({ kind: TDX_COLLATERAL_KINDS.qeIdentity, key: QE_IDENTITY_KEY, bytes: utf8(upload.qeIdentity.body), notAfter: q.nextUpdate })
  }
  // Both documents normally share one TCB Signing chain; the one valid longest is kept.
  const signing = [...signingChains.values()].sort((a, b) => (b[0]?.notAfter.getTime() ?? 0) - (a[0]?.notAfter.getTime() ?? 0))[0]
  if (signing !== undefined) {
    out.push({ kind: TDX_COLLATERAL_KINDS.tcbSigningChain, key: TCB_SIGNING_CHAIN_KEY, bytes: chainPem(signing), notAfter: signing[0]?.notAfter ?? null })
  }

  if (upload.pckCrl !== undefined) {
    if (upload.pckCrl.issuerChain === undefined) throw new EvidenceError('evidence-malformed', 'PCK CRL: issuerChain is required (SGX-PCK-CRL-Issuer-Chain)')
    const chain = withRoot(issuerChain(upload.pckCrl.issuerChain, 'PCK CRL issuer chain'), PCK_CA_CHAIN_NAMES.length)
    verifyIntelChain(chain, PCK_CA_CHAIN_NAMES, pins, now)
    const ca = chain[0]
    if (ca === undefined) throw new EvidenceError('chain-untrusted', 'PCK CRL: empty issuer chain')
    const der = crlDer(crlBytes(upload.pckCrl.crl), 'PCK CRL')
    const crl = await verifyIntelCrl(der, ca, 'PCK CRL')
    const key = ca.subjectCommonName === INTEL_NAMES.processorCa ? 'processor' : 'platform'
    out.push({ kind: TDX_COLLATERAL_KINDS.pckCrl, key, bytes: der.slice(), notAfter: crl.nextUpdate ?? null })
  }
  if (upload.rootCaCrl !== undefined) {
    const chain = upload.rootCaCrl.issuerChain === undefined ? [intelRootCertificate()] : issuerChain(upload.rootCaCrl.issuerChain, 'Root CA CRL issuer')
    verifyIntelChain(chain, ROOT_CHAIN_NAMES, pins, now)
    const root = chain[0]
    if (root === undefined) throw new EvidenceError('chain-untrusted', 'Root CA CRL: no issuer')
    const der = crlDer(crlBytes(upload.rootCaCrl.crl), 'Root CA CRL')
    const crl = await verifyIntelCrl(der, root, 'Root CA CRL')
    out.push({ kind: TDX_COLLATERAL_KINDS.rootCaCrl, key: ROOT_CA_CRL_KEY, bytes: der.slice(), notAfter: crl.nextUpdate ?? null })
  }
  return out
}

/** A CRL as uploaded: PEM or hex text as is, otherwise base64 of DER. */
function crlBytes(text: string): Uint8Array {
  const trimmed = text.trim()
  if (trimmed.startsWith('-----BEGIN') || /^(?:[0-9a-fA-F]{2})+$/.test(trimmed)) return utf8(trimmed)
  return fromBase64(trimmed, 'crl')
}
