import { createHash, verify as cryptoVerify } from 'node:crypto'
import { childOf } from '../appraisal/index.js'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/types.js'
import { parsePythonJson, pythonCanonicalJson, toJsonValue, type PyJson } from './python-json.js'
import type { SignerKey } from './signer-key.js'
import type { BundleSet } from './bundle-set.js'

/**
 * Automata's signed golden measurement, as `json_sig_tool.py sign` writes it:
 * `{"golden_measurement": {...}, "signature": "<base64>", …}` where the signature is over
 * `json.dumps(golden_measurement, separators=(",", ":"), sort_keys=True).encode("utf-8")`:
 * DER ECDSA P-256 with SHA-256, or RSA PKCS#1 v1.5 with SHA-256. The tool keeps any other
 * top-level member of its input; they are not signed and we ignore them.
 *
 * The document must reach us as its original text (numbers are re-printed as Python would,
 * which `JSON.parse` cannot reproduce): the admin API takes it as a string.
 */
export interface AutomataDocument {
  /** The golden measurement, exactly as parsed. */
  readonly goldenMeasurement: PyJson
  /** The bytes the signature covers. */
  readonly signedBytes: Uint8Array
  readonly signature: Uint8Array
  /** SHA-256 of the signed bytes, lowercase hex: the document's identity in provenance. */
  readonly digest: string
}

export const MAX_AUTOMATA_DOCUMENT = 256 * 1024

/**
 * Parses a json_sig_tool document.
 * @throws KeybrokerError `bundle-malformed` when it is not JSON, lacks either member, or the
 *   signature is not standard base64.
 */
export function parseAutomataDocument(text: Uint8Array | string): AutomataDocument {
  const size = typeof text === 'string' ? text.length : text.byteLength
  if (size > MAX_AUTOMATA_DOCUMENT) throw new KeybrokerError('bundle-malformed', `document larger than ${MAX_AUTOMATA_DOCUMENT} bytes`)
  const doc = parsePythonJson(text)
  if (doc.kind !== 'object') throw new KeybrokerError('bundle-malformed', 'document: a JSON object expected')
  const gm = doc.entries.get('golden_measurement')
  const sig = doc.entries.get('signature')
  if (gm === undefined || sig === undefined || sig.kind !== 'string') {
    throw new KeybrokerError('bundle-malformed', 'document: needs "golden_measurement" and a string "signature"')
  }
  const signature = Buffer.from(sig.value, 'base64')
  // Canonical base64 only: a string that decodes to the same bytes in two spellings would let a
  // changed document keep a valid signature.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(sig.value) || signature.toString('base64') !== sig.value) {
    throw new KeybrokerError('bundle-malformed', 'signature: canonical standard base64 expected')
  }
  const signedBytes = new TextEncoder().encode(pythonCanonicalJson(gm))
  return {
    goldenMeasurement: gm,
    signedBytes,
    signature: new Uint8Array(signature),
    digest: createHash('sha256').update(signedBytes).digest('hex'),
  }
}

/** True when `signer` signed the document (ECDSA P-256 DER or RSA PKCS#1 v1.5, SHA-256). */
export function verifyAutomataSignature(doc: AutomataDocument, signer: SignerKey): boolean {
  const type = signer.key.asymmetricKeyType
  if (type !== 'ec' && type !== 'rsa') return false
  // node:crypto answers false (it does not throw) for a signature that is not even DER.
  return cryptoVerify('sha256', doc.signedBytes, type === 'ec' ? { key: signer.key, dsaEncoding: 'der' } : signer.key, doc.signature)
}

/**
 * Verifies the document against the registered Automata signers (the first that verifies).
 * @throws KeybrokerError `bundle-signer-unknown` when no signer is registered;
 *   `bundle-signature-invalid` when none of them signed it.
 */
export function verifyAutomataDocument(doc: AutomataDocument, signers: readonly SignerKey[]): SignerKey {
  if (signers.length === 0) throw new KeybrokerError('bundle-signer-unknown', 'no automata signer is registered (POST /admin/v1/signers)')
  const signer = signers.find((s) => verifyAutomataSignature(doc, s))
  if (signer === undefined) throw new KeybrokerError('bundle-signature-invalid', 'the signature does not verify with any registered automata signer')
  return signer
}

