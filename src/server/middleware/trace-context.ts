import { randomBytes } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../context.js'

// W3C Trace Context, version 00: 00-<trace-id 32 hex>-<parent-id 16 hex>-<flags 2 hex>.
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)

/**
 * Accepts a valid `traceparent` (W3C Trace Context) and continues its trace, or starts a new
 * one; either way keybroker's own span id is fresh. The context goes into the access log
 * (`traceId`, `spanId`) and back to the caller as `traceparent`, so that a proxy's or client's
 * trace finds keybroker's log lines. An invalid header is ignored, as the specification says.
 */
export function traceContext(): MiddlewareHandler<AppEnv> {
  return async function traceContextMiddleware(c, next) {
    const given = TRACEPARENT.exec(c.req.header('traceparent')?.trim().toLowerCase() ?? '')
    const valid = given !== null && given[1] !== ZERO_TRACE && given[2] !== ZERO_SPAN
    const trace = {
      traceId: valid ? (given[1] ?? '') : randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      parentId: valid ? given[2] : undefined,
      flags: valid ? (given[3] ?? '00') : '00',
    }
    c.set('trace', trace)
    c.header('traceparent', `00-${trace.traceId}-${trace.spanId}-${trace.flags}`)
    await next()
  }
}
