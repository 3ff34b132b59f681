import { EvidenceError } from '../../errors.js'
import { jsonObjectOf, parseJsonFile } from '../reader.js'
import type { SnpVerifyOptions } from '../snp/options.js'
import type { TdxVerifyOptions } from '../tdx/options.js'
import type { EvidenceFiles, EvidenceVerifier } from '../types.js'
import { AUTOMATA_BINDING } from './binding.js'
import { decodeCollaterals } from './collaterals.js'
import { automataEvidenceSchema, type AutomataEvidence } from './schema.js'
import { verifyAutomata } from './verify.js'

export { automataEvidenceSchema } from './schema.js'
export type { AutomataEvidence } from './schema.js'

/**
 * For `keybroker evidence verify --type automata FILE`: FILE is the collaterals document as the
 * agent serves it (or keybroker's evidence object). @throws `evidence-malformed`
 */
export function automataEvidenceFromFile(main: Uint8Array, _files: EvidenceFiles): { readonly type: string; readonly [k: string]: unknown } {
  const json = parseJsonFile(main, 'automata collaterals file')
  const object = jsonObjectOf(json, 'automata collaterals file')
  return 'collaterals' in object ? { ...object, type: 'automata' } : { type: 'automata', collaterals: object }
}

/** Builds the `automata` verifier; the TEE report is checked with the `snp` / `tdx` verifiers' options. */
export function createAutomataVerifier(options: { readonly snp?: Partial<SnpVerifyOptions>; readonly tdx?: Partial<TdxVerifyOptions> } = {}): EvidenceVerifier<AutomataEvidence> {
  return {
    type: 'automata',
    schema: automataEvidenceSchema,
    verify: (evidence, ctx) =>
      verifyAutomata({
        collaterals: decodeCollaterals(evidence.collaterals),
        now: ctx.now,
        collateral: ctx.collateral,
        ...(options.snp === undefined ? {} : { snpOptions: options.snp }),
        ...(options.tdx === undefined ? {} : { tdxOptions: options.tdx }),
      }),
    binding: AUTOMATA_BINDING,
    fromFile: automataEvidenceFromFile,
  }
}

export const automataVerifier: EvidenceVerifier<AutomataEvidence> = createAutomataVerifier()

export { AUTOMATA_BINDING, AUTOMATA_MAGIC, automataV1ReportData, automataV2ExtraData } from './binding.js'
export { collateralsSchema, decodeCollaterals, COLLATERAL_LIMITS } from './collaterals.js'
export type { AutomataCollaterals, AutomataTee, CollateralsJson } from './collaterals.js'
export { verifyAutomata } from './verify.js'
export type { AutomataVerifyInput } from './verify.js'
