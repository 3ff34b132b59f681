import { createHash } from 'node:crypto'
import { calculateJwkThumbprint, type JWK } from 'jose'

/** Domain-separation prefix of the keybroker v1 binding. */
const BINDING_PREFIX = 'keybroker-v1:'
const NONCE_TEXT = /^[A-Za-z0-9_-]{1,512}$/

/**
 * The report data a client puts in its hardware report: 64 bytes,
 * `SHA-512(ASCII("keybroker-v1:" + nonce + ":" + thumbprint))` with `thumbprint` the RFC 7638
 * SHA-256 thumbprint (base64url) of the public JWK.
 * @throws TypeError if `nonce` is not 1–512 base64url characters.
 */
export async function reportDataFor(nonce: string, key: { readonly publicJwk: JWK }): Promise<Uint8Array> {
  if (!NONCE_TEXT.test(nonce)) throw new TypeError('nonce must be 1-512 base64url characters')
  const thumbprint = await calculateJwkThumbprint(key.publicJwk, 'sha256')
  return new Uint8Array(createHash('sha512').update(`${BINDING_PREFIX}${nonce}:${thumbprint}`, 'ascii').digest())
}

/** The report data in the encodings the evidence types and their tools take. */
export interface ReportDataEncodings {
  /** All 64 bytes, lowercase hex (`snpguest report --random` replaced by a file, TDX tools). */
  readonly hex: string
  /** All 64 bytes, standard base64 (configfs-tsm `inblob` via `base64 -d`). */
  readonly base64: string
  /** All 64 bytes, base64url without padding (the `sample` type's `reportData`). */
  readonly base64url: string
  /** The first 32 bytes, hex: a TPM2_Quote's qualifying data (`tpm2_quote -q`). */
  readonly tpmQualifyingDataHex: string
  /**
   * The agent nonce: base64url of the first 32 bytes (43 characters), the nonce to hand an
   * agent that binds its own (Automata cvm-agent, go-tpm-tools, Cosmian).
   */
  readonly agentNonce: string
}

/**
 * Encodes 64 bytes of report data every way an evidence type needs.
 * @throws TypeError if `reportData` is not 64 bytes.
 */
export function encodeReportData(reportData: Uint8Array): ReportDataEncodings {
  if (reportData.byteLength !== 64) throw new TypeError('report data must be 64 bytes')
  const all = Buffer.from(reportData.buffer, reportData.byteOffset, reportData.byteLength)
  const first32 = all.subarray(0, 32)
  return {
    hex: all.toString('hex'),
    base64: all.toString('base64'),
    base64url: all.toString('base64url'),
    tpmQualifyingDataHex: first32.toString('hex'),
    agentNonce: first32.toString('base64url'),
  }
}

/**
 * Evidence of the development-only `sample` type (unsigned: a keybroker accepts it only when
 * `KEYBROKER_ALLOW_SAMPLE_EVIDENCE=1`, never in production mode).
 * @param measurement hex (1–64 bytes), compared with the reference values
 */
export function sampleEvidence(
  reportData: Uint8Array,
  measurement: string,
  options: { readonly debug?: boolean } = {},
): { readonly type: 'sample'; readonly measurement: string; readonly reportData: string; readonly debug: boolean } {
  return { type: 'sample', measurement, reportData: encodeReportData(reportData).base64url, debug: options.debug ?? false }
}