/**
 * Maps a golden measurement to a reference-value set. The shape of the agent's JSON is not
 * published; this follows the on-chain `GoldenMeasurement` struct of
 * automata-network/automata-tee-workload-measurement (`LibTEE.sol`), which the off-chain JSON
 * mirrors: `snp.measurement`; `tdx.mrtd|mrseam|rtmr0..3`; `pcrs: [{index, pcr}]` (SHA-256 bank;
 * a zero PCR means "not measured" there and is skipped). Byte values may be hex (optionally
 * `0x`-prefixed) or standard base64. Anything else in the document is kept only in its digest.
 *
 * A golden measurement describes what the agent's collaterals show, so the set is for `automata`
 * evidence (the TEE measurement is its value, the PCRs and TDX registers expected claims) unless
 * the importer names another type (e.g. `snp`, to hold plain SNP evidence of the same image to
 * the same measurement).
 *
 * @throws KeybrokerError `bundle-malformed` when no measurement is recognized.
 */
export function mapGoldenMeasurement(doc: AutomataDocument, name: string, evidenceType?: string): BundleSet {
  const gm = toJsonValue(doc.goldenMeasurement)
  const snp = member(gm, 'snp')
  const tdx = member(gm, 'tdx')
  const snpMeasurement = bytesOf(member(snp, 'measurement'), 48)
  const mrtd = bytesOf(member(tdx, 'mrtd'), 48)
  const pcrs = pcrExpectations(member(gm, 'pcrs'))
  const expect: JsonValue[] = [...pcrs]
  let measurement: string | undefined
  if (snpMeasurement !== undefined) {
    measurement = snpMeasurement
  } else if (mrtd !== undefined) {
    measurement = mrtd
    for (const [field, claim] of [['mrseam', 'mrSeam'], ['rtmr0', 'rtmr0'], ['rtmr1', 'rtmr1'], ['rtmr2', 'rtmr2'], ['rtmr3', 'rtmr3']] as const) {
      const v = bytesOf(member(tdx, field), 48)
      if (v !== undefined) expect.push({ claim, equals: v })
    }
  } else if (pcrs.length === 0) {
    const keys = gm !== null && typeof gm === 'object' && !Array.isArray(gm) ? Object.keys(gm).slice(0, 10).join(', ') : typeof gm
    throw new KeybrokerError('bundle-malformed', `golden_measurement: no snp.measurement, tdx.mrtd or pcrs found (has: ${keys || 'nothing'})`)
  }
  return {
    name,
    evidenceType: evidenceType ?? 'automata',
    allowDebug: false,
    expect,
    values: measurement === undefined ? [] : [{ measurement }],
  }
}

const member = childOf

/** Hex (optionally 0x) or standard base64 of exactly `size` bytes → lowercase hex. */
function bytesOf(v: JsonValue | undefined, size: number): string | undefined {
  if (typeof v !== 'string') return undefined
  const hex = v.startsWith('0x') || v.startsWith('0X') ? v.slice(2) : v
  if (/^[0-9a-fA-F]+$/.test(hex) && hex.length === size * 2) return hex.toLowerCase()
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(v) && v.length % 4 === 0) {
    const bytes = Buffer.from(v, 'base64')
    if (bytes.byteLength === size) return bytes.toString('hex')
  }
  throw new KeybrokerError('bundle-malformed', `golden_measurement: a ${size}-byte value is neither hex nor base64 of that size`)
}

function pcrExpectations(v: JsonValue | undefined): JsonValue[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new KeybrokerError('bundle-malformed', 'golden_measurement.pcrs: a list expected')
  const out: JsonValue[] = []
  for (const entry of v) {
    const index = member(entry, 'index')
    const value = bytesOf(member(entry, 'pcr'), 32)
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 23 || value === undefined) {
      throw new KeybrokerError('bundle-malformed', 'golden_measurement.pcrs: entries {index: 0..23, pcr: 32 bytes}')
    }
    if (/^0+$/.test(value)) continue
    out.push({ claim: `pcr.sha256.${index}`, equals: value })
  }
  return out
}
