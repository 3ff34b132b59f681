import { TEE_TPM_TIES, type JsonValue } from '../evidence/types.js'
import type { AppraisalClaims } from './claim-catalogue.js'
import { evaluateExpectedClaim, type ClaimResult, type ExpectedClaim } from './expected-claims.js'
import {
  CONFIGURATION,
  EXECUTABLES,
  FILE_SYSTEM,
  HARDWARE,
  INSTANCE_IDENTITY,
  TRUST_NONE,
  worstStatus,
  type EarStatus,
  type TrustClaimName,
  type TrustVector,
} from './trust-vector.js'

/**
 * The EAR `ear.appraisal-policy-id` of this appraisal: claims against the registered
 * reference-value sets (catalogue, operators, windows, revocation) mapped to AR4SI as documented
 * on {@link appraise}. Changes when that mapping changes.
 */
export const APPRAISAL_POLICY_ID = 'https://keybroker.dev/appraisal/reference-values/v1'

/** Where a reference value came from (admin entry, signed bundle, Automata document); JSON. */
export type Provenance = { readonly source: string } & { readonly [k: string]: JsonValue }

/** One reference value of a set: a launch measurement, optionally with claims of its own. */
export interface ReferenceValue {
  /** Lowercase (or any case) hex. */
  readonly value: string
  readonly revokedAt: Date | null
  readonly notBefore?: Date | null
  readonly notAfter?: Date | null
  /** Further claims this value expects (besides the set's). */
  readonly expect?: readonly ExpectedClaim[]
  readonly provenance?: Provenance | null
}

/**
 * A reference-value set as appraisal needs it (structurally what the services build from
 * storage). A set applies to evidence of `evidenceType` only, when given. It matches claims when
 * one of its values is the measurement (active, inside its validity window) or it lists no
 * values but expects claims, and every expected claim of the set and of that value holds.
 */
export interface ReferenceValueSet {
  readonly name: string
  readonly allowDebug: boolean
  readonly version?: number
  readonly evidenceType?: string | null
  readonly expect?: readonly ExpectedClaim[]
  readonly measurements: readonly ReferenceValue[]
}

/** The claims appraisal looks at; both fresh evidence claims and a token's claims fit. */
export type AppraisedClaims = AppraisalClaims

export type ValueState = 'active' | 'revoked' | 'not-yet-valid' | 'expired' | 'absent' | 'unconstrained'

/** The appraisal of the claims against one set. */
export interface SetAppraisal {
  readonly set: string
  readonly version: number | undefined
  /** False when the set is for another evidence type (then nothing else was judged). */
  readonly applicable: boolean
  /** The value holding the measurement, if any; `unconstrained` for a set without values. */
  readonly value: { readonly measurement: string | null; readonly state: ValueState; readonly provenance: Provenance | null }
  readonly claims: readonly ClaimResult[]
  readonly matched: boolean
}

/** A value that matched, with its provenance: what appraisal results name. */
export interface MatchedValue {
  readonly set: string
  readonly version: number | undefined
  readonly measurement: string | null
  readonly provenance: Provenance | null
}

export interface Appraisal {
  readonly status: EarStatus
  readonly trustVector: TrustVector
  /** Sets that match the claims (an active value and every expected claim). */
  readonly matched: readonly string[]
  /** Sets holding the measurement as a revoked value. */
  readonly revokedIn: readonly string[]
  /** True when debug is off, or on and every matched set allows it (and at least one matched). */
  readonly isDebugAcceptable: boolean
  /** Per set: which value, which claims, with what result. */
  readonly sets: readonly SetAppraisal[]
  readonly matchedValues: readonly MatchedValue[]
}

export interface AppraiseOptions {
  /** For validity windows; a value with a window never matches without it. */
  readonly now?: Date
  /**
   * The service's highest accepted SEV-SNP VMPL (KEYBROKER_SNP_MAX_VMPL). A set that expects no
   * `vmpl` claim of its own gets it as an implicit expectation (`vmpl` oneOf 0…maxVmpl) for
   * evidence whose claims carry a VMPL; a set that expects `vmpl` decides for itself (an SVSM
   * guest runs at VMPL 2). Omitted: no implicit expectation.
   */
  readonly maxVmpl?: number
}

