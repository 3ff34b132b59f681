import type { MiddlewareHandler } from 'hono'
import { KeybrokerError } from '../../errors.js'
import { authenticateAdminToken } from '../../services/admin-tokens.js'
import type { Services } from '../../services/services.js'
import type { AdminRole, AppEnv } from '../context.js'

export interface AdminAuthOptions {
  readonly services: Services
  /** Roles allowed to call the route. */
  readonly roles: readonly AdminRole[]
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{16,512})$/

/**
 * Admin bearer authentication: the token is hashed and looked up (tokens are stored hashed);
 * missing or unknown → 401, known but lacking the role → 403.
 */
export function adminAuth(options: AdminAuthOptions): MiddlewareHandler<AppEnv> {
  return async function adminAuthMiddleware(c, next) {
    const header = c.req.header('Authorization')
    const match = header === undefined ? null : BEARER.exec(header)
    if (match === null || match[1] === undefined) {
      throw new KeybrokerError('unauthorized', 'an admin bearer token is required')
    }
    const principal = await authenticateAdminToken(options.services, match[1])
    if (principal === undefined) {
      throw new KeybrokerError('unauthorized', 'unknown, revoked or expired admin token')
    }
    if (!options.roles.includes(principal.role)) {
      throw new KeybrokerError('forbidden', `role ${principal.role} may not do this`)
    }
    c.set('admin', principal)
    await next()
  }
}
