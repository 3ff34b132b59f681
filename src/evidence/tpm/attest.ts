/**
 * TPMS_ATTEST of a quote (TPM 2.0 Library Part 2 rev. 1.59, §10.12.12 TPMS_ATTEST, §10.12.4
 * TPMS_QUOTE_INFO, §10.11.1 TPMS_CLOCK_INFO), big-endian:
 *
 * | field           | type                | bound                          |
 * |-----------------|---------------------|--------------------------------|
 * | magic           | TPM_GENERATED (u32) | must be TPM_GENERATED_VALUE    |
 * | type            | TPMI_ST_ATTEST (u16)| TPM_ST_ATTEST_QUOTE only       |
 * | qualifiedSigner | TPM2B_NAME          | ≤ sizeof(TPMU_NAME) = 66       |
 * | extraData       | TPM2B_DATA          | ≤ sizeof(TPMT_HA) = 66         |
 * | clockInfo       | u64 clock, u32 resetCount, u32 restartCount, TPMI_YES_NO safe | safe ∈ {0,1} |
 * | firmwareVersion | u64                 |                                |
 * | attested.quote  | TPML_PCR_SELECTION, TPM2B_DIGEST pcrDigest | ≤ 64    |
 *
 * Nothing here is trusted until the signature over these exact bytes verifies.
 */
import { EvidenceError } from '../../errors.js'
import { ByteReader } from '../reader.js'
import { MAX_DIGEST_SIZE, TPM_GENERATED_VALUE, TPM_ST } from './algorithms.js'
import { readPcrSelection, readTpm2b, type PcrBankSelection } from './marshal.js'

/** sizeof(TPMT_HA): a hash algorithm id and the largest digest; bounds TPM2B_NAME and TPM2B_DATA. */
export const TPMT_HA_SIZE = 2 + MAX_DIGEST_SIZE
/** A quote is far smaller; anything larger is refused before parsing. */
export const MAX_ATTEST_SIZE = 1024

export interface TpmClockInfo {
  /** Milliseconds the TPM has been powered since it was last cleared (u64). */
  readonly clock: bigint
  readonly resetCount: number
  readonly restartCount: number
  /** TPMI_YES_NO: the clock has not gone back since it was last reported. */
  readonly safe: boolean
}

/** A structurally valid TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE. */
export interface TpmQuoteAttest {
  readonly magic: number
  readonly type: number
  /** TPM2B_NAME of the signing key, qualified by its parents (not recomputable without them). */
  readonly qualifiedSigner: Uint8Array
  /** The caller's qualifying data (keybroker: the first 32 bytes of the binding). */
  readonly extraData: Uint8Array
  readonly clockInfo: TpmClockInfo
  /** Vendor-defined firmware version (u64); obfuscated for keys outside the endorsement/platform hierarchies. */
  readonly firmwareVersion: bigint
  readonly pcrSelect: readonly PcrBankSelection[]
  readonly pcrDigest: Uint8Array
}

/**
 * Parses a TPMS_ATTEST that must be a quote, checking every size and that nothing trails it.
 * @throws `evidence-malformed` (sizes, magic, `safe` not 0/1, trailing bytes);
 *   `evidence-unsupported` (another attestation type, an unknown PCR bank)
 */
export function parseQuoteAttest(bytes: Uint8Array): TpmQuoteAttest {
  if (bytes.byteLength > MAX_ATTEST_SIZE) throw new EvidenceError('evidence-malformed', `quote: ${bytes.byteLength} bytes is too large`)
  const r = new ByteReader(bytes)
  const magic = r.u32be('quote.magic')
  if (magic !== TPM_GENERATED_VALUE) throw new EvidenceError('evidence-malformed', 'quote: magic is not TPM_GENERATED_VALUE')
  const type = r.u16be('quote.type')
  if (type !== TPM_ST.attestQuote) {
    throw new EvidenceError('evidence-unsupported', `quote: attestation type 0x${type.toString(16)} is not TPM_ST_ATTEST_QUOTE`)
  }
  const qualifiedSigner = readTpm2b(r, 'quote.qualifiedSigner', TPMT_HA_SIZE)
  const extraData = readTpm2b(r, 'quote.extraData', TPMT_HA_SIZE)
  const clock = r.u64be('quote.clockInfo.clock')
  const resetCount = r.u32be('quote.clockInfo.resetCount')
  const restartCount = r.u32be('quote.clockInfo.restartCount')
  const safe = r.u8('quote.clockInfo.safe')
  if (safe > 1) throw new EvidenceError('evidence-malformed', 'quote.clockInfo.safe: not a TPMI_YES_NO')
  const firmwareVersion = r.u64be('quote.firmwareVersion')
  const pcrSelect = readPcrSelection(r, 'quote.pcrSelect')
  const pcrDigest = readTpm2b(r, 'quote.pcrDigest', MAX_DIGEST_SIZE)
  r.end('quote')
  return {
    magic,
    type,
    qualifiedSigner,
    extraData,
    clockInfo: { clock, resetCount, restartCount, safe: safe === 1 },
    firmwareVersion,
    pcrSelect,
    pcrDigest,
  }
}
