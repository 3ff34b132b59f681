import { createRoute, z } from '@hono/zod-openapi'
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
  summary: 'Readiness: started, not shutting down, and the database is reachable',
  responses: {
    200: { description: 'ready', content: { 'application/json': { schema: StatusSchema } } },
    503: problemResponse('starting, shutting down, or the database is not reachable; Retry-After says when to ask again'),
  },
})

export function registerHealthRoutes(app: App, deps: AppDeps): void {
  app.openapi(healthz, (c) => c.json({ status: 'ok' }, 200))
  app.openapi(readyz, async (c) => {
    await deps.services.readiness.check()
    return c.json({ status: 'ready' }, 200)
  })
}
