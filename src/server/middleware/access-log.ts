import type { MiddlewareHandler } from 'hono'
import type { Logger } from '../../log/logger.js'
import type { AppEnv } from '../context.js'

export interface AccessLogOptions {
  readonly log: Logger
}

/** One structured line per request: method, route pattern, status, duration. Never bodies or headers. */
export function accessLog(options: AccessLogOptions): MiddlewareHandler<AppEnv> {
  return async function accessLogMiddleware(c, next) {
    const started = performance.now()
    await next()
    options.log.info('request', {
      requestId: c.get('requestId'),
      method: c.req.method,
      route: c.req.routePath,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    })
  }
}
