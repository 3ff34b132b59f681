/**
 * The TD event log (ACPI CCEL table data): a TCG crypto-agile log whose register index is the
 * CC measurement register (UEFI EFI_CC_MEASUREMENT_PROTOCOL, TDX: 0 = MRTD, 1-4 = RTMR0-3).
 * Replayed with SHA-384 from zero it must give the quote's RTMRs exactly; then its events are
 * facts about the boot that reference values can name.
 */
import { EvidenceError } from '../../errors.js'
import { equalBytes, toHex } from '../reader.js'
import { EV_NO_ACTION, eventTypeName, parseTcgEventLog, replayTcgEventLog, TPM_ALG, type TcgEventLog } from '../tcg-event-log/index.js'
import type { JsonValue } from '../types.js'
import type { TdReportBody } from './quote/parse.js'

/** Event data up to this size is copied into the claims as hex; larger data only by digest. */
export const MAX_EVENT_DATA_IN_CLAIMS = 1024

export interface RtmrEvent {
  /** 0-3. */
  readonly rtmr: number
  readonly eventType: number
  /** SHA-384 digest extended into the RTMR. */
  readonly digest: Uint8Array
  readonly data: Uint8Array
}

export interface ReplayedTdEventLog {
  readonly events: readonly RtmrEvent[]
}

/**
 * Parses a CCEL, replays its SHA-384 digests into RTMR0-3 and compares them with the quote's.
 * @throws `evidence-malformed` (log structure, no SHA-384 bank, an extension of MRTD or of an
 *   index above RTMR3), `event-log-mismatch` (a replayed RTMR differs from the quote's; the
 *   detail names the first one)
 */
export function replayTdEventLog(bytes: Uint8Array, body: TdReportBody): ReplayedTdEventLog {
  const log: TcgEventLog = parseTcgEventLog(bytes)
  if (log.format !== 'crypto-agile' || !(log.specId?.algorithms ?? []).some((a) => a.algorithmId === TPM_ALG.sha384)) {
    throw new EvidenceError('evidence-malformed', 'event log: not a crypto-agile log with SHA-384 digests')
  }
  const events: RtmrEvent[] = []
  for (const e of log.events.slice(1)) {
    if (e.eventType === EV_NO_ACTION) continue
    if (e.pcrIndex < 1 || e.pcrIndex > 4) {
      throw new EvidenceError('evidence-malformed', `event log: event ${e.sequence} extends measurement register ${e.pcrIndex} (only 1-4, RTMR0-3)`)
    }
    const digest = e.digests.find((d) => d.algorithmId === TPM_ALG.sha384)?.digest
    if (digest === undefined) throw new EvidenceError('evidence-malformed', `event log: event ${e.sequence} has no SHA-384 digest`)
    events.push({ rtmr: e.pcrIndex - 1, eventType: e.eventType, digest, data: e.data })
  }
  const replayed = replayTcgEventLog(log, TPM_ALG.sha384, { startupLocality: false })
  for (let i = 0; i < 4; i++) {
    const value = replayed.get(i + 1) ?? new Uint8Array(48)
    if (!equalBytes(value, body.rtmr[i] ?? new Uint8Array())) {
      throw new EvidenceError('event-log-mismatch', `event log replay does not give the quote's RTMR${i}`)
    }
  }
  return { events }
}

/** The replayed events as JSON claims: RTMR index, event type (and its name), digest, small event data. */
export function eventLogClaims(log: ReplayedTdEventLog): JsonValue[] {
  return log.events.map((e) => ({
    rtmr: e.rtmr,
    eventType: e.eventType,
    eventTypeName: eventTypeName(e.eventType),
    digest: toHex(e.digest),
    dataSize: e.data.byteLength,
    ...(e.data.byteLength <= MAX_EVENT_DATA_IN_CLAIMS ? { data: toHex(e.data) } : {}),
  }))
}
