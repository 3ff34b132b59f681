/**
 * The launch secret (SEV API spec 55766, §6.6 LAUNCH_SECRET): an EFI secret table, encrypted
 * with the TEK and authenticated with the TIK, that the PSP writes into the guest before it runs.
 * OVMF's AmdSev build exposes it as the EFI secret area; GRUB's `efisecret` module reads the
 * disk passphrase from it (`cryptomount -s efisecret`).
 *
 * Table: GUID 1e74f542-71dd-4d66-963e-ef4287ff173b, u32 length, then entries (GUID, u32 length
 * of the entry, data), zero-padded to 16 bytes. GUIDs are in EFI byte order (the first three
 * fields little-endian, Python's `UUID.bytes_le`). Two variants exist:
 * - `aleph` (aleph-im/aleph-sdk-python@df8ed9b1df093de7c9814c26b3c3ef8434b635c9
 *   `src/aleph/sdk/utils.py` `make_secret_table`): each entry's data ends with a NUL, which its
 *   length counts, and the table header holds the padded length;
 * - `sevctl` (virtee/sevctl@8b47f3a6b980525f4c1e9804661abbdda459e137 `src/secret.rs`,
 *   `measurement.rs` `build_entry`/`build_table`): no NUL, and the header holds the unpadded length.
 *
 * Packet header (52 bytes): FLAGS (u32 LE, 0) ‖ IV ‖ MAC, with
 * MAC = HMAC-SHA-256(TIK, 0x01 ‖ FLAGS ‖ IV ‖ GUEST_LENGTH ‖ TRANS_LENGTH ‖ CIPHERTEXT ‖ MEASURE),
 * both lengths u32 LE and equal to the (padded) table length; the ciphertext is AES-128-CTR under
 * the TEK with the 16-byte IV as the counter block (sevctl `secret::build_cmd`, aleph SDK
 * `make_packet_header`, virtee/sev `Session::secret`).
 */
import { KeybrokerError } from '../errors.js'
import { SECRET_HEADER, SECRET_HEADER_SIZE } from './layout.js'
import { aes128Ctr, hmacSha256, SEV_KEY_BYTES } from './session.js'

export const SECRET_TABLE_GUID = '1e74f542-71dd-4d66-963e-ef4287ff173b'
/** The entry GRUB's `efisecret` reads the disk passphrase from. */
export const DISK_PASSPHRASE_GUID = '736869e5-84f0-4973-92ec-06879ce3da0b'

/** sevctl's tests treat 16 KiB as the largest secret payload (virtee/sevctl `tests/secretbuild.rs`). */
export const MAX_SECRET_TABLE_BYTES = 16384

export type SecretTableFormat = 'aleph' | 'sevctl'
export const SECRET_TABLE_FORMATS: readonly SecretTableFormat[] = ['aleph', 'sevctl']

const GUID = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i

/** A GUID in EFI byte order (`UUID.bytes_le`, `Uuid::to_bytes_le`). */
export function guidBytes(guid: string): Uint8Array {
  const m = GUID.exec(guid)
  if (m === null) throw new KeybrokerError('bad-request', `not a GUID: ${JSON.stringify(guid.slice(0, 40))}`)
  const hex = (s: string) => Buffer.from(s, 'hex')
  return new Uint8Array(Buffer.concat([hex(m[1]!).reverse(), hex(m[2]!).reverse(), hex(m[3]!).reverse(), hex(m[4]!), hex(m[5]!)]))
}

export interface TableEntry {
  readonly guid: string
  readonly data: Uint8Array
}

export interface GuidTableOptions {
  /** Size of every length field: 2 (kernel hashes) or 4 (secrets). */
  readonly lengthBytes: 2 | 4
  /** Append a NUL to each entry's data (aleph). */
  readonly nulTerminated: boolean
  /** The header holds the padded length (aleph) rather than the unpadded one (sevctl). */
  readonly paddedLength: boolean
}

