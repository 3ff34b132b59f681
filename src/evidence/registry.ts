import { KeybrokerError } from '../errors.js'
import { automataVerifier, createAutomataVerifier } from './automata/index.js'
import { azSnpVtpmVerifier, azTdxVtpmVerifier, createAzSnpVtpmVerifier, createAzTdxVtpmVerifier } from './azure/index.js'
import { cosmianVerifier, createCosmianVerifier } from './cosmian/index.js'
import { createGotpmVerifier, gotpmVerifier } from './gotpm/index.js'
import { sampleVerifier } from './sample/verify.js'
import { createSnpVerifier, snpVerifier, type SnpVerifyOptions } from './snp/index.js'
import { tpmVerifier } from './tpm/index.js'
import { createTdxVerifier, tdxVerifier, type TdxVerifyOptions } from './tdx/index.js'
import type { EvidenceVerifier } from './types.js'

/**
 * The evidence verifiers keyed by `evidence.type`. A new evidence type plugs in here and
 * nowhere else. `sample` is present but the service refuses it unless explicitly enabled.
 */
const VERIFIERS: ReadonlyMap<string, EvidenceVerifier<never>> = new Map<string, EvidenceVerifier<never>>([
  [sampleVerifier.type, sampleVerifier as EvidenceVerifier<never>],
  [snpVerifier.type, snpVerifier as EvidenceVerifier<never>],
  [tpmVerifier.type, tpmVerifier as EvidenceVerifier<never>],
  [tdxVerifier.type, tdxVerifier as EvidenceVerifier<never>],
  [azSnpVtpmVerifier.type, azSnpVtpmVerifier as EvidenceVerifier<never>],
  [azTdxVtpmVerifier.type, azTdxVtpmVerifier as EvidenceVerifier<never>],
  [gotpmVerifier.type, gotpmVerifier as EvidenceVerifier<never>],
  [automataVerifier.type, automataVerifier as EvidenceVerifier<never>],
  [cosmianVerifier.type, cosmianVerifier as EvidenceVerifier<never>],
])

export const EVIDENCE_TYPES: readonly string[] = [...VERIFIERS.keys()]

/** The schema of each evidence type's JSON (`type` included), for the API document. */
export const EVIDENCE_SCHEMAS: ReadonlyMap<string, EvidenceVerifier<never>['schema']> = new Map([...VERIFIERS].map(([type, v]) => [type, v.schema]))

export interface RegistryOptions {
  readonly allowSample: boolean
  /** Options of the `snp` verifier (defaults: `DEFAULT_SNP_VERIFY_OPTIONS`). */
  readonly snp?: Partial<SnpVerifyOptions>
  /** Options of the `tdx` verifier (defaults: `DEFAULT_TDX_VERIFY_OPTIONS`). */
  readonly tdx?: Partial<TdxVerifyOptions>
  /**
   * True when appraisal decides the VMPL of `snp` and `gotpm` evidence per reference-value set
   * (the service): their verifiers then accept VMPL 0-3. `az-snp-vtpm` keeps `snp.maxVmpl`.
   */
  readonly vmplAtAppraisal?: boolean
}

/** The verifiers of one configuration, built once at start (`createVerifierRegistry`). */
export interface VerifierRegistry {
  readonly types: readonly string[]
  /** The verifier for `type`; `evidence-unsupported` when unknown or disabled. */
  verifierFor(type: string): EvidenceVerifier<unknown>
}

/**
 * Builds the verifiers with per-type options — plain objects the service derives from its
 * configuration (`src/services/verifiers.ts`); this module never reads configuration itself.
 */
export function createVerifierRegistry(options: RegistryOptions): VerifierRegistry {
  const configured = new Map<string, EvidenceVerifier<never>>(VERIFIERS)
  const teeSnp = options.vmplAtAppraisal === true ? { ...options.snp, maxVmpl: 3 } : options.snp
  configured.set('snp', createSnpVerifier(teeSnp) as EvidenceVerifier<never>)
  configured.set('tdx', createTdxVerifier(options.tdx) as EvidenceVerifier<never>)
  // The Azure vTPM types check their SNP report / TD quote with the same settings as `snp` / `tdx`.
  configured.set('az-snp-vtpm', createAzSnpVtpmVerifier(options.snp) as EvidenceVerifier<never>)
  configured.set('az-tdx-vtpm', createAzTdxVtpmVerifier(options.tdx) as EvidenceVerifier<never>)
  // gotpm checks an embedded SNP report / TD quote with the `snp` / `tdx` settings.
  configured.set('gotpm', createGotpmVerifier({ ...(teeSnp === undefined ? {} : { snp: teeSnp }), ...(options.tdx === undefined ? {} : { tdx: options.tdx }) }) as EvidenceVerifier<never>)
  // automata checks its SNP report / TD quote with the `snp` / `tdx` settings (VMPL at the verifier, as az-snp-vtpm).
  configured.set('automata', createAutomataVerifier({ ...(options.snp === undefined ? {} : { snp: options.snp }), ...(options.tdx === undefined ? {} : { tdx: options.tdx }) }) as EvidenceVerifier<never>)
  // cosmian likewise (its TEE quote is a plain SNP report or TD quote; VMPL at the verifier).
  configured.set('cosmian', createCosmianVerifier({ ...(options.snp === undefined ? {} : { snp: options.snp }), ...(options.tdx === undefined ? {} : { tdx: options.tdx }) }) as EvidenceVerifier<never>)
  return {
    types: [...configured.keys()],
    verifierFor: (type) => pick(configured, type, options),
  }
}

/** Looks up the verifier for `type`; `evidence-unsupported` when unknown or disabled. */
export function verifierFor(type: string, options: RegistryOptions): EvidenceVerifier<unknown> {
  return options.snp === undefined && options.tdx === undefined && options.vmplAtAppraisal !== true ? pick(VERIFIERS, type, options) : createVerifierRegistry(options).verifierFor(type)
}

function pick(verifiers: ReadonlyMap<string, EvidenceVerifier<never>>, type: string, options: RegistryOptions): EvidenceVerifier<unknown> {
  if (type === 'sample' && !options.allowSample) {
    throw new KeybrokerError(
      'evidence-unsupported',
      'sample evidence is for development only and is disabled (set KEYBROKER_ALLOW_SAMPLE_EVIDENCE=1 outside production)',
    )
  }
  const verifier = verifiers.get(type)
  if (verifier === undefined) {
    throw new KeybrokerError('evidence-unsupported', `unknown evidence type; supported: ${EVIDENCE_TYPES.join(', ')}`)
  }
  return verifier as EvidenceVerifier<unknown>
}
