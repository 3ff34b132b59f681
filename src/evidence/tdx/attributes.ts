/**
 * TD_ATTRIBUTES (Intel TDX Module ABI spec, "TD_ATTRIBUTES Definition"): bit 0 DEBUG (TUD
 * group, bits 7:1 reserved), SEC group bits 31:8 (28 SEPT_VE_DISABLE, 29 MIGRATABLE, 30 PKS,
 * 31 KL), OTHER group bits 63:32 (63 PERFMON). Undefined bits stay visible in the raw hex.
 */
export const TD_ATTRIBUTE_BITS = {
  debug: 0,
  septVeDisable: 28,
  migratable: 29,
  pks: 30,
  kl: 31,
  perfmon: 63,
} as const

export type TdAttributes = { readonly [K in keyof typeof TD_ATTRIBUTE_BITS]: boolean }

export function decodeTdAttributes(value: bigint): TdAttributes {
  const bit = (n: number): boolean => ((value >> BigInt(n)) & 1n) === 1n
  return {
    debug: bit(TD_ATTRIBUTE_BITS.debug),
    septVeDisable: bit(TD_ATTRIBUTE_BITS.septVeDisable),
    migratable: bit(TD_ATTRIBUTE_BITS.migratable),
    pks: bit(TD_ATTRIBUTE_BITS.pks),
    kl: bit(TD_ATTRIBUTE_BITS.kl),
    perfmon: bit(TD_ATTRIBUTE_BITS.perfmon),
  }
}

/** A 64-bit field as 16 hex digits of its little-endian bytes, as the quote holds it (and trustee prints it). */
export function u64LeHex(value: bigint): string {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(value)
  return b.toString('hex')
}
