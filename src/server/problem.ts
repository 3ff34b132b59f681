import type { ErrorCode } from '../errors.js'

/**
 * The one mapping from error codes to HTTP (RFC 9457). The `Record` makes the compiler reject a
 * code without a status. The problem `type` is `PROBLEM_BASE + code`, stable per failure.
 */
export const PROBLEM_BASE = 'https://keybroker.dev/problems/'

export const PROBLEMS: Readonly<Record<ErrorCode, { readonly status: number; readonly title: string }>> = {
  'bad-request': { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Forbidden' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  'payload-too-large': { status: 413, title: 'Payload too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'nonce-invalid': { status: 400, title: 'Nonce invalid' },
  'nonce-expired': { status: 400, title: 'Nonce expired' },
  'nonce-reused': { status: 409, title: 'Nonce already used' },
  'binding-mismatch': { status: 403, title: 'Evidence not bound to this nonce and key' },
  'key-unsupported': { status: 400, title: 'Public key unsupported' },
  'token-invalid': { status: 401, title: 'Token invalid' },
  'evidence-malformed': { status: 400, title: 'Evidence malformed' },
  'evidence-unsupported': { status: 400, title: 'Evidence type or version unsupported' },
  'signature-invalid': { status: 403, title: 'Evidence signature invalid' },
  'chain-untrusted': { status: 403, title: 'Endorsement chain untrusted' },
  'collateral-missing': { status: 422, title: 'Collateral missing' },
  'debug-enabled': { status: 403, title: 'Debug enabled' },
  'tcb-below-minimum': { status: 403, title: 'TCB below minimum' },
  'policy-violation': { status: 403, title: 'Guest policy violates configuration' },
  'event-log-mismatch': { status: 403, title: 'Event log does not replay to the measured registers' },
  'tee-tpm-mismatch': { status: 403, title: 'TEE report and TPM quote are not of one VM' },
  'measurement-unknown': { status: 403, title: 'Measurement unknown' },
  'policy-denied': { status: 403, title: 'Release policy denied' },
  'csr-malformed': { status: 400, title: 'Certificate signing request malformed' },
  'csr-signature-invalid': { status: 400, title: 'Certificate signing request signature invalid' },
  'csr-key-mismatch': { status: 403, title: 'Certificate signing request is not for the attested key' },
  'name-not-allowed': { status: 403, title: 'Requested subject or SAN not allowed by the profile' },
  'claim-unknown': { status: 400, title: 'Unknown claim or operator for this evidence type' },
  'policy-invalid': { status: 400, title: 'Policy rule does not compile' },
  'bundle-malformed': { status: 400, title: 'Bundle malformed' },
  'bundle-signer-unknown': { status: 422, title: 'Bundle signer is not a registered trust anchor' },
  'bundle-signature-invalid': { status: 422, title: 'Bundle signature invalid' },
  'bundle-expired': { status: 422, title: 'Bundle outside its validity period' },
  'bundle-rollback': { status: 409, title: 'Bundle older than the one already imported' },
  'agent-unreachable': { status: 502, title: 'The agent did not answer as expected' },
  'not-ready': { status: 503, title: 'Service not ready' },
  overloaded: { status: 503, title: 'Too many attestations in progress; retry after the given delay' },
  internal: { status: 500, title: 'Internal error' },
}

export interface ProblemDocument {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly detail: string
  readonly instance?: string
  readonly [extension: string]: unknown
}

/** Builds the problem document for `code`; `extensions` never override the standard members. */
export function problemFor(
  code: ErrorCode,
  detail: string,
  instance: string | undefined,
  extensions?: Readonly<Record<string, unknown>>,
): ProblemDocument {
  const { status, title } = PROBLEMS[code]
  return { ...extensions, type: `${PROBLEM_BASE}${code}`, title, status, detail, ...(instance ? { instance } : {}) }
}
