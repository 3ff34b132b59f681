/**
 * TCG event logs: the crypto-agile format (TCG PC Client Platform Firmware Profile rev. 1.06,
 * section 10.2: a TCG_PCClientPCREvent header whose data is the "Spec ID Event03"
 * TCG_EfiSpecIDEvent, then TCG_PCR_EVENT2 records) and the legacy SHA-1 format (TCG 1.2:
 * TCG_PCClientPCREvent records only). Used for UEFI TPM logs and for the confidential-computing
 * event log (CCEL, the same format with measurement-register indices instead of PCRs).
 *
 * Firmware hands over a fixed-size area: after the last event it is filled with zeros (most
 * CCELs) or with 0xFF (OVMF's, like erased flash), so parsing stops at the first record boundary
 * past which every byte is 0x00, or every byte is 0xFF. Every length is checked
 * against the remaining bytes; nothing allocates from an unchecked length.
 */
import { EvidenceError } from '../../errors.js'
import { ByteReader, isZero } from '../reader.js'
import { DIGEST_ALGORITHMS, EV_NO_ACTION, TPM_ALG } from './event-types.js'

export interface SpecIdAlgorithm {
  readonly algorithmId: number
  readonly digestSize: number
}

/** TCG_EfiSpecIDEvent (PFP section 10.4.5.1). */
export interface SpecIdEvent {
  readonly platformClass: number
  readonly specVersionMinor: number
  readonly specVersionMajor: number
  readonly specErrata: number
  readonly uintnSize: number
  readonly algorithms: readonly SpecIdAlgorithm[]
  readonly vendorInfo: Uint8Array
}

export interface EventDigest {
  readonly algorithmId: number
  readonly digest: Uint8Array
}

export interface TcgEvent {
  /** Position in the log: 0 is the header event of a crypto-agile log. */
  readonly sequence: number
  /** Byte offset of the record in the log. */
  readonly offset: number
  /** PCR index (TPM) or measurement-register index (CCEL). */
  readonly pcrIndex: number
  readonly eventType: number
  readonly digests: readonly EventDigest[]
  readonly data: Uint8Array
}

export interface TcgEventLog {
  readonly format: 'crypto-agile' | 'sha1'
  /** Crypto-agile logs only. */
  readonly specId: SpecIdEvent | undefined
  /** Every record including the header event (sequence 0), in log order. */
  readonly events: readonly TcgEvent[]
  /** Bytes consumed by records; the rest of the input is zero padding. */
  readonly length: number
}

export interface ParseEventLogOptions {
  /** Most records accepted (default 100,000). */
  readonly maxEvents?: number
}

const SPEC_ID_SIGNATURE = 'Spec ID Event03\0'
const SHA1_SIZE = 20

function malformed(detail: string): EvidenceError {
  return new EvidenceError('evidence-malformed', `event log: ${detail}`)
}

/** Length of `bytes` without its trailing run of `fill` bytes. */
function lengthWithout(bytes: Uint8Array, fill: number): number {
  let i = bytes.byteLength
  while (i > 0 && bytes[i - 1] === fill) i--
  return i
}

function parseSpecId(data: Uint8Array): SpecIdEvent | undefined {
  if (data.byteLength < SPEC_ID_SIGNATURE.length || Buffer.from(data.subarray(0, 16)).toString('latin1') !== SPEC_ID_SIGNATURE) return undefined
  const r = new ByteReader(data, 16)
  const platformClass = r.u32le('SpecID platformClass')
  const specVersionMinor = r.u8('SpecID specVersionMinor')
  const specVersionMajor = r.u8('SpecID specVersionMajor')
  const specErrata = r.u8('SpecID specErrata')
  const uintnSize = r.u8('SpecID uintnSize')
  const count = r.u32le('SpecID numberOfAlgorithms')
  if (count === 0 || count > 16) throw malformed(`SpecID lists ${count} algorithms`)
  const algorithms: SpecIdAlgorithm[] = []
  for (let i = 0; i < count; i++) {
    const algorithmId = r.u16le('SpecID algorithmId')
    const digestSize = r.u16le('SpecID digestSize')
    const known = DIGEST_ALGORITHMS.get(algorithmId)
    if (known !== undefined && known.size !== digestSize) throw malformed(`SpecID gives algorithm 0x${algorithmId.toString(16)} size ${digestSize}`)
    if (digestSize === 0 || digestSize > 128) throw malformed(`SpecID digest size ${digestSize}`)
    if (algorithms.some((a) => a.algorithmId === algorithmId)) throw malformed(`SpecID lists algorithm 0x${algorithmId.toString(16)} twice`)
    algorithms.push({ algorithmId, digestSize })
  }
  const vendorInfo = r.bytes(r.u8('SpecID vendorInfoSize'), 'SpecID vendorInfo')
  r.end('SpecID event')
  return { platformClass, specVersionMinor, specVersionMajor, specErrata, uintnSize, algorithms, vendorInfo }
}

