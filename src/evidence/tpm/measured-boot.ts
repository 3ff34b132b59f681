/**
 * Measured boot: the TCG PC Client event log (src/evidence/tcg-event-log/) replayed in every bank
 * that both the log and the quote carry; each PCR the log extends and the quote covers must
 * equal the quoted value. Only events of PCRs verified that way reach the claims.
 */
import { EvidenceError } from '../../errors.js'
import { equalBytes, fromHex } from '../reader.js'
import {
  describeEvent,
  EV_NO_ACTION,
  parseTcgEventLog,
  replayTcgEventLog,
  type EventDescription,
} from '../tcg-event-log/index.js'
import { hashByName, type TpmHashName } from './algorithms.js'

export interface MeasuredBoot {
  readonly format: 'crypto-agile' | 'sha1'
  /** Banks replayed and compared. */
  readonly banks: readonly TpmHashName[]
  /** PCRs whose replay equals the quoted value. */
  readonly verifiedPcrs: readonly number[]
  /** Events of the verified PCRs, in log order (capped at `maxEvents`). */
  readonly events: readonly EventDescription[]
  /** Events of PCRs the quote does not cover: in the log, unverified, not in the claims. */
  readonly unverifiedEvents: number
  /** SecureBoot as the EV_EFI_VARIABLE_DRIVER_CONFIG event of PCR 7 records it (undefined when absent or PCR 7 unverified). */
  readonly secureBoot: boolean | undefined
}

const EFI_GLOBAL_VARIABLE = '8be4df61-93ca-11d2-aa0d-00e098032b8c'

/**
 * @throws `evidence-malformed` (the log does not parse); `event-log-mismatch` (no bank or PCR in
 *   common with the quote, or a replayed PCR differs from the quoted one)
 */
export function checkEventLog(
  bytes: Uint8Array,
  quoted: ReadonlyMap<TpmHashName, ReadonlyMap<number, string>>,
  maxEvents: number,
): MeasuredBoot {
  const log = parseTcgEventLog(bytes)
  const logAlgs = log.specId?.algorithms.map((a) => a.algorithmId) ?? [hashByName('sha1')!.alg]
  const banks: TpmHashName[] = []
  const verified = new Set<number>()
  for (const [bankName, values] of quoted) {
    const hash = hashByName(bankName)!
    if (!logAlgs.includes(hash.alg)) continue
    banks.push(bankName)
    const replayed = replayTcgEventLog(log, hash.alg)
    for (const [pcr, value] of replayed) {
      const expected = values.get(pcr)
      if (expected === undefined) continue
      if (!equalBytes(value, fromHex(expected, 'pcr'))) {
        throw new EvidenceError('event-log-mismatch', `event log replay does not give the quoted ${bankName} PCR ${pcr}`)
      }
      verified.add(pcr)
    }
  }
  if (banks.length === 0) throw new EvidenceError('event-log-mismatch', 'the event log has no digest bank the quote covers')
  if (verified.size === 0) throw new EvidenceError('event-log-mismatch', 'the quote covers no PCR the event log extends')
  const bank = hashByName(banks[0]!)!
  const extending = log.events.filter((e) => e.eventType !== EV_NO_ACTION)
  const kept = extending.filter((e) => verified.has(e.pcrIndex)).map((e) => describeEvent(e, bank.alg))
  return {
    format: log.format,
    banks,
    verifiedPcrs: [...verified].sort((a, b) => a - b),
    events: kept.slice(0, maxEvents),
    unverifiedEvents: extending.length - kept.length,
    secureBoot: secureBootOf(kept),
  }
}

function secureBootOf(events: readonly EventDescription[]): boolean | undefined {
  const e = events.find(
    (d) =>
      d.pcrIndex === 7 &&
      d.type === 'EV_EFI_VARIABLE_DRIVER_CONFIG' &&
      d.digestMatchesData &&
      d.details['variableName'] === 'SecureBoot' &&
      d.details['variableGuid'] === EFI_GLOBAL_VARIABLE,
  )
  if (e === undefined) return undefined
  return e.details['data'] === '01'
}
