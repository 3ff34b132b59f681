import { CONFIGURATION, EXECUTABLES, HARDWARE, TRUST_NONE, worstStatus, type EarStatus, type TrustVector } from './trust-vector.js'

/** A reference-value set as appraisal needs it (structurally what storage returns). */
export interface ReferenceValueSet {
  readonly name: string
  readonly allowDebug: boolean
  readonly measurements: readonly { readonly value: string; readonly revokedAt: Date | null }[]
}

/** The claims appraisal looks at; both fresh evidence claims and a token's claims fit. */
export interface AppraisedClaims {
  readonly measurement: string
  readonly debug: boolean
  readonly hardwareBacked: boolean
}

export interface Appraisal {
  readonly status: EarStatus
  readonly trustVector: TrustVector
  /** Sets holding the measurement as an active (not revoked) value. */
  readonly matched: readonly string[]
  /** Sets holding the measurement as a revoked value. */
  readonly revokedIn: readonly string[]
  /** True when debug is off, or on and every matched set allows it (and at least one matched). */
  readonly isDebugAcceptable: boolean
}

/**
 * Appraises claims against reference-value sets (DESIGN.md, "Appraisal and policy"): the
 * measurement must be an active value of one of the sets; a revoked value is contraindicated
 * and outweighs any match; debug is acceptable only where a matching set allows it.
 * Pure: no clock, no I/O. Measurements compare as lowercase hex.
 */
export function appraise(claims: AppraisedClaims, sets: readonly ReferenceValueSet[]): Appraisal {
  const measurement = claims.measurement.toLowerCase()
  const matched: string[] = []
  const revokedIn: string[] = []
  for (const set of sets) {
    const value = set.measurements.find((m) => m.value.toLowerCase() === measurement)
    if (value === undefined) continue
    if (value.revokedAt === null) matched.push(set.name)
    else revokedIn.push(set.name)
  }
  const isDebugAcceptable =
    !claims.debug || (matched.length > 0 && sets.every((s) => !matched.includes(s.name) || s.allowDebug))
  const executables =
    revokedIn.length > 0
      ? EXECUTABLES.CONTRAINDICATED_RUNTIME
      : matched.length > 0
        ? EXECUTABLES.APPROVED_RUNTIME
        : EXECUTABLES.UNRECOGNIZED_RUNTIME
  const trustVector: TrustVector = {
    executables,
    configuration: isDebugAcceptable ? CONFIGURATION.APPROVED : CONFIGURATION.UNSAFE,
    // Unsigned development evidence says nothing about hardware: "no claim", not "genuine".
    hardware: claims.hardwareBacked ? HARDWARE.GENUINE : TRUST_NONE.NO_CLAIM,
  }
  return { status: worstStatus(trustVector), trustVector, matched, revokedIn, isDebugAcceptable }
}