/** TCG_PCClientPCREvent: pcrIndex, eventType, SHA-1 digest, eventDataSize, event. */
function readSha1Record(r: ByteReader, sequence: number): TcgEvent {
  const offset = r.position
  const pcrIndex = r.u32le('pcrIndex')
  const eventType = r.u32le('eventType')
  const digest = r.bytes(SHA1_SIZE, 'digest')
  const data = r.bytes(r.u32le('eventDataSize'), 'event data')
  return { sequence, offset, pcrIndex, eventType, digests: [{ algorithmId: TPM_ALG.sha1, digest }], data }
}

/** TCG_PCR_EVENT2: pcrIndex, eventType, TPML_DIGEST_VALUES, eventSize, event. */
function readAgileRecord(r: ByteReader, sequence: number, specId: SpecIdEvent): TcgEvent {
  const offset = r.position
  const pcrIndex = r.u32le('pcrIndex')
  const eventType = r.u32le('eventType')
  const count = r.u32le('digest count')
  if (count > specId.algorithms.length) throw malformed(`event ${sequence}: ${count} digests, the header lists ${specId.algorithms.length} algorithms`)
  const digests: EventDigest[] = []
  for (let i = 0; i < count; i++) {
    const algorithmId = r.u16le('digest algorithm')
    const alg = specId.algorithms.find((a) => a.algorithmId === algorithmId)
    if (alg === undefined) throw malformed(`event ${sequence}: digest algorithm 0x${algorithmId.toString(16)} not in the header`)
    if (digests.some((d) => d.algorithmId === algorithmId)) throw malformed(`event ${sequence}: algorithm 0x${algorithmId.toString(16)} twice`)
    digests.push({ algorithmId, digest: r.bytes(alg.digestSize, 'digest') })
  }
  const data = r.bytes(r.u32le('event size'), 'event data')
  return { sequence, offset, pcrIndex, eventType, digests, data }
}

/**
 * Parses a TCG event log (crypto-agile or SHA-1 format). Records are read until the input ends
 * or only 0x00 or only 0xFF bytes remain.
 * @throws `evidence-malformed` (truncated record, bad header, unknown digest algorithm, too many events)
 */
export function parseTcgEventLog(bytes: Uint8Array, options: ParseEventLogOptions = {}): TcgEventLog {
  const maxEvents = options.maxEvents ?? 100_000
  const end = Math.min(lengthWithout(bytes, 0x00), lengthWithout(bytes, 0xff))
  if (end === 0) throw malformed('empty')
  const r = new ByteReader(bytes)
  const header = readSha1Record(r, 0)
  const specId = header.eventType === EV_NO_ACTION ? parseSpecId(header.data) : undefined
  // PFP puts the header in PCR 0; OVMF's CCEL puts it in MR index 1 (its PCR 0 mapping), so only the digest is checked.
  if (specId !== undefined && !isZero(header.digests[0]?.digest ?? new Uint8Array())) throw malformed('Spec ID header event digest must be zero')
  const events: TcgEvent[] = [header]
  while (r.position < end) {
    if (events.length >= maxEvents) throw malformed(`more than ${maxEvents} events`)
    events.push(specId === undefined ? readSha1Record(r, events.length) : readAgileRecord(r, events.length, specId))
  }
  return { format: specId === undefined ? 'sha1' : 'crypto-agile', specId, events, length: r.position }
}
