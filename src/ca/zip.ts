import { crc32 } from 'node:zlib'

/**
 * A ZIP archive of small files, stored without compression: what absmach/certs' `download-ca`
 * answers (a zip holding `ca.crt`), which Cocos' certs SDK unpacks with Go's archive/zip.
 * Layouts from PKWARE APPNOTE.TXT 6.3.10: local file header (§4.3.7), central directory file
 * header (§4.3.12), end of central directory record (§4.3.16); all integers little-endian.
 */
const LOCAL_HEADER = {
  signature: { at: 0, size: 4 }, // 0x04034b50
  versionNeeded: { at: 4, size: 2 },
  flags: { at: 6, size: 2 },
  method: { at: 8, size: 2 }, // 0 = stored
  modTime: { at: 10, size: 2 },
  modDate: { at: 12, size: 2 },
  crc32: { at: 14, size: 4 },
  compressedSize: { at: 18, size: 4 },
  uncompressedSize: { at: 22, size: 4 },
  nameLength: { at: 26, size: 2 },
  extraLength: { at: 28, size: 2 },
} as const
const LOCAL_HEADER_SIZE = 30
const CENTRAL_HEADER = {
  signature: { at: 0, size: 4 }, // 0x02014b50
  versionMadeBy: { at: 4, size: 2 },
  versionNeeded: { at: 6, size: 2 },
  flags: { at: 8, size: 2 },
  method: { at: 10, size: 2 },
  modTime: { at: 12, size: 2 },
  modDate: { at: 14, size: 2 },
  crc32: { at: 16, size: 4 },
  compressedSize: { at: 20, size: 4 },
  uncompressedSize: { at: 24, size: 4 },
  nameLength: { at: 28, size: 2 },
  extraLength: { at: 30, size: 2 },
  commentLength: { at: 32, size: 2 },
  diskStart: { at: 34, size: 2 },
  internalAttributes: { at: 36, size: 2 },
  externalAttributes: { at: 38, size: 4 },
  localHeaderOffset: { at: 42, size: 4 },
} as const
const CENTRAL_HEADER_SIZE = 46
const END_RECORD = {
  signature: { at: 0, size: 4 }, // 0x06054b50
  diskNumber: { at: 4, size: 2 },
  centralDirectoryDisk: { at: 6, size: 2 },
  entriesOnDisk: { at: 8, size: 2 },
  entries: { at: 10, size: 2 },
  centralDirectorySize: { at: 12, size: 4 },
  centralDirectoryOffset: { at: 16, size: 4 },
  commentLength: { at: 20, size: 2 },
} as const
const END_RECORD_SIZE = 22
/** 2.0: the version a stored entry needs (APPNOTE §4.4.3.2). */
const VERSION = 20
/** UTF-8 names (APPNOTE §4.4.4, bit 11). */
const FLAG_UTF8 = 0x0800
/** Archives here are a few kilobytes; ZIP64 is never needed. */
const MAX_BYTES = 0xffff_fff0

type Layout = Readonly<Record<string, { readonly at: number; readonly size: 2 | 4 }>>

function put<L extends Layout>(buf: Buffer, layout: L, values: { readonly [K in keyof L]: number }): void {
  for (const key of Object.keys(layout) as (keyof L & string)[]) {
    const field = layout[key]
    const value = values[key]
    if (field === undefined || value === undefined) continue
    if (field.size === 2) buf.writeUInt16LE(value, field.at)
    else buf.writeUInt32LE(value, field.at)
  }
}

/**
 * The archive of `files` (name → bytes), dated `at` (DOS time, local fields read as UTC).
 * @throws RangeError when the archive would need ZIP64.
 */
export function storedZip(files: ReadonlyArray<{ readonly name: string; readonly data: Uint8Array }>, at: Date): Uint8Array {
  const modTime = (at.getUTCHours() << 11) | (at.getUTCMinutes() << 5) | Math.floor(at.getUTCSeconds() / 2)
  const modDate = ((Math.max(at.getUTCFullYear(), 1980) - 1980) << 9) | ((at.getUTCMonth() + 1) << 5) | at.getUTCDate()
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8')
    const data = Buffer.from(f.data)
    if (data.byteLength > MAX_BYTES || name.byteLength > 0xffff) throw new RangeError('file too large for a plain ZIP')
    const common = {
      versionNeeded: VERSION,
      flags: FLAG_UTF8,
      method: 0,
      modTime,
      modDate,
      crc32: crc32(data),
      compressedSize: data.byteLength,
      uncompressedSize: data.byteLength,
      nameLength: name.byteLength,
      extraLength: 0,
    }
    const local = Buffer.alloc(LOCAL_HEADER_SIZE)
    put(local, LOCAL_HEADER, { signature: 0x04034b50, ...common })
    const central = Buffer.alloc(CENTRAL_HEADER_SIZE)
    put(central, CENTRAL_HEADER, {
      signature: 0x02014b50,
      versionMadeBy: VERSION,
      ...common,
      commentLength: 0,
      diskStart: 0,
      internalAttributes: 0,
      externalAttributes: 0,
      localHeaderOffset: offset,
    })
    locals.push(local, name, data)
    centrals.push(central, name)
    offset += LOCAL_HEADER_SIZE + name.byteLength + data.byteLength
  }
  const directory = Buffer.concat(centrals)
  if (offset + directory.byteLength > MAX_BYTES || files.length > 0xffff) throw new RangeError('archive too large for a plain ZIP')
  const end = Buffer.alloc(END_RECORD_SIZE)
  put(end, END_RECORD, {
    signature: 0x06054b50,
    diskNumber: 0,
    centralDirectoryDisk: 0,
    entriesOnDisk: files.length,
    entries: files.length,
    centralDirectorySize: directory.byteLength,
    centralDirectoryOffset: offset,
    commentLength: 0,
  })
  return new Uint8Array(Buffer.concat([...locals, directory, end]))
}
