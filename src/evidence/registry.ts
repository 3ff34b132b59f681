import { KeybrokerError } from '../errors.js'
import { lazyImport } from '../lazy-import.js'
import { AUTOMATA_BINDING } from './automata/binding.js'
import { automataEvidenceSchema } from './automata/schema.js'
import { azSnpVtpmEvidenceSchema, azTdxVtpmEvidenceSchema } from './azure/schema.js'
import { REPORT_DATA_BINDING, type BindingProfile } from './binding.js'
import { COSMIAN_BINDING } from './cosmian/binding.js'
import { cosmianEvidenceSchema } from './cosmian/wire.js'
import { GOTPM_BINDING } from './gotpm/binding.js'
import { gotpmEvidenceSchema } from './gotpm/schema.js'
import { sampleVerifier } from './sample/verify.js'
import { createSnpVerifier, snpVerifier, type SnpVerifyOptions } from './snp/index.js'
import { tpmVerifier } from './tpm/index.js'
import { createTdxVerifier, tdxVerifier, type TdxVerifyOptions } from './tdx/index.js'
import type { EvidenceVerifier } from './types.js'

/** The `snp` / `tdx` options a composite type checks its TEE report or quote with. */
interface TeeOptions {
  readonly snp?: Partial<SnpVerifyOptions>
  readonly tdx?: Partial<TdxVerifyOptions>
}

/**
 * A verifier whose code loads with its first evidence: `schema` and `binding` are here at start
 * (route validation, the API document, the binding check), `verify` imports the type's module on
 * first use through `lazyImport` (README, "Start-up and memory"). The composite types load this
 * way; `snp`, `tdx` and `tpm` stay at start because the collateral services import them anyway.
 */
function lazyVerifier<E>(type: string, schema: EvidenceVerifier<E>['schema'], binding: BindingProfile, create: () => Promise<EvidenceVerifier<E>>): EvidenceVerifier<never> {
  const load = lazyImport(create)
  const verifier: EvidenceVerifier<E> = { type, schema, binding, verify: async (evidence, ctx) => (await load()).verify(evidence, ctx), load }
  return verifier as EvidenceVerifier<never>
}

const gotpmVerifier = (o: TeeOptions = {}) => lazyVerifier('gotpm', gotpmEvidenceSchema, GOTPM_BINDING, async () => (await import('./gotpm/index.js')).createGotpmVerifier(o))
const azSnpVtpmVerifier = (o?: Partial<SnpVerifyOptions>) =>
  lazyVerifier('az-snp-vtpm', azSnpVtpmEvidenceSchema, REPORT_DATA_BINDING, async () => (await import('./azure/index.js')).createAzSnpVtpmVerifier(o))
const azTdxVtpmVerifier = (o?: Partial<TdxVerifyOptions>) =>
  lazyVerifier('az-tdx-vtpm', azTdxVtpmEvidenceSchema, REPORT_DATA_BINDING, async () => (await import('./azure/index.js')).createAzTdxVtpmVerifier(o))
const automataVerifier = (o: TeeOptions = {}) => lazyVerifier('automata', automataEvidenceSchema, AUTOMATA_BINDING, async () => (await import('./automata/index.js')).createAutomataVerifier(o))
const cosmianVerifier = (o: TeeOptions = {}) => lazyVerifier('cosmian', cosmianEvidenceSchema, COSMIAN_BINDING, async () => (await import('./cosmian/index.js')).createCosmianVerifier(o))

/**
 * The evidence verifiers keyed by `evidence.type`. A new evidence type plugs in here and
 * nowhere else. `sample` is present but the service refuses it unless explicitly enabled.
 */
const VERIFIERS: ReadonlyMap<string, EvidenceVerifier<never>> = new Map<string, EvidenceVerifier<never>>([
  [sampleVerifier.type, sampleVerifier as EvidenceVerifier<never>],
  [snpVerifier.type, snpVerifier as EvidenceVerifier<never>],
  [tpmVerifier.type, tpmVerifier as EvidenceVerifier<never>],
  [tdxVerifier.type, tdxVerifier as EvidenceVerifier<never>],
  ['az-snp-vtpm', azSnpVtpmVerifier()],
  ['az-tdx-vtpm', azTdxVtpmVerifier()],
  ['gotpm', gotpmVerifier()],
  ['automata', automataVerifier()],
  ['cosmian', cosmianVerifier()],
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
  configured.set('az-snp-vtpm', azSnpVtpmVerifier(options.snp))
  configured.set('az-tdx-vtpm', azTdxVtpmVerifier(options.tdx))
  const tdx: TeeOptions = options.tdx === undefined ? {} : { tdx: options.tdx }
  // gotpm checks an embedded SNP report / TD quote with the `snp` / `tdx` settings.
  configured.set('gotpm', gotpmVerifier({ ...(teeSnp === undefined ? {} : { snp: teeSnp }), ...tdx }))
  // automata checks its SNP report / TD quote with the `snp` / `tdx` settings (VMPL at the verifier, as az-snp-vtpm).
  const atVerifier: TeeOptions = { ...(options.snp === undefined ? {} : { snp: options.snp }), ...tdx }
  configured.set('automata', automataVerifier(atVerifier))
  // cosmian likewise (its TEE quote is a plain SNP report or TD quote; VMPL at the verifier).
  configured.set('cosmian', cosmianVerifier(atVerifier))
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