/**
 * Appraises claims against reference-value sets (docs/architecture.md, "Appraisal and policy") and maps
 * the outcome to the AR4SI trust vector:
 *
 * - executables: approved when a set matches; contraindicated when any set revoked the
 *   measurement (this outweighs any match); otherwise the failure of an `executables` claim of
 *   a set whose value was found (unsafe), else unrecognized;
 * - configuration: unsafe when debug is on and not allowed by every matching set, or when no set
 *   matched and a `configuration` claim failed; otherwise approved;
 * - hardware: no claim for unsigned evidence; unsafe when no set matched and a `hardware` claim
 *   (TCB, TCB status) failed; lowered further by an Intel TCB status that is not up to date
 *   ({@link hardwareFromTcbStatus}); otherwise genuine;
 * - instance-identity (only for composite evidence: a TEE report and a vTPM quote): trustworthy
 *   when something ties the vTPM's AK to the TEE report, unrecognized otherwise
 *   ({@link instanceIdentityClaim});
 * - file-system (only when a set expects IMA files): approved, unrecognized (unknown files with
 *   `warn`), or contraindicated (a digest mismatch, or unknown files with `deny`).
 *
 * Pure: no clock (pass `now`), no I/O. Measurements compare as lowercase hex.
 */
export function appraise(claims: AppraisedClaims, sets: readonly ReferenceValueSet[], options: AppraiseOptions = {}): Appraisal {
  const measurement = claims.measurement.toLowerCase()
  const results = sets.map((set) => appraiseSet(claims, measurement, set, options))
  const matched = results.filter((r) => r.matched).map((r) => r.set)
  const revokedIn = results.filter((r) => r.value.state === 'revoked').map((r) => r.set)
  const isDebugAcceptable = !claims.debug || (matched.length > 0 && results.every((r) => !r.matched || setNamed(sets, r.set)?.allowDebug === true))

  // Sets whose value was found (or that constrain no value) but whose claims failed: their
  // failures say what is wrong when nothing matched.
  const candidates = results.filter((r) => r.applicable && (r.value.state === 'active' || r.value.state === 'unconstrained'))
  const failed = (trust: TrustClaimName) => matched.length === 0 && candidates.some((r) => r.claims.some((c) => !c.passed && c.trust === trust))

  const executables =
    revokedIn.length > 0
      ? EXECUTABLES.CONTRAINDICATED_RUNTIME
      : matched.length > 0
        ? EXECUTABLES.APPROVED_RUNTIME
        : failed('executables')
          ? EXECUTABLES.UNSAFE_RUNTIME
          : EXECUTABLES.UNRECOGNIZED_RUNTIME
  const trustVector: { -readonly [K in TrustClaimName]?: number } = {
    executables,
    configuration: isDebugAcceptable && !failed('configuration') ? CONFIGURATION.APPROVED : CONFIGURATION.UNSAFE,
    // Unsigned development evidence says nothing about hardware: "no claim", not "genuine".
    hardware: !claims.hardwareBacked
      ? TRUST_NONE.NO_CLAIM
      : Math.max(failed('hardware') ? HARDWARE.UNSAFE : HARDWARE.GENUINE, hardwareFromTcbStatus(claims.tcb?.['status'])),
  }
  const instanceIdentity = instanceIdentityClaim(claims.teeTpmTie)
  if (instanceIdentity !== undefined) trustVector['instance-identity'] = instanceIdentity
  const fileSystem = fileSystemClaim(matched.length > 0 ? results.filter((r) => r.matched) : candidates)
  if (fileSystem !== undefined) trustVector['file-system'] = fileSystem

  const matchedValues = results
    .filter((r) => r.matched)
    .map((r) => ({ set: r.set, version: r.version, measurement: r.value.measurement, provenance: r.value.provenance }))
  return { status: worstStatus(trustVector), trustVector, matched, revokedIn, isDebugAcceptable, sets: results, matchedValues }
}

/**
 * The AR4SI instance-identity claim of composite evidence (a TEE report plus a vTPM quote): the
 * vTPM is a recognized part of the attested instance when something ties its AK to the TEE
 * report (`TeeTpmTie`); when nothing does (`none`) — or the tie is one this code does not know —
 * the instance is unrecognized, which is contraindicated: the PCRs and the quote's freshness may
 * come from another machine. Other evidence makes no instance-identity claim.
 */
export function instanceIdentityClaim(tie: string | undefined): number | undefined {
  if (tie === undefined) return undefined
  return TIED.has(tie) ? INSTANCE_IDENTITY.TRUSTWORTHY : INSTANCE_IDENTITY.UNRECOGNIZED
}

