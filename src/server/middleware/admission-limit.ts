import type { MiddlewareHandler } from 'hono'
import { KeybrokerError } from '../../errors.js'
import type { AppEnv } from '../context.js'

export interface AdmissionLimitOptions {
  /** Requests worked on at once; the next is refused. */
  readonly maxInFlight: number
  /** `Retry-After` of a refusal. */
  readonly retryAfterSeconds: number
  /** The clock (tests). */
  readonly now?: () => number
}

export interface AdmissionLimit {
  readonly middleware: MiddlewareHandler<AppEnv>
  /**
   * Whether the bound is being hit: every slot taken now, or a request shed within the last
   * `retryAfterSeconds` (the clients it shed are about to come back).
   */
  isSaturated(): boolean
}

/**
 * Load shedding: at most `maxInFlight` requests behind this middleware are in progress at once
 * in this process; beyond that the answer is 503 `overloaded` with `Retry-After`, at once and
 * before the body is read, instead of queueing work the CPU cannot do before clients time out.
 * One instance is one shared counter (every attestation route uses the same one).
 */
export function admissionLimit(options: AdmissionLimitOptions): AdmissionLimit {
  const now = options.now ?? Date.now
  let inFlight = 0
  let lastShedAt = -Infinity
  const middleware: MiddlewareHandler<AppEnv> = async function admissionLimitMiddleware(_c, next) {
    if (inFlight >= options.maxInFlight) {
      lastShedAt = now()
      // The body stays unread: the problem answer closes the connection (see problemResponse).
      throw new KeybrokerError('overloaded', `more than ${options.maxInFlight} attestations in progress`, {
        extensions: { retryAfterSeconds: options.retryAfterSeconds },
      })
    }
    inFlight++
    try {
      await next()
    } finally {
      inFlight--
    }
  }
  return {
    middleware,
    isSaturated: () => inFlight >= options.maxInFlight || now() - lastShedAt < options.retryAfterSeconds * 1000,
  }
}
