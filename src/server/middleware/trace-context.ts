import type { MiddlewareHandler } from 'hono'
import { continueTrace, traceparentHeader } from '../../log/trace-context.js'
import type { AppEnv } from '../context.js'

/**
 * Accepts a valid `traceparent` (W3C Trace Context) and continues its trace, or starts a new
 * one; either way keybroker's own span id is fresh (`src/log/trace-context.ts`). The context goes
 * into the access log (`traceId`, `spanId`), back to the caller as `traceparent`, and to the
 * services, which send a child span to every outgoing call (AMD KDS, Intel PCS, Cosmian agents).
 */
export function traceContext(): MiddlewareHandler<AppEnv> {
  return async function traceContextMiddleware(c, next) {
    const trace = continueTrace(c.req.header('traceparent'), c.req.header('tracestate'))
    c.set('trace', trace)
    c.header('traceparent', traceparentHeader(trace))
    await next()
  }
}
