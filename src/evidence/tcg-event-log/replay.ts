import { createHash } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { DIGEST_ALGORITHMS, EV_NO_ACTION } from './event-types.js'
import type { TcgEventLog } from './parse.js'

const STARTUP_LOCALITY = 'StartupLocality\0'

export interface ReplayOptions {
  /**
   * Honour a StartupLocality EV_NO_ACTION event in PCR 0 (PFP section 10.4.5.3: PCR 0 then
   * starts as zeros ending in the locality byte). Default true; CCEL logs carry none.
   */
  readonly startupLocality?: boolean
}

/**
 * Replays `log` in one digest bank: for every event except EV_NO_ACTION, register =
 * H(register ‖ digest), each register starting at zero. Returns the registers the log extends,
 * by index (PCR or measurement-register index).
 * @throws `evidence-unsupported` (unknown algorithm), `evidence-malformed` (an extending event
 *   without a digest of that algorithm)
 */
export function replayTcgEventLog(log: TcgEventLog, algorithmId: number, options: ReplayOptions = {}): Map<number, Uint8Array> {
  const alg = DIGEST_ALGORITHMS.get(algorithmId)
  if (alg === undefined) throw new EvidenceError('evidence-unsupported', `event log: digest algorithm 0x${algorithmId.toString(16)}`)
  const registers = new Map<number, Uint8Array>()
  for (const event of log.events) {
    if (event.eventType === EV_NO_ACTION) {
      const isLocality =
        options.startupLocality !== false &&
        event.pcrIndex === 0 &&
        event.data.byteLength === STARTUP_LOCALITY.length + 1 &&
        Buffer.from(event.data.subarray(0, STARTUP_LOCALITY.length)).toString('latin1') === STARTUP_LOCALITY
      if (isLocality && !registers.has(0)) {
        const initial = new Uint8Array(alg.size)
        initial[alg.size - 1] = event.data[STARTUP_LOCALITY.length] ?? 0
        registers.set(0, initial)
      }
      continue
    }
    const digest = event.digests.find((d) => d.algorithmId === algorithmId)?.digest
    if (digest === undefined) throw new EvidenceError('evidence-malformed', `event log: event ${event.sequence} has no ${alg.name} digest`)
    const current = registers.get(event.pcrIndex) ?? new Uint8Array(alg.size)
    registers.set(event.pcrIndex, new Uint8Array(createHash(alg.hash).update(current).update(digest).digest()))
  }
  return registers
}
