/**
 * AR4SI trustworthiness vector (draft-ietf-rats-ar4si, "Trustworthiness Claims"), as carried in
 * the EAR `ear.trustworthiness-vector` (draft-ietf-rats-ear). Each claim is an integer in
 * -128..127; its tier follows from its range (AR4SI "Trustworthiness Tiers"):
 * none [-1, 1], affirming [-32, -2] ∪ [2, 31], warning [-96, -33] ∪ [32, 95],
 * contraindicated [-128, -97] ∪ [96, 127]. The constants mirror the draft's enumerations
 * (and the Veraison reference implementation's names).
 */

/** The eight AR4SI claim names, exactly as the JSON serialization spells them. */
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
export type TrustClaimName = (typeof TRUST_CLAIMS)[number]

/** A trust vector: absent claims mean "no claim" (AR4SI says 0 and absence are equivalent). */
export type TrustVector = Readonly<Partial<Record<TrustClaimName, number>>>

/** Values shared by every claim. */
export const TRUST_NONE = {
  VERIFIER_MALFUNCTION: -1,
  NO_CLAIM: 0,
  UNEXPECTED_EVIDENCE: 1,
  CRYPTO_VALIDATION_FAILED: 99,
} as const

export const INSTANCE_IDENTITY = { TRUSTWORTHY: 2, UNTRUSTWORTHY: 96, UNRECOGNIZED: 97 } as const
export const CONFIGURATION = { APPROVED: 2, NO_KNOWN_VULNERABILITIES: 3, UNSAFE: 32, UNSUPPORTABLE: 96 } as const
export const EXECUTABLES = {
  APPROVED_RUNTIME: 2,
  APPROVED_BOOT: 3,
  UNSAFE_RUNTIME: 32,
  UNRECOGNIZED_RUNTIME: 33,
  CONTRAINDICATED_RUNTIME: 96,
} as const
export const FILE_SYSTEM = { APPROVED: 2, UNRECOGNIZED: 32, CONTRAINDICATED: 96 } as const
export const HARDWARE = { GENUINE: 2, UNSAFE: 32, CONTRAINDICATED: 96, UNRECOGNIZED: 97 } as const
export const RUNTIME_OPAQUE = { ENCRYPTED_MEMORY: 2, ISOLATED_MEMORY: 32, VISIBLE_MEMORY: 96 } as const
export const STORAGE_OPAQUE = { HW_KEYS_ENCRYPTED: 2, SW_KEYS_ENCRYPTED: 32, UNENCRYPTED: 96 } as const
export const SOURCED_DATA = { TRUSTED: 2, UNTRUSTED: 32, CONTRAINDICATED: 96 } as const

export type TrustTier = 'none' | 'affirming' | 'warning' | 'contraindicated'
/** EAR status values (draft-ietf-rats-ear `ear.status`); same names as the non-none tiers. */
export type EarStatus = Exclude<TrustTier, 'none'>
export const EAR_STATUSES = ['affirming', 'warning', 'contraindicated'] as const satisfies readonly EarStatus[]

/** True for an integer in the AR4SI claim range -128..127. */
export function isTrustClaimValue(value: number): boolean {
  return Number.isInteger(value) && value >= -128 && value <= 127
}

/**
 * The AR4SI tier of a claim value.
 * @throws RangeError when `value` is not an integer in -128..127 (a programming error).
 */
export function trustTier(value: number): TrustTier {
  if (!isTrustClaimValue(value)) throw new RangeError(`not an AR4SI claim value: ${value}`)
  const magnitude = Math.abs(value)
  if (magnitude <= 1) return 'none'
  // Negative values mirror the positive ranges shifted by one (AR4SI tiers table).
  const v = value < 0 ? magnitude - 1 : magnitude
  if (v <= 31) return 'affirming'
  if (v <= 95) return 'warning'
  return 'contraindicated'
}

/**
 * The worst tier across a vector, as an EAR status: any contraindicated claim wins, then any
 * warning; otherwise affirming (AR4SI leaves the aggregation to the verifier's policy; this is
 * the conservative default).
 */
export function worstStatus(vector: TrustVector): EarStatus {
  let status: EarStatus = 'affirming'
  for (const name of TRUST_CLAIMS) {
    const value = vector[name]
    if (value === undefined) continue
    const tier = trustTier(value)
    if (tier === 'contraindicated') return 'contraindicated'
    if (tier === 'warning') status = 'warning'
  }
  return status
}
