import { createRoute, z } from '@hono/zod-openapi'
import { KeybrokerError } from '../../errors.js'
import type { App } from '../app.js'
import type { AppDeps } from '../context.js'
import { problemResponse } from '../schemas/common.js'

const StatusSchema = z.object({ status: z.string() }).openapi('Status')

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['health'],
  summary: 'Liveness: the process is up',
  responses: { 200: { description: 'up', content: { 'application/json': { schema: StatusSchema } } } },
})

const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['health'],
  summary: 'Readiness: the database is reachable',
  responses: {
    200: { description: 'ready', content: { 'application/json': { schema: StatusSchema } } },
    503: problemResponse('the database is not reachable'),
  },
})

export function registerHealthRoutes(app: App, deps: AppDeps): void {
  app.openapi(healthz, (c) => c.json({ status: 'ok' }, 200))
  app.openapi(readyz, async (c) => {
    try {
      await deps.services.database.ping()
    } catch (err) {
      throw new KeybrokerError('not-ready', 'database unreachable', { cause: err })
    }
    return c.json({ status: 'ready' }, 200)
  })
}
