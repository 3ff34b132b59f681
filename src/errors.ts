/**
 * The one error type of keybroker. Every failure the service reports is a `KeybrokerError` with
 * a stable `code`; `src/server/problem.ts` maps each code to an HTTP status and an RFC 9457
 * problem `type` in one table, so the compiler catches a code that has no mapping.
 *
 * `detail` is for the client and must never carry secrets, keys, reference values or raw
 * evidence; `cause` is for the log only.
 */
export type ErrorCode =
  // request shape and transport
  | 'bad-request'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'method-not-allowed'
  | 'conflict'
  | 'payload-too-large'
  | 'unsupported-media-type'
  // attestation protocol
  | 'nonce-invalid'
  | 'nonce-expired'
  | 'nonce-reused'
  | 'binding-mismatch'
  | 'key-unsupported'
  | 'token-invalid'
  // evidence
  | 'evidence-malformed'
  | 'evidence-unsupported'
  | 'signature-invalid'
  | 'chain-untrusted'
  | 'collateral-missing'
  | 'debug-enabled'
  | 'tcb-below-minimum'
  | 'policy-violation'
  | 'event-log-mismatch'
  | 'tee-tpm-mismatch'
  // appraisal and release
  | 'measurement-unknown'
  | 'policy-denied'
  // certificate requests (attested CA)
  | 'csr-malformed'
  | 'csr-signature-invalid'
  | 'csr-key-mismatch'
  | 'name-not-allowed'
  // reference values, policies, signed bundles (admin input)
  | 'claim-unknown'
  | 'policy-invalid'
  | 'bundle-malformed'
  | 'bundle-signer-unknown'
  | 'bundle-signature-invalid'
  | 'bundle-expired'
  | 'bundle-rollback'
  // outbound (keybroker pulling from an agent: Cosmian VM)
  | 'agent-unreachable'
  // service
  | 'not-ready'
  | 'overloaded'
  | 'internal'

export class KeybrokerError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    options?: { cause?: unknown; extensions?: Readonly<Record<string, unknown>> },
  ) {
    super(`${code}: ${detail}`, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.extensions = options?.extensions
  }

  /** Extra members for the problem document (e.g. the failed rules of a denial); client-safe only. */
  readonly extensions: Readonly<Record<string, unknown>> | undefined
}

/** Thrown by evidence parsers and verifiers; narrows nothing but reads better at the call site. */
export class EvidenceError extends KeybrokerError {}

export function isKeybrokerError(err: unknown): err is KeybrokerError {
  return err instanceof KeybrokerError
}
