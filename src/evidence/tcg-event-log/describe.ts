/**
 * Decoded event details for claims (TCG PC Client PFP rev. 1.05 §10.2.x event data structures;
 * UEFI 2.10 §10.3 device paths). Details are descriptive only: a policy may rely on them where
 * `digestMatchesData` is true (the extended digest is the hash of exactly this data, as for
 * EV_SEPARATOR, EV_EFI_ACTION and the EFI variable events) or where the replay of the digests
 * alone is what it checks (e.g. EV_EFI_BOOT_SERVICES_APPLICATION, whose digest is the
 * Authenticode hash of the image, not of the event data). Decoding never throws: data that does
 * not decode gets `details: {undecodable}`.
 */
import { createHash } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { ByteReader, toHex } from '../reader.js'
import type { JsonValue } from '../types.js'
import { DIGEST_ALGORITHMS, eventTypeName } from './event-types.js'
import type { TcgEvent } from './parse.js'

/** The event types described here (PFP rev. 1.05 §10.4.1, table 9). */
const EV = {
  POST_CODE: 0x1,
  NO_ACTION: 0x3,
  SEPARATOR: 0x4,
  ACTION: 0x5,
  EVENT_TAG: 0x6,
  S_CRTM_VERSION: 0x8,
  COMPACT_HASH: 0xc,
  IPL: 0xd,
  NONHOST_INFO: 0x11,
  OMIT_BOOT_DEVICE_EVENTS: 0x12,
  EFI_VARIABLE_DRIVER_CONFIG: 0x80000001,
  EFI_VARIABLE_BOOT: 0x80000002,
  EFI_BOOT_SERVICES_APPLICATION: 0x80000003,
  EFI_BOOT_SERVICES_DRIVER: 0x80000004,
  EFI_RUNTIME_SERVICES_DRIVER: 0x80000005,
  EFI_ACTION: 0x80000007,
  EFI_PLATFORM_FIRMWARE_BLOB: 0x80000008,
  EFI_PLATFORM_FIRMWARE_BLOB2: 0x8000000a,
  EFI_HANDOFF_TABLES2: 0x8000000b,
  EFI_VARIABLE_BOOT2: 0x8000000c,
  EFI_VARIABLE_AUTHORITY: 0x800000e0,
} as const

/** Data longer than this is summarized by length and SHA-256, never copied into claims. */
export const MAX_INLINE_DATA = 256

export interface EventDescription {
  readonly sequence: number
  readonly pcrIndex: number
  readonly type: string
  /** Digests by bank name (`sha256`) or `0x…` algorithm id, lowercase hex. */
  readonly digests: Readonly<Record<string, string>>
  /** The digest of the bank described is the hash of the event data. */
  readonly digestMatchesData: boolean
  readonly details: Readonly<Record<string, JsonValue>>
}

const VARIABLE_EVENTS: ReadonlySet<number> = new Set([
  EV.EFI_VARIABLE_DRIVER_CONFIG,
  EV.EFI_VARIABLE_BOOT,
  EV.EFI_VARIABLE_BOOT2,
  EV.EFI_VARIABLE_AUTHORITY,
])
const IMAGE_EVENTS: ReadonlySet<number> = new Set([
  EV.EFI_BOOT_SERVICES_APPLICATION,
  EV.EFI_BOOT_SERVICES_DRIVER,
  EV.EFI_RUNTIME_SERVICES_DRIVER,
])
const TEXT_EVENTS: ReadonlySet<number> = new Set([
  EV.IPL,
  EV.EFI_ACTION,
  EV.ACTION,
  EV.S_CRTM_VERSION,
  EV.POST_CODE,
  EV.EVENT_TAG,
  EV.COMPACT_HASH,
  EV.NONHOST_INFO,
  EV.OMIT_BOOT_DEVICE_EVENTS,
])

function bankName(alg: number): string {
  return DIGEST_ALGORITHMS.get(alg)?.name ?? `0x${alg.toString(16).padStart(4, '0')}`
}

