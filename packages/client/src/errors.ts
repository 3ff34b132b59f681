/**
 * The errors a keybroker client throws. Each class stands for one kind of failure, so callers
 * branch with `instanceof` and then on `code`:
 * - `KeybrokerClientError`: keybroker answered with an RFC 9457 problem document;
 * - `KeybrokerResponseError`: the answer was not what keybroker sends (not JSON, wrong shape:
 *   a proxy's error page, a different service);
 * - `KeybrokerConnectionError`: no answer (network error, timeout, TLS or pin mismatch).
 */

/** A failed release rule as a denial lists it. */
export interface FailedRule {
  readonly secret?: string
  readonly rule: string
  readonly [member: string]: unknown
}

/** An RFC 9457 problem document as keybroker writes it (`type` ends in the stable code). */
export interface Problem {
  readonly type?: string
  readonly title?: string
  readonly status?: number
  readonly detail?: string
  readonly instance?: string
  readonly failedRules?: readonly FailedRule[]
  readonly [member: string]: unknown
}

/** keybroker refused the request: the HTTP status and the problem document. */
export class KeybrokerClientError extends Error {
  /** The problem type's last path segment, e.g. `nonce-reused`, `policy-denied`. */
  readonly code: string
  /** Seconds from the `Retry-After` header, when the answer carried one. */
  readonly retryAfterSeconds: number | undefined

  constructor(
    readonly status: number,
    readonly problem: Problem,
    retryAfterSeconds?: number,
  ) {
    const code = (typeof problem.type === 'string' ? problem.type : '').split('/').pop() ?? ''
    super(`keybroker answered ${status}: ${code} ${typeof problem.detail === 'string' ? problem.detail : ''}`.trim())
    this.name = 'KeybrokerClientError'
    this.code = code
    this.retryAfterSeconds = retryAfterSeconds
  }

  /** The rules a denial names (`policy-denied` and friends); empty otherwise. */
  get failedRules(): readonly FailedRule[] {
    return Array.isArray(this.problem.failedRules) ? this.problem.failedRules : []
  }
}

/** The answer was not a keybroker answer: not JSON, or JSON of the wrong shape. */
export class KeybrokerResponseError extends Error {
  readonly code = 'invalid-response'
  constructor(
    readonly status: number,
    readonly contentType: string | undefined,
    /** Why the answer was refused, e.g. `not JSON`, `no token`. */
    readonly reason: string,
    /** The first 200 characters of the body, for a log line. */
    readonly bodyExcerpt: string,
  ) {
    super(`unexpected answer (HTTP ${status}, ${contentType ?? 'no content type'}): ${reason}`)
    this.name = 'KeybrokerResponseError'
  }
}

export type ConnectionFailure = 'network' | 'timeout' | 'pin-mismatch' | 'tls'

/** No answer: the connection failed, timed out, or the server's certificate did not match the pin. */
export class KeybrokerConnectionError extends Error {
  /**
   * The connection failed before a byte of the request was written (refused, reset or closed
   * during the TLS handshake, as keybroker does beyond KEYBROKER_MAX_CONNECTIONS): the server saw
   * nothing, so any request, even one that is not idempotent, may be sent again.
   */
  readonly beforeRequest: boolean

  constructor(
    readonly code: ConnectionFailure,
    message: string,
    options?: { cause?: unknown; beforeRequest?: boolean },
  ) {
    super(message, options)
    this.name = 'KeybrokerConnectionError'
    this.beforeRequest = options?.beforeRequest ?? false
  }
}
