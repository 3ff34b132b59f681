import type { Config } from '../config/config.js'
import type { Logger } from '../log/logger.js'
import type { Services } from '../services/services.js'

import type { AdminPrincipal } from '../services/admin-tokens.js'
import type { TraceContext } from '../log/trace-context.js'

export type { AdminPrincipal, AdminRole } from '../services/admin-tokens.js'
export type { TraceContext } from '../log/trace-context.js'

/** Per-request values, typed (docs/conventions.md §7: never `c.get('x') as any`). */
export interface AppVariables {
  requestId: string
  admin: AdminPrincipal
  /** The error code of a problem answer, for the access log and the request metrics. */
  problem: string | undefined
  /** The W3C trace context of this request (`traceparent`), accepted from the client or started here. */
  trace: TraceContext
}

export interface AppEnv {
  Variables: AppVariables
}

/** Everything the HTTP layer needs; built once at start by `createServices`. */
export interface AppDeps {
  readonly config: Config
  readonly services: Services
  readonly log: Logger
}