/** EFI_GUID text: the first three fields are little-endian (UEFI 2.10 appendix A). */
export function guidText(b: Uint8Array): string {
  const h = (from: number, to: number, reverse: boolean): string => {
    const part = [...b.subarray(from, to)]
    return toHex(new Uint8Array(reverse ? part.reverse() : part))
  }
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`
}

function dataSummary(data: Uint8Array): Record<string, JsonValue> {
  return data.byteLength <= MAX_INLINE_DATA
    ? { data: toHex(data) }
    : { dataLength: data.byteLength, dataSha256: createHash('sha256').update(data).digest('hex') }
}

function isPrintable(s: string): boolean {
  return /^[\x20-\x7e\t\r\n]*$/.test(s)
}

/** ASCII or UTF-16LE text without trailing NULs, or undefined when the bytes are not text. */
export function decodeText(data: Uint8Array): string | undefined {
  let end = data.byteLength
  if (end >= 2 && end % 2 === 0 && data.every((b, i) => i % 2 === 0 || b === 0)) {
    const s = Buffer.from(data).toString('utf16le').replace(/\u0000+$/, '')
    return isPrintable(s) ? s : undefined
  }
  while (end > 0 && data[end - 1] === 0) end--
  const s = Buffer.from(data.subarray(0, end)).toString('latin1')
  return isPrintable(s) ? s : undefined
}

function utf16(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf16le').replace(/\u0000+$/, '')
}

/** UEFI_VARIABLE_DATA: VariableName GUID, UnicodeNameLength u64, VariableDataLength u64, UnicodeName, VariableData. */
function describeVariable(data: Uint8Array): Record<string, JsonValue> {
  const r = new ByteReader(data)
  const guid = guidText(r.bytes(16, 'variable.guid'))
  const nameLength = r.u64le('variable.unicodeNameLength')
  const dataLength = r.u64le('variable.variableDataLength')
  if (nameLength > 1024n || dataLength > BigInt(data.byteLength)) return {}
  const name = utf16(r.bytes(Number(nameLength) * 2, 'variable.unicodeName'))
  const value = r.bytes(Number(dataLength), 'variable.variableData')
  return { variableGuid: guid, variableName: name, ...dataSummary(value) }
}

/** File-path and firmware-file nodes of an EFI device path, as text (`\EFI\BOOT\BOOTX64.EFI`, `FvFile(guid)`). */
function describeDevicePath(path: Uint8Array): string[] {
  const out: string[] = []
  const r = new ByteReader(path)
  let previousWasFile = false
  for (let n = 0; n < 64 && r.remaining >= 4; n++) {
    const type = r.u8('node.type')
    const subType = r.u8('node.subType')
    const length = r.u16le('node.length')
    if (length < 4) break
    const body = r.bytes(length - 4, 'node.body')
    if (type === 0x7f) break
    if (type === 4 && subType === 4) {
      // Consecutive file-path nodes are one path split in parts (`\EFI\centos` + `grubx64.efi`).
      const part = utf16(body)
      const last = out.length > 0 && previousWasFile ? out.pop() : undefined
      out.push(last === undefined ? part : `${last.replace(/\\$/, '')}\\${part.replace(/^\\/, '')}`)
      previousWasFile = true
      continue
    }
    previousWasFile = false
    if (type === 4 && subType === 6 && body.byteLength === 16) out.push(`FvFile(${guidText(body)})`)
    else if (type === 4 && subType === 7 && body.byteLength === 16) out.push(`Fv(${guidText(body)})`)
  }
  return out
}

/** UEFI_IMAGE_LOAD_EVENT: ImageLocationInMemory, ImageLengthInMemory, ImageLinkTimeAddress, LengthOfDevicePath (u64 each), DevicePath. */
function describeImage(data: Uint8Array): Record<string, JsonValue> {
  const r = new ByteReader(data)
  r.u64le('image.location')
  const length = r.u64le('image.length')
  r.u64le('image.linkTimeAddress')
  const pathLength = r.u64le('image.lengthOfDevicePath')
  if (pathLength > BigInt(r.remaining)) return {}
  return { imageLength: Number(length), devicePath: describeDevicePath(r.bytes(Number(pathLength), 'image.devicePath')) }
}

function describeDetails(event: TcgEvent): Record<string, JsonValue> {
  const { data, eventType } = event
  if (VARIABLE_EVENTS.has(eventType)) return describeVariable(data)
  if (IMAGE_EVENTS.has(eventType)) return describeImage(data)
  if (eventType === EV.SEPARATOR) return { value: toHex(data) }
  if (eventType === EV.EFI_PLATFORM_FIRMWARE_BLOB && data.byteLength === 16) {
    const r = new ByteReader(data)
    return { base: `0x${r.u64le('blob.base').toString(16)}`, length: Number(r.u64le('blob.length')) }
  }
  if (eventType === EV.EFI_PLATFORM_FIRMWARE_BLOB2 || eventType === EV.EFI_HANDOFF_TABLES2) {
    const r = new ByteReader(data)
    const text = decodeText(r.bytes(r.u8('description.size'), 'description'))
    return text === undefined ? {} : { description: text }
  }
  if (TEXT_EVENTS.has(eventType) || eventType === EV.NO_ACTION) {
    const text = decodeText(data)
    if (text !== undefined) return { text: text.length > MAX_INLINE_DATA ? `${text.slice(0, MAX_INLINE_DATA)}…` : text }
  }
  return dataSummary(data)
}

/**
 * Describes one event; `algorithmId` (TPM_ALG_ID) names the bank whose digest
 * `digestMatchesData` compares (the bank the log was replayed in).
 */
export function describeEvent(event: TcgEvent, algorithmId: number): EventDescription {
  const digests: Record<string, string> = {}
  for (const d of event.digests) digests[bankName(d.algorithmId)] = toHex(d.digest)
  const own = event.digests.find((d) => d.algorithmId === algorithmId)?.digest
  const hash = DIGEST_ALGORITHMS.get(algorithmId)?.hash
  const digestMatchesData = own !== undefined && hash !== undefined && createHash(hash).update(event.data).digest('hex') === toHex(own)
  let details: Record<string, JsonValue>
  try {
    details = describeDetails(event)
  } catch (err) {
    // Details are descriptive only: event data that does not decode says so, the digests stay.
    if (!(err instanceof EvidenceError)) throw err
    details = { undecodable: err.detail }
  }
  return { sequence: event.sequence, pcrIndex: event.pcrIndex, type: eventTypeName(event.eventType), digests, digestMatchesData, details }
}

