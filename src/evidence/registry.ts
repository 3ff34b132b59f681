import { KeybrokerError } from '../errors.js'
import { sampleVerifier } from './sample/verify.js'
import { snpVerifier } from './snp/index.js'
import type { EvidenceVerifier } from './types.js'

/**
 * The evidence verifiers keyed by `evidence.type`. A new evidence type plugs in here and
 * nowhere else. `sample` is present but the service refuses it unless explicitly enabled.
 */
const VERIFIERS: ReadonlyMap<string, EvidenceVerifier<never>> = new Map<string, EvidenceVerifier<never>>([
  [sampleVerifier.type, sampleVerifier as EvidenceVerifier<never>],
  [snpVerifier.type, snpVerifier as EvidenceVerifier<never>],
])

export const EVIDENCE_TYPES: readonly string[] = [...VERIFIERS.keys()]

export interface RegistryOptions {
  readonly allowSample: boolean
}

/** Looks up the verifier for `type`; `evidence-unsupported` when unknown or disabled. */
export function verifierFor(type: string, options: RegistryOptions): EvidenceVerifier<unknown> {
  if (type === 'sample' && !options.allowSample) {
    throw new KeybrokerError(
      'evidence-unsupported',
      'sample evidence is for development only and is disabled (set KEYBROKER_ALLOW_SAMPLE_EVIDENCE=1 outside production)',
    )
  }
  const verifier = VERIFIERS.get(type)
  if (verifier === undefined) {
    throw new KeybrokerError('evidence-unsupported', `unknown evidence type; supported: ${EVIDENCE_TYPES.join(', ')}`)
  }
  return verifier as EvidenceVerifier<unknown>
}
