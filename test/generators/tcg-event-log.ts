/**
 * Writes TCG PC Client event logs (the layouts of src/evidence/tcg-event-log/parse.ts) for tests:
 * crypto-agile with a Spec ID Event03 header, or the SHA-1 format. Digests default to the hash of
 * the event data in every bank, so a test changes exactly the one thing it is about.
 */
import { createHash } from 'node:crypto'
import { TPM_HASHES, type TpmHashName } from '../../src/evidence/tpm/algorithms.js'

export interface LogEvent {
  readonly pcrIndex: number
  readonly eventType: number
  readonly data: Uint8Array
  /** Per-bank digest overrides. */
  readonly digests?: Partial<Record<TpmHashName, Uint8Array>>
}

const u32le = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}
const u16le = (n: number): Buffer => {
  const b = Buffer.alloc(2)
  b.writeUInt16LE(n)
  return b
}

function digestOf(e: LogEvent, bank: TpmHashName): Buffer {
  const d = e.digests?.[bank]
  return d === undefined ? createHash(bank).update(e.data).digest() : Buffer.from(d)
}

export function specIdEvent(banks: readonly TpmHashName[], pcrIndex = 0): Buffer {
  const algs = banks.map((b) => TPM_HASHES.find((h) => h.name === b)!)
  const body = Buffer.concat([
    Buffer.from('Spec ID Event03\u0000', 'latin1'),
    u32le(0), // platformClass
    Buffer.from([0, 2, 0, 2]), // minor, major, errata, uintnSize
    u32le(algs.length),
    ...algs.map((a) => Buffer.concat([u16le(a.alg), u16le(a.size)])),
    Buffer.from([0]),
  ])
  return Buffer.concat([u32le(pcrIndex), u32le(3), Buffer.alloc(20), u32le(body.length), body])
}

/** A crypto-agile log: Spec ID header, then TCG_PCR_EVENT2 records with one digest per bank. */
export function writeAgileLog(banks: readonly TpmHashName[], events: readonly LogEvent[]): Uint8Array {
  const parts: Buffer[] = [specIdEvent(banks)]
  for (const e of events) {
    const digests = banks.map((b) => Buffer.concat([u16le(TPM_HASHES.find((h) => h.name === b)!.alg), digestOf(e, b)]))
    parts.push(u32le(e.pcrIndex), u32le(e.eventType), u32le(banks.length), ...digests, u32le(e.data.byteLength), Buffer.from(e.data))
  }
  return new Uint8Array(Buffer.concat(parts))
}

/** A SHA-1 format log (TCG_PCClientPCREvent records only, no header). */
export function writeSha1Log(events: readonly LogEvent[]): Uint8Array {
  return new Uint8Array(
    Buffer.concat(events.flatMap((e) => [u32le(e.pcrIndex), u32le(e.eventType), digestOf(e, 'sha1'), u32le(e.data.byteLength), Buffer.from(e.data)])),
  )
}

/** UEFI_VARIABLE_DATA of an EFI variable event. */
export function variableData(guidBytes: Uint8Array, name: string, value: Uint8Array): Uint8Array {
  const nameBytes = Buffer.from(name, 'utf16le')
  const len = (n: number): Buffer => {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(BigInt(n))
    return b
  }
  return new Uint8Array(Buffer.concat([Buffer.from(guidBytes), len(name.length), len(value.byteLength), nameBytes, Buffer.from(value)]))
}

/** EFI_GLOBAL_VARIABLE 8be4df61-93ca-11d2-aa0d-00e098032b8c as stored (first three fields little-endian). */
export const EFI_GLOBAL_VARIABLE = new Uint8Array(Buffer.from('61dfe48bca93d211aa0d00e098032b8c', 'hex'))

/** The StartupLocality EV_NO_ACTION event data. */
export function startupLocality(locality: number): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from('StartupLocality\u0000', 'latin1'), Buffer.from([locality])]))
}

/** Replays by hand (the reference the parser's replay is checked against). */
export function extend(bank: TpmHashName, values: readonly Uint8Array[], initial?: Uint8Array): Uint8Array {
  let pcr = Buffer.from(initial ?? new Uint8Array(TPM_HASHES.find((h) => h.name === bank)!.size))
  for (const v of values) pcr = createHash(bank).update(pcr).update(v).digest()
  return new Uint8Array(pcr)
}
