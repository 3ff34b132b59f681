import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../context.js'

export interface SecurityHeadersOptions {
  /**
   * Send `Strict-Transport-Security` (RFC 6797): on when keybroker itself serves HTTPS. Behind a
   * TLS-terminating proxy (plain HTTP here) the proxy sends it; browsers ignore it over HTTP.
   */
  readonly hsts: boolean
}

/** One year, the value HSTS preload lists ask for; no `includeSubDomains`: other hosts are not ours. */
export const HSTS_VALUE = 'max-age=31536000'

/** Responses carry tokens and sealed secrets: never cache them, never sniff them; HTTPS only. */
export function securityHeaders(options: SecurityHeadersOptions): MiddlewareHandler<AppEnv> {
  return async function securityHeadersMiddleware(c, next) {
    await next()
    // Set on the answer's own headers. `c.header()` after the handler would copy the answer once
    // per call, and @hono/node-server would then send it from a stream instead of a string.
    const headers = c.res.headers
    if (options.hsts) headers.set('Strict-Transport-Security', HSTS_VALUE)
    headers.set('Cache-Control', 'no-store')
    headers.set('X-Content-Type-Options', 'nosniff')
    headers.set('Referrer-Policy', 'no-referrer')
  }
}
