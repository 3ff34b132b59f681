import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import SwaggerParser from '@apidevtools/swagger-parser'
import { describe, expect, it } from 'vitest'
import { EVIDENCE_TYPES } from '../../src/evidence/index.js'
import { appForDocument, openApiDocument } from '../../src/server/openapi.js'
import { PROBLEM_BASE, PROBLEMS } from '../../src/server/problem.js'

const run = promisify(execFile)

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

describe('openapi/openapi.json for tools', () => {
  const generated = openApiDocument(appForDocument())
  const operations = Object.entries(generated.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item ?? {})
      .filter(([method]) => ['get', 'put', 'post', 'delete', 'patch'].includes(method))
      .map(([method, op]) => ({ path, method, op: op as { operationId?: string; security?: unknown[] } })),
  )

  it('names every operation uniquely, and only public routes have no security', () => {
    const ids = operations.map((o) => o.op.operationId)
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z0-9]+$/.test(id))).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
    for (const { path, op } of operations) {
      expect(Array.isArray(op.security)).toBe(true)
      // An admin route that forgot its security would be documented as public: refuse that.
      if (path.startsWith('/admin/')) expect(op.security, path).not.toEqual([])
    }
    expect(operations.find((o) => o.path === '/v1/attest')?.op.security).toEqual([])
  })

  it('types evidence as one of every registered type, discriminated by `type`', () => {
    const evidence = generated.components?.schemas?.['Evidence'] as { oneOf: { $ref: string }[]; discriminator: { propertyName: string; mapping: Record<string, string> } }
    expect(evidence.discriminator.propertyName).toBe('type')
    expect(Object.keys(evidence.discriminator.mapping).sort()).toEqual([...EVIDENCE_TYPES].sort())
    expect(evidence.oneOf.map((r) => r.$ref).sort()).toEqual(Object.values(evidence.discriminator.mapping).sort())
    for (const [type, ref] of Object.entries(evidence.discriminator.mapping)) {
      const member = generated.components?.schemas?.[ref.split('/').pop() ?? ''] as { properties: { type: { const?: string; enum?: string[] } } }
      expect(member.properties.type.const ?? member.properties.type.enum?.[0]).toBe(type)
    }
  })

  it('enumerates the problem types and documents failedRules', () => {
    const problem = generated.components?.schemas?.['Problem'] as { properties: { type: { enum: string[] }; failedRules: unknown } }
    expect([...problem.properties.type.enum].sort()).toEqual(Object.keys(PROBLEMS).map((code) => `${PROBLEM_BASE}${code}`).sort())
    expect(problem.properties.failedRules).toBeDefined()
  })

  it('is served at /openapi.json', async () => {
    const res = await appForDocument().request('/openapi.json')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('application/json')
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(generated)))
  })

  it('lints with zero errors and zero warnings under @redocly/cli (recommended rules; the few that do not apply are in .redocly.lint-ignore.yaml with the reason)', async () => {
    const cli = fileURLToPath(new URL('../../node_modules/@redocly/cli/bin/cli.js', import.meta.url))
    const result = await run(process.execPath, [cli, 'lint', fileURLToPath(FILE), '--format=json', '--max-problems=10000'], {
      // The ignore file is found in the working directory: the repository root.
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      maxBuffer: 64 << 20,
    }).catch((err: { stdout?: string; code?: number }) => ({ stdout: err.stdout ?? '', failed: err.code }))
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as {
      totals: { errors: number; warnings: number; ignored: number }
      problems: { severity: string; ruleId: string; message: string; ignored?: boolean; location: { pointer: string }[] }[]
    }
    const shown = report.problems.filter((p) => p.ignored !== true).map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)
    expect(shown).toEqual([])
    expect({ errors: report.totals.errors, warnings: report.totals.warnings }).toEqual({ errors: 0, warnings: 0 })
    expect(report.problems.filter((p) => ['operation-operationId', 'security-defined', 'no-invalid-schema-examples', 'no-unresolved-refs'].includes(p.ruleId))).toEqual([])
    expect('failed' in result ? result.failed : 0).toBe(0)
  }, 120_000)

  it('generates a client with openapi-typescript that a typed call compiles against', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-openapi-ts-'))
    try {
      const { default: openapiTS, astToString } = await import('openapi-typescript')
      await writeFile(join(dir, 'api.d.ts'), astToString(await openapiTS(FILE)))
      await writeFile(join(dir, 'call.ts'), CALL)
      await writeFile(join(dir, 'bad.ts'), BAD_CALL)
      const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url))
      const options = ['--noEmit', '--strict', '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--lib', 'ES2023,DOM']
      await run(process.execPath, [tsc, ...options, join(dir, 'call.ts')], { cwd: dir })
      // The types are not `any`: evidence of an unknown type, or a wrong problem type, is refused.
      const bad = await run(process.execPath, [tsc, ...options, join(dir, 'bad.ts')], { cwd: dir }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }))
      expect(bad.stdout.match(/bad\.ts\((\d+),/g)?.map((m) => Number(m.slice(7, -1)))).toEqual([4, 5])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})

const CALL = `import type { components, paths } from './api.js'

type AttestBody = paths['/v1/attest']['post']['requestBody']['content']['application/json']
type AttestOk = paths['/v1/attest']['post']['responses'][200]['content']['application/json']
type Problem = components['schemas']['Problem']

export async function attest(baseUrl: string, body: AttestBody): Promise<AttestOk> {
  const res = await fetch(new URL('/v1/attest', baseUrl), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  if (!res.ok) {
    const problem = (await res.json()) as Problem
    throw new Error(\`\${problem.type}: \${problem.failedRules?.map((r) => r.rule).join(', ') ?? problem.detail}\`)
  }
  return (await res.json()) as AttestOk
}

const body: AttestBody = {
  nonce: 'bm9uY2U',
  evidence: { type: 'sample', measurement: 'a1'.repeat(48), reportData: 'AAAA', debug: false },
  publicKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
  release: ['db-password'],
}
export const call = (): Promise<string> => attest('https://127.0.0.1:8443', body).then((r) => Object.keys(r.secrets).join(','))
export const expired: Problem['type'] = 'https://keybroker.dev/problems/nonce-expired'
`

const BAD_CALL = `import type { components, paths } from './api.js'
type AttestBody = paths['/v1/attest']['post']['requestBody']['content']['application/json']
const key = { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }
export const bad: AttestBody = { nonce: 'n', evidence: { type: 'no-such-type' }, publicKey: key, release: [] }
export const wrong: components['schemas']['Problem']['type'] = 'https://keybroker.dev/problems/no-such-problem'
`
