import type { JsonValue } from '../evidence/types.js'

/**
 * A reference-value set as a signed document carries it, before the service checks its claims
 * against the catalogue (the same check as for an admin's input). Times are RFC 3339 strings.
 */
export interface BundleSet {
  readonly name: string
  readonly evidenceType?: string | undefined
  readonly allowDebug: boolean
  readonly expect: readonly JsonValue[]
  readonly values: readonly BundleValue[]
}

export interface BundleValue {
  readonly measurement: string
  readonly notBefore?: string | undefined
  readonly notAfter?: string | undefined
  readonly expect?: readonly JsonValue[] | undefined
}
