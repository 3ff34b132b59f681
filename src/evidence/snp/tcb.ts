import type { SnpProduct } from './products.js'
import { TCB_LAYOUT } from './report-layout.js'

/** A TCB_VERSION decoded into its security patch levels (SPLs). `fmc` exists on Turin only. */
export interface TcbParts {
  readonly bootloader: number
  readonly tee: number
  readonly snp: number
  readonly microcode: number
  readonly fmc?: number
}

export type TcbComponent = keyof TcbParts
export const TCB_COMPONENTS: readonly TcbComponent[] = ['bootloader', 'tee', 'snp', 'microcode', 'fmc']

function byteAt(raw: bigint, index: number): number {
  return Number((raw >> BigInt(8 * index)) & 0xffn)
}

/** Decodes a little-endian TCB_VERSION value with the layout of `product` (Turin differs, see report-layout.ts). */
export function decodeTcb(raw: bigint, product: SnpProduct): TcbParts {
  if (product === 'Turin') {
    const l = TCB_LAYOUT.turin
    return {
      bootloader: byteAt(raw, l.bootloader),
      tee: byteAt(raw, l.tee),
      snp: byteAt(raw, l.snp),
      microcode: byteAt(raw, l.microcode),
      fmc: byteAt(raw, l.fmc),
    }
  }
  const l = TCB_LAYOUT.milanGenoa
  return {
    bootloader: byteAt(raw, l.bootloader),
    tee: byteAt(raw, l.tee),
    snp: byteAt(raw, l.snp),
    microcode: byteAt(raw, l.microcode),
  }
}

/** Inverse of `decodeTcb` (reserved bytes zero); used by the test generator and the collateral key. */
export function encodeTcb(parts: TcbParts, product: SnpProduct): bigint {
  const put = (v: number, index: number): bigint => BigInt(v & 0xff) << BigInt(8 * index)
  if (product === 'Turin') {
    const l = TCB_LAYOUT.turin
    return put(parts.fmc ?? 0, l.fmc) | put(parts.bootloader, l.bootloader) | put(parts.tee, l.tee) |
      put(parts.snp, l.snp) | put(parts.microcode, l.microcode)
  }
  const l = TCB_LAYOUT.milanGenoa
  return put(parts.bootloader, l.bootloader) | put(parts.tee, l.tee) | put(parts.snp, l.snp) | put(parts.microcode, l.microcode)
}

/** The raw TCB_VERSION as 16 lowercase hex digits of the 64-bit number (`0x7308000000000003` → `7308000000000003`). */
export function tcbHex(raw: bigint): string {
  return raw.toString(16).padStart(16, '0')
}
