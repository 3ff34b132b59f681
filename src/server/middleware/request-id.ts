import { randomUUID } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../context.js'

export interface RequestIdOptions {
  readonly header?: string
}

const ACCEPTABLE = /^[A-Za-z0-9._-]{1,64}$/

/**
 * Sets `requestId`: the client's `X-Request-Id` when short and made of safe characters,
 * otherwise a fresh UUID (docs/conventions.md §7); echoed in the response and used as problem `instance`.
 */
export function requestId(options: RequestIdOptions = {}): MiddlewareHandler<AppEnv> {
  const header = options.header ?? 'X-Request-Id'
  return async function requestIdMiddleware(c, next) {
    const given = c.req.header(header)
    const id = given !== undefined && ACCEPTABLE.test(given) ? given : randomUUID()
    c.set('requestId', id)
    c.header(header, id)
    await next()
  }
}
