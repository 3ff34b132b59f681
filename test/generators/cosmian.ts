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
