/**
 * Wire-form `tdx` evidence from a file, for `keybroker evidence verify --type tdx QUOTE
 * [--collateral DIR]`: the raw quote exactly as configfs-tsm `outblob` holds it. Collateral
 * comes from the collateral directory / store (`collateral.ts`), not from side files.
 */
import { EvidenceError } from '../../errors.js'
import type { EvidenceFiles } from '../types.js'

/** Builds `{type: 'tdx', quote}` (base64) without judging the bytes. @throws `evidence-malformed` for `--certs` */
export function tdxEvidenceFromFiles(quote: Uint8Array, files: EvidenceFiles): { type: 'tdx'; quote: string } {
  if (files.certs.length > 0) {
    throw new EvidenceError('evidence-malformed', 'tdx: the PCK chain is inside the quote; pass collateral with --collateral DIR, not --certs')
  }
  return { type: 'tdx', quote: Buffer.from(quote.buffer, quote.byteOffset, quote.byteLength).toString('base64') }
}
