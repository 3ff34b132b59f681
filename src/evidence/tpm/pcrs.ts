/**
 * PCR values as the client reports them, and the digest a quote signs over them (TPM 2.0 Part 3
 * §18.4 TPM2_Quote: pcrDigest = H(PCR values concatenated in the order of the selection: banks
 * as listed, PCRs ascending within a bank), with the hash of the signing scheme).
 */
import { createHash } from 'node:crypto'
import { EvidenceError } from '../../errors.js'
import { equalBytes, fromHex, toHex } from '../reader.js'
import { hashByName, IMPLEMENTATION_PCR, type TpmHash, type TpmHashName } from './algorithms.js'
import type { PcrBankSelection } from './marshal.js'

/** PCR values by bank and index. */
export type PcrValues = ReadonlyMap<TpmHashName, ReadonlyMap<number, Uint8Array>>

const INDEX = /^(?:[0-9]|1[0-9]|2[0-3])$/

/**
 * Decodes `{sha256: {"0": hex, …}, …}`: known banks only, indices 0-23, each value exactly the
 * bank's digest size. @throws `evidence-malformed`, `evidence-unsupported` (unknown bank)
 */
export function decodePcrValues(wire: Readonly<Record<string, Readonly<Record<string, string>>>>): PcrValues {
  const out = new Map<TpmHashName, Map<number, Uint8Array>>()
  for (const [bankName, values] of Object.entries(wire)) {
    const hash = hashByName(bankName)
    if (hash === undefined) throw new EvidenceError('evidence-unsupported', `pcrs: bank ${bankName} unsupported`)
    const bank = new Map<number, Uint8Array>()
    for (const [index, hex] of Object.entries(values)) {
      if (!INDEX.test(index)) throw new EvidenceError('evidence-malformed', `pcrs.${bankName}: index ${index} is not 0-${IMPLEMENTATION_PCR - 1}`)
      const value = fromHex(hex, `pcrs.${bankName}.${index}`)
      if (value.byteLength !== hash.size) throw new EvidenceError('evidence-malformed', `pcrs.${bankName}.${index}: not ${hash.size} bytes`)
      bank.set(Number(index), value)
    }
    out.set(hash.name, bank)
  }
  return out
}

/** The concatenation the quote's pcrDigest hashes. @throws `evidence-malformed` when a selected PCR has no value */
export function selectedPcrBytes(selection: readonly PcrBankSelection[], values: PcrValues): Uint8Array[] {
  const parts: Uint8Array[] = []
  for (const bank of selection) {
    for (const pcr of bank.pcrs) {
      const v = values.get(bank.hash.name)?.get(pcr)
      if (v === undefined) throw new EvidenceError('evidence-malformed', `pcrs: the quote selects ${bank.hash.name} PCR ${pcr} but no value was sent`)
      parts.push(v)
    }
  }
  return parts
}

/** H(selected PCR values) with `hash`. */
export function computePcrDigest(selection: readonly PcrBankSelection[], values: PcrValues, hash: TpmHash): Uint8Array {
  const h = createHash(hash.name)
  for (const part of selectedPcrBytes(selection, values)) h.update(part)
  return new Uint8Array(h.digest())
}

/**
 * Checks that the quoted pcrDigest is the digest of the reported values. The TPM digests with the
 * signing scheme's hash; a digest of another length is refused outright.
 * @throws `signature-invalid` when the values are not the ones the TPM quoted
 */
export function checkPcrDigest(selection: readonly PcrBankSelection[], values: PcrValues, pcrDigest: Uint8Array, hash: TpmHash): void {
  if (selection.every((b) => b.pcrs.length === 0)) throw new EvidenceError('evidence-malformed', 'quote: selects no PCR')
  const computed = computePcrDigest(selection, values, hash)
  if (!equalBytes(computed, pcrDigest)) {
    throw new EvidenceError('signature-invalid', 'pcrs: the PCR values do not match the quoted pcrDigest')
  }
}

/** Only the quoted PCRs, by bank and index, lowercase hex (the claims never hold unquoted values). */
export function quotedPcrs(selection: readonly PcrBankSelection[], values: PcrValues): Map<TpmHashName, Map<number, string>> {
  const out = new Map<TpmHashName, Map<number, string>>()
  for (const bank of selection) {
    const m = new Map<number, string>()
    for (const pcr of bank.pcrs) {
      const v = values.get(bank.hash.name)?.get(pcr)
      if (v !== undefined) m.set(pcr, toHex(v))
    }
    out.set(bank.hash.name, m)
  }
  return out
}

/** Parses a bank value from hex for callers that hold PCRs as a list (Azure, trustee): index = position. */
export function pcrValuesFromList(bank: TpmHashName, list: readonly string[]): PcrValues {
  const values: Record<string, string> = {}
  list.forEach((hex, i) => {
    values[String(i)] = hex
  })
  return decodePcrValues({ [bank]: values })
}