function le(n: number, bytes: 2 | 4): Buffer {
  const b = Buffer.alloc(bytes)
  if (bytes === 2) b.writeUInt16LE(n)
  else b.writeUInt32LE(n)
  return b
}

/** A GUIDed table: header GUID and length, entries (GUID, length, data), zero padding to 16. */
export function guidTable(tableGuid: string, entries: readonly TableEntry[], options: GuidTableOptions): Uint8Array {
  const max = options.lengthBytes === 2 ? 0xffff : 0xffff_ffff
  const body = entries.map((e) => {
    const data = options.nulTerminated ? Buffer.concat([e.data, Buffer.from([0])]) : Buffer.from(e.data)
    const length = 16 + options.lengthBytes + data.byteLength
    if (length > max) throw new KeybrokerError('bad-request', 'table entry too large for its length field')
    return Buffer.concat([guidBytes(e.guid), le(length, options.lengthBytes), data])
  })
  const unpadded = 16 + options.lengthBytes + body.reduce((n, b) => n + b.byteLength, 0)
  const padded = Math.ceil(unpadded / 16) * 16
  if (padded > max) throw new KeybrokerError('bad-request', 'table too large for its length field')
  const out = new Uint8Array(padded)
  out.set(guidBytes(tableGuid), 0)
  out.set(le(options.paddedLength ? padded : unpadded, options.lengthBytes), 16)
  let at = 16 + options.lengthBytes
  for (const b of body) {
    out.set(b, at)
    at += b.byteLength
  }
  return out
}

/**
 * The secret table of `format` for `entries` (aleph images: one disk-passphrase entry).
 * @throws KeybrokerError `bad-request` when the table exceeds {@link MAX_SECRET_TABLE_BYTES}
 */
export function buildSecretTable(entries: readonly TableEntry[], format: SecretTableFormat): Uint8Array {
  const table = guidTable(SECRET_TABLE_GUID, entries, { lengthBytes: 4, nulTerminated: format === 'aleph', paddedLength: format === 'aleph' })
  if (table.byteLength > MAX_SECRET_TABLE_BYTES) {
    table.fill(0)
    throw new KeybrokerError('bad-request', `the secret table would be ${table.byteLength} bytes; at most ${MAX_SECRET_TABLE_BYTES} fit the launch secret`)
  }
  return table
}

export interface LaunchSecretPacket {
  /** The 52-byte packet header. */
  readonly header: Uint8Array
  /** The encrypted table. */
  readonly ciphertext: Uint8Array
}

/** Encrypts and authenticates `table` for the guest whose MEASURE is `measure` (32 bytes). */
export function packageLaunchSecret(input: {
  readonly tek: Uint8Array
  readonly tik: Uint8Array
  readonly iv: Uint8Array
  readonly table: Uint8Array
  readonly measure: Uint8Array
}): LaunchSecretPacket {
  if (input.tek.byteLength !== SEV_KEY_BYTES || input.tik.byteLength !== SEV_KEY_BYTES) throw new KeybrokerError('bad-request', 'TEK and TIK are 16 bytes each')
  if (input.iv.byteLength !== 16) throw new KeybrokerError('bad-request', 'the IV is 16 bytes')
  if (input.measure.byteLength !== 32) throw new KeybrokerError('bad-request', 'MEASURE is 32 bytes')
  const ciphertext = aes128Ctr(input.tek, input.iv, input.table)
  const header = new Uint8Array(SECRET_HEADER_SIZE)
  const flags = header.subarray(SECRET_HEADER.flags.at, SECRET_HEADER.flags.at + SECRET_HEADER.flags.size)
  header.set(input.iv, SECRET_HEADER.iv.at)
  const length = le(input.table.byteLength, 4)
  header.set(hmacSha256(input.tik, new Uint8Array([0x01]), flags, input.iv, length, length, ciphertext, input.measure), SECRET_HEADER.mac.at)
  return { header, ciphertext }
}
