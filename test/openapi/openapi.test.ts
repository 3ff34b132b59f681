import { readFileSync } from 'node:fs'
import SwaggerParser from '@apidevtools/swagger-parser'
import { describe, expect, it } from 'vitest'
import { appForDocument, openApiDocument } from '../../src/server/openapi.js'

const FILE = new URL('../../openapi/openapi.json', import.meta.url)

describe('openapi/openapi.json', () => {
  const generated = openApiDocument(appForDocument())

  it('is what the route schemas generate (run `npm run openapi` after changing a route)', () => {
    const committed: unknown = JSON.parse(readFileSync(FILE, 'utf8'))
    expect(committed).toEqual(JSON.parse(JSON.stringify(generated)))
  })

  it('validates as OpenAPI 3.1', async () => {
    const api = await SwaggerParser.validate(structuredClone(JSON.parse(readFileSync(FILE, 'utf8'))))
    expect('openapi' in api ? api.openapi : undefined).toBe('3.1.0')
  })

  it('documents every route the app serves, with problem+json errors', () => {
    const app = appForDocument()
    const documented = new Set(
      Object.entries(generated.paths ?? {}).flatMap(([path, item]) =>
        Object.keys(item ?? {}).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      ),
    )
    const served = app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`)
    expect(served.length).toBeGreaterThan(10)
    for (const route of served) expect(documented).toContain(route)
    for (const item of Object.values(generated.paths ?? {})) {
      for (const op of Object.values(item ?? {})) {
        const responses = (op as { responses: Record<string, { content?: Record<string, unknown> }> }).responses
        const errors = Object.entries(responses).filter(([status]) => Number(status) >= 400)
        for (const [, response] of errors) expect(Object.keys(response.content ?? {})).toEqual(['application/problem+json'])
      }
    }
  })
})
