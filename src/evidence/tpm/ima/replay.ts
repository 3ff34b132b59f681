/**
 * Replaying an IMA measurement list into PCR values, one bank at a time: every entry extends its
 * PCR (normally 10) with its template digest in that bank's algorithm, all-ones for a violation
 * (Linux ≥ 5.1 `ima_pcr_extend` with per-bank template digests; older kernels extended non-SHA-1
 * banks with the zero-padded SHA-1 digest, which this does not reproduce).
 */
import { createHash } from 'node:crypto'
import type { TpmHash } from '../algorithms.js'
import { templateDigest, type ImaEntry } from './templates.js'

export function replayIma(entries: readonly ImaEntry[], hash: TpmHash): Map<number, Uint8Array> {
  const pcrs = new Map<number, Uint8Array>()
  for (const entry of entries) {
    const current = pcrs.get(entry.pcr) ?? new Uint8Array(hash.size)
    const digest = templateDigest(entry, hash.name, hash.size)
    pcrs.set(entry.pcr, new Uint8Array(createHash(hash.name).update(current).update(digest).digest()))
  }
  return pcrs
}
