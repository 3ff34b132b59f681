/**
 * Reading the TPM 2.0 marshaled forms (Part 2 §4-§10: big-endian, every variable-length field a
 * TPM2B with a 16-bit size) on top of `ByteReader`, so every size is checked against both its
 * structural bound and what remains before anything is sliced.
 */
import { EvidenceError } from '../../errors.js'
import type { ByteReader } from '../reader.js'
import { hashByAlg, IMPLEMENTATION_PCR, MAX_BANKS, PCR_SELECT_MAX, type TpmHash } from './algorithms.js'

/** Reads a TPM2B: u16 size, then that many bytes; `max` is the structure's bound (e.g. sizeof(TPMU_HA)). */
export function readTpm2b(r: ByteReader, field: string, max: number): Uint8Array {
  const size = r.u16be(`${field}.size`)
  if (size > max) throw new EvidenceError('evidence-malformed', `${field}: size ${size} exceeds ${max}`)
  return r.bytes(size, field)
}

/** One bank of a TPML_PCR_SELECTION: its hash and the selected PCR indices, ascending. */
export interface PcrBankSelection {
  readonly hash: TpmHash
  readonly pcrs: readonly number[]
}

/**
 * TPML_PCR_SELECTION (Part 2 §10.9.7): u32 count, then TPMS_PCR_SELECTION {hash, sizeofSelect,
 * pcrSelect[]}. Bit n of byte k selects PCR 8k+n. A bank listed twice is malformed (it would be
 * digested twice); a PCR beyond IMPLEMENTATION_PCR or an unknown hash is unsupported.
 */
export function readPcrSelection(r: ByteReader, field: string): PcrBankSelection[] {
  const count = r.u32be(`${field}.count`)
  if (count > MAX_BANKS) throw new EvidenceError('evidence-malformed', `${field}: ${count} banks`)
  const banks: PcrBankSelection[] = []
  for (let i = 0; i < count; i++) {
    const alg = r.u16be(`${field}[${i}].hash`)
    const sizeofSelect = r.u8(`${field}[${i}].sizeofSelect`)
    if (sizeofSelect > PCR_SELECT_MAX) {
      throw new EvidenceError('evidence-malformed', `${field}[${i}]: sizeofSelect ${sizeofSelect} exceeds ${PCR_SELECT_MAX}`)
    }
    const select = r.bytes(sizeofSelect, `${field}[${i}].pcrSelect`)
    const hash = hashByAlg(alg, `${field}[${i}]`)
    if (banks.some((b) => b.hash.alg === alg)) throw new EvidenceError('evidence-malformed', `${field}: bank ${hash.name} listed twice`)
    const pcrs: number[] = []
    select.forEach((byte, k) => {
      for (let bit = 0; bit < 8; bit++) if ((byte >> bit) & 1) pcrs.push(k * 8 + bit)
    })
    if (pcrs.some((p) => p >= IMPLEMENTATION_PCR)) {
      throw new EvidenceError('evidence-unsupported', `${field}: PCR index beyond ${IMPLEMENTATION_PCR - 1}`)
    }
    banks.push({ hash, pcrs })
  }
  return banks
}

/** Marshals a TPML_PCR_SELECTION (3 select bytes per bank, as PC Client TPMs do). */
export function writePcrSelection(banks: readonly PcrBankSelection[]): Uint8Array {
  const out = new Uint8Array(4 + banks.length * 6)
  const view = new DataView(out.buffer)
  view.setUint32(0, banks.length, false)
  banks.forEach((b, i) => {
    const at = 4 + i * 6
    view.setUint16(at, b.hash.alg, false)
    out[at + 2] = 3
    for (const p of b.pcrs) out[at + 3 + (p >> 3)]! |= 1 << (p & 7)
  })
  return out
}

export function u16be(n: number): Uint8Array {
  return new Uint8Array([(n >> 8) & 0xff, n & 0xff])
}

export function u32be(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff])
}

/** A TPM2B of `data`: u16 size, then the bytes. */
export function tpm2b(data: Uint8Array): Uint8Array {
  return concatBytes(u16be(data.byteLength), data)
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}
