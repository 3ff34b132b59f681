import { createRoute, z } from '@hono/zod-openapi'
import type { App } from '../app.js'
import { openApiDocument } from '../openapi-document.js'

const documentRoute = createRoute({
  method: 'get',
  path: '/openapi.json',
  tags: ['meta'],
  summary: 'This API as an OpenAPI 3.1 document (the same as openapi/openapi.json)',
  responses: {
    200: {
      description: 'the OpenAPI document',
      content: { 'application/json': { schema: z.object({ openapi: z.string() }).passthrough().openapi('OpenApiDocument') } },
    },
  },
})

/** `GET /openapi.json`: built once, on first request, from the routes of this app. */
export function registerOpenApiRoute(app: App): void {
  let document: ReturnType<typeof openApiDocument> | undefined
  app.openapi(documentRoute, (c) => {
    document ??= openApiDocument(app)
    return c.json(document, 200, { 'Cache-Control': 'public, max-age=300' })
  })
}
