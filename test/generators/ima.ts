/**
 * IMA measurement list entries for tests, in both list forms, with the template hashes and the
 * per-bank digests the kernel extends PCR 10 with (src/evidence/tpm/ima/templates.ts).
 */
import { createHash } from 'node:crypto'

export interface ImaTestEntry {
  readonly path: string
  /** File digest algorithm and hex. */
  readonly algorithm: string
  readonly digest: string
  readonly template: 'ima-ng' | 'ima-sig'
  /** ima-sig signature bytes (may be empty). */
  readonly signature?: Uint8Array
  readonly pcr?: number
}

const u32le = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n)
  return b
}

export function templateData(e: ImaTestEntry): Buffer {
  const d = Buffer.concat([Buffer.from(`${e.algorithm}:`, 'latin1'), Buffer.from([0]), Buffer.from(e.digest, 'hex')])
  const n = Buffer.concat([Buffer.from(e.path, 'utf8'), Buffer.from([0])])
  const fields = e.template === 'ima-sig' ? [d, n, Buffer.from(e.signature ?? new Uint8Array(0))] : [d, n]
  return Buffer.concat(fields.flatMap((f) => [u32le(f.length), f]))
}

/** What PCR 10 of `bank` is extended with for this entry. */
export function bankDigest(e: ImaTestEntry, bank: 'sha1' | 'sha256' | 'sha384'): Buffer {
  return createHash(bank).update(templateData(e)).digest()
}

export function asciiLine(e: ImaTestEntry): string {
  const sig = e.template === 'ima-sig' && e.signature !== undefined && e.signature.byteLength > 0 ? ` ${Buffer.from(e.signature).toString('hex')}` : ''
  return `${e.pcr ?? 10} ${bankDigest(e, 'sha1').toString('hex')} ${e.template} ${e.algorithm}:${e.digest} ${e.path}${sig}`
}

export function asciiList(entries: readonly ImaTestEntry[]): string {
  return entries.map((e) => `${asciiLine(e)}\n`).join('')
}

export function binaryList(entries: readonly ImaTestEntry[]): Buffer {
  return Buffer.concat(
    entries.map((e) => {
      const name = Buffer.from(e.template, 'latin1')
      const data = templateData(e)
      return Buffer.concat([u32le(e.pcr ?? 10), bankDigest(e, 'sha1'), u32le(name.length), name, u32le(data.length), data])
    }),
  )
}

/** PCR value after replaying `entries` in `bank` from zero. */
export function replayed(entries: readonly ImaTestEntry[], bank: 'sha1' | 'sha256'): Buffer {
  let pcr = Buffer.alloc(bank === 'sha1' ? 20 : 32)
  for (const e of entries) pcr = createHash(bank).update(pcr).update(bankDigest(e, bank)).digest()
  return pcr
}

export function fileEntry(path: string, content: string, template: 'ima-ng' | 'ima-sig' = 'ima-ng'): ImaTestEntry {
  return { path, algorithm: 'sha256', digest: createHash('sha256').update(content).digest('hex'), template }
}
