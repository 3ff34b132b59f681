/**
 * AR4SI trustworthiness vector (draft-ietf-rats-ar4si, §2.3) and the EAR status derived from it
 * (draft-ietf-rats-ear, §3.1: the status is the tier of the worst claim).
 *
 * Claim values are the draft's: 0 = no claim; 2..31 affirming; 32..95 warning;
 * 96..127 contraindicated.
 */
export const TRUST_CLAIMS = [
  'instance-identity',
  'configuration',
  'executables',
  'file-system',
  'hardware',
  'runtime-opaque',
  'storage-opaque',
  'sourced-data',
] as const
export type TrustClaim = (typeof TRUST_CLAIMS)[number]
export type TrustVector = Readonly<Partial<Record<TrustClaim, number>>>

export type EarStatus = 'affirming' | 'warning' | 'contraindicated' | 'none'

/** Values of the draft used by keybroker's appraisal, named after the draft's descriptions. */
export const AR4SI = {
  noClaim: 0,
  /** executables: only approved executables loaded. */
  executablesApproved: 2,
  /** executables: some executables are not recognized. */
  executablesUnrecognized: 33,
  /** executables: a known-bad (here: revoked) executable is loaded. */
  executablesContraindicated: 99,
  /** configuration: an approved configuration. */
  configurationApproved: 2,
  /** configuration: a configuration known to be unsafe (debug where not allowed). */
  configurationUnsafe: 96,
  /** hardware: a genuine TEE whose evidence verified. */
  hardwareGenuine: 2,
} as const

/** EAR status of one claim value. */
export function tierOf(value: number): EarStatus {
  if (value >= 96 && value <= 127) return 'contraindicated'
  if (value >= 32 && value <= 95) return 'warning'
  if (value >= 2 && value <= 31) return 'affirming'
  return 'none'
}

const RANK: Readonly<Record<EarStatus, number>> = { none: 0, affirming: 1, warning: 2, contraindicated: 3 }

/** The worst tier over the vector; an empty vector (no claims) gives `none`. */
export function statusOf(vector: TrustVector): EarStatus {
  let worst: EarStatus = 'none'
  for (const value of Object.values(vector)) {
    const tier = tierOf(value)
    if (RANK[tier] > RANK[worst]) worst = tier
  }
  return worst
}