const TIED: ReadonlySet<string> = new Set(TEE_TPM_TIES.filter((t) => t !== 'none'))

/**
 * The AR4SI hardware claim of an Intel TCB status (TDX TCB evaluation, Intel's "TCB status"
 * values). UpToDate and SWHardeningNeeded (up to date; software mitigations apply, advisory
 * ids stay in the claims) are genuine; a platform that needs configuration or an update is
 * genuine but with known vulnerabilities (warning); Revoked is contraindicated. Evidence without
 * a TCB status (SNP: TCB floors are checked by the verifier) is genuine here.
 */
export function hardwareFromTcbStatus(status: number | string | undefined): number {
  switch (status) {
    case undefined:
    case 'UpToDate':
    case 'SWHardeningNeeded':
      return HARDWARE.GENUINE
    case 'ConfigurationNeeded':
    case 'ConfigurationAndSWHardeningNeeded':
    case 'OutOfDate':
    case 'OutOfDateConfigurationNeeded':
      return HARDWARE.UNSAFE
    case 'Revoked':
      return HARDWARE.CONTRAINDICATED
    default:
      // An unknown status is not a reason to trust: treat it as unrecognized (contraindicated tier).
      return HARDWARE.UNRECOGNIZED
  }
}

function setNamed(sets: readonly ReferenceValueSet[], name: string): ReferenceValueSet | undefined {
  return sets.find((s) => s.name === name)
}

function appraiseSet(claims: AppraisedClaims, measurement: string, set: ReferenceValueSet, options: AppraiseOptions): SetAppraisal {
  const now = options.now
  const base = { set: set.name, version: set.version }
  if (set.evidenceType !== undefined && set.evidenceType !== null && set.evidenceType !== claims.evidenceType) {
    return { ...base, applicable: false, value: { measurement: null, state: 'absent', provenance: null }, claims: [], matched: false }
  }
  const setExpect = set.expect ?? []
  let value: SetAppraisal['value']
  let valueExpect: readonly ExpectedClaim[] = []
  if (set.measurements.length === 0) {
    value = { measurement: null, state: 'unconstrained', provenance: null }
  } else {
    const found = set.measurements.find((m) => m.value.toLowerCase() === measurement)
    if (found === undefined) value = { measurement: null, state: 'absent', provenance: null }
    else {
      value = { measurement, state: valueState(found, now), provenance: found.provenance ?? null }
      valueExpect = found.expect ?? []
    }
  }
  const judged = value.state === 'active' || value.state === 'unconstrained'
  const expectations = [...setExpect, ...valueExpect]
  const results = judged ? expectations.map((e) => evaluateExpectedClaim(e, claims)) : []
  const vmpl = claims.raw?.['vmpl']
  if (judged && options.maxVmpl !== undefined && typeof vmpl === 'number' && !expectations.some((e) => e.claim === 'vmpl')) {
    const allowed = Array.from({ length: options.maxVmpl + 1 }, (_, i) => i)
    results.push({ claim: 'vmpl', op: 'oneOf', expected: allowed, actual: vmpl, passed: allowed.includes(vmpl), trust: 'configuration', implicit: true })
  }
  // A set that constrains neither a value nor a claim matches nothing.
  const constrains = value.state === 'active' || results.length > 0
  return { ...base, applicable: true, value, claims: results, matched: judged && constrains && results.every((r) => r.passed) }
}

function valueState(v: ReferenceValue, now: Date | undefined): ValueState {
  if (v.revokedAt !== null) return 'revoked'
  const hasWindow = (v.notBefore ?? null) !== null || (v.notAfter ?? null) !== null
  if (!hasWindow) return 'active'
  // A windowed value is judged only against a clock; without one it fails closed.
  if (now === undefined) return 'not-yet-valid'
  if (v.notBefore && now.getTime() < v.notBefore.getTime()) return 'not-yet-valid'
  if (v.notAfter && now.getTime() > v.notAfter.getTime()) return 'expired'
  return 'active'
}

function fileSystemClaim(relevant: readonly SetAppraisal[]): number | undefined {
  const ima = relevant.flatMap((r) => r.claims.filter((c) => c.trust === 'file-system'))
  if (ima.length === 0) return undefined
  if (ima.some((c) => !c.passed)) return FILE_SYSTEM.CONTRAINDICATED
  if (ima.some((c) => c.warning === true)) return FILE_SYSTEM.UNRECOGNIZED
  return FILE_SYSTEM.APPROVED
}
