import type { MiddlewareHandler } from 'hono'
import type { Logger } from '../../log/logger.js'
import type { Metrics } from '../../metrics/metrics.js'
import { clientIp } from '../client-ip.js'
import type { AppEnv } from '../context.js'

export interface AccessLogOptions {
  readonly log: Logger
  /** Read per request: the app for the OpenAPI generator is built before any services exist. */
  readonly metrics: () => Metrics
}

/**
 * One structured line per request — request id, trace, method, route pattern, status, problem
 * code, duration, client IP, and on admin calls the token id and role — and the request
 * metrics (count by route, status and problem; the attest latency). Never bodies or headers.
 */
export function accessLog(options: AccessLogOptions): MiddlewareHandler<AppEnv> {
  return async function accessLogMiddleware(c, next) {
    const started = performance.now()
    await next()
    const seconds = (performance.now() - started) / 1000
    const problem = c.get('problem')
    const admin = c.get('admin') as AppEnv['Variables']['admin'] | undefined
    const trace = c.get('trace') as AppEnv['Variables']['trace'] | undefined
    options.log.info('request', {
      requestId: c.get('requestId'),
      traceId: trace?.traceId,
      spanId: trace?.spanId,
      method: c.req.method,
      route: c.req.routePath,
      status: c.res.status,
      problem,
      ms: Math.round(seconds * 10_000) / 10,
      clientIp: clientIp(c) || undefined,
      adminTokenId: admin?.id,
      adminRole: admin?.role,
    })
    const metrics = options.metrics()
    metrics.requests.inc({ method: c.req.method, route: c.req.routePath, status: String(c.res.status), problem: problem ?? '' })
    if (c.req.routePath === '/v1/attest' && c.req.method === 'POST') metrics.attestDuration.observe({ outcome: problem ?? 'ok' }, seconds)
  }
}
