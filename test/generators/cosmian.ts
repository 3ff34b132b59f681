/**
 * Synthetic Cosmian agent answers for tests: a `/quote/tpm` object whose TPM quote is signed by
 * a test AK over the PCR value an IMA list replays to (Cosmian's agent serves no PCR values),
 * and the agent's wire forms (JSON byte arrays, base64 without padding).
 */
import { createHash, type KeyObject } from 'node:crypto'
import { akIdOf } from '../../src/evidence/tpm/public.js'
import type { CollateralLookup } from '../../src/evidence/types.js'
import type { TpmHashName } from '../../src/evidence/tpm/algorithms.js'
import { akKeyPair, encodePublic, encodeQuote, quoteFields, signQuote } from './tpm.js'

export const b64NoPad = (b: Uint8Array): string => Buffer.from(b).toString('base64').replace(/=+$/, '')
export const byteArray = (b: Uint8Array): number[] => [...b]

export interface TestAk {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  readonly id: string
}

export function testAk(): TestAk {
  const { privateKey, publicKey } = akKeyPair('p256')
  return { privateKey, publicKey, id: akIdOf(publicKey) }
}

/** A collateral lookup in which `aks` are registered (what the AK registry hands the verifier). */
export function registeredAks(...aks: TestAk[]): CollateralLookup {
  const ids = new Set(aks.map((a) => a.id))
  return { get: async (kind, key) => (kind === 'tpm-ak' && ids.has(key) ? new Uint8Array(Buffer.from(JSON.stringify({ source: 'registered', name: 'test' }))) : undefined) }
}

/** `/quote/tpm` as the agent answers: one PCR (10) of `bank` quoted with `pcrValue`, extraData `nonce`. */
export function tpmQuoteJson(
  ak: TestAk,
  options: { bank?: TpmHashName; pcrValue: Uint8Array; nonce: Uint8Array; resetCount?: number; restartCount?: number; pcr?: number },
): { pcr_value_hash_method: string; quote: string; signature: string; public_key: string } {
  const bank = options.bank ?? 'sha256'
  const pcr = options.pcr ?? 10
  const banks = [{ bank, pcrs: [pcr] }]
  const quote = encodeQuote(
    quoteFields({ banks, extraData: options.nonce, resetCount: options.resetCount ?? 25, restartCount: options.restartCount ?? 0 }),
    { [bank]: { [pcr]: options.pcrValue } },
    'sha256',
  )
  const method = `Sha${bank.slice(3)}`
  return { pcr_value_hash_method: method, quote: b64NoPad(quote), signature: b64NoPad(signQuote(quote, ak.privateKey, 'ecdsa')), public_key: b64NoPad(encodePublic(ak.publicKey)) }
}

export const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

/** bincode 1.x `Quote{report, certs}` (tee-tools 1.6, sev crate ≥ v3 enum): report ‖ u64 count ‖ per cert u32 type ‖ u64 length ‖ DER. */
export function bincodeQuote(report: Uint8Array, certs: readonly { type: number; der: Uint8Array }[]): Uint8Array {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n)
    return b
  }
  const u64 = (n: number) => {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(BigInt(n))
    return b
  }
  return new Uint8Array(Buffer.concat([Buffer.from(report), u64(certs.length), ...certs.flatMap((c) => [u32(c.type), u64(c.der.byteLength), Buffer.from(c.der)])]))
}

/** CertType indices of the sev crate v3-v6. */
export const CERT_TYPE = { ark: 1, ask: 2, vcek: 3, vlek: 4 } as const

/** binary_runtime_measurements of parsed IMA entries (SHA-1 template hashes): u32 pcr ‖ hash ‖ u32 len ‖ name ‖ u32 len ‖ fields. */
export function imaBinaryOf(entries: readonly { pcr: number; templateHash: Uint8Array; template: string; fields: readonly Uint8Array[] }[]): Uint8Array {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n)
    return b
  }
  return new Uint8Array(
    Buffer.concat(
      entries.map((e) => {
        const data = Buffer.concat(e.fields.flatMap((f) => [u32(f.byteLength), Buffer.from(f)]))
        const name = Buffer.from(e.template, 'latin1')
        return Buffer.concat([u32(e.pcr), Buffer.from(e.templateHash), u32(name.length), name, u32(data.length), data])
      }),
    ),
  )
}
