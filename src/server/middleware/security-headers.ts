import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../context.js'

/** Responses carry tokens and sealed secrets: never cache them, never sniff them. */
export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async function securityHeadersMiddleware(c, next) {
    await next()
    c.header('Cache-Control', 'no-store')
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Referrer-Policy', 'no-referrer')
  }
}
