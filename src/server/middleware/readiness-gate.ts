import type { MiddlewareHandler } from 'hono'
import type { Readiness } from '../../services/readiness.js'
import type { AppEnv } from '../context.js'

export interface ReadinessGateOptions {
  /** Read per request (the OpenAPI generator builds the app without services). */
  readonly services: { readonly readiness: Readiness }
  /** Paths answered whatever the state (liveness and readiness probes, the API document). */
  readonly exempt?: readonly string[]
}

/**
 * Refuses requests with 503 `not-ready` (and `Retry-After`) while the service waits for its
 * database at start or knows it to be unreachable, instead of letting each request wait for a
 * connection that will not come.
 */
export function readinessGate(options: ReadinessGateOptions): MiddlewareHandler<AppEnv> {
  // The API document needs no database either.
  const exempt = new Set(options.exempt ?? ['/healthz', '/readyz', '/openapi.json'])
  return async function readinessGateMiddleware(c, next) {
    if (!exempt.has(c.req.path)) options.services.readiness.assertServing()
    await next()
  }
}
