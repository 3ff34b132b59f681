/**
 * "Never a 500" on the HTTP path: fast-check properties against a started keybroker (HTTPS on
 * 127.0.0.1, both databases). Every JSON route of openapi/openapi.json gets arbitrary JSON and
 * bodies shaped like its schema (its property names with arbitrary or plausible values), GET
 * routes with query parameters get arbitrary values, and /v1/attest and /v1/verify get valid
 * evidence of every evidence type, mutated (a field replaced, dropped or added; bytes of a
 * base64 field flipped, truncated or extended), with a fresh nonce so the verifier runs.
 * Every answer must be below 500 and every error an RFC 9457 problem+json whose status is the
 * HTTP status.
 *
 * Runs per route: KEYBROKER_FUZZ_RUNS (default 100; scripts/fuzz-http.sh runs thousands).
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAttestationKey, reportDataFor, type KeybrokerClient } from '../../src/clients/index.js'
import { createVerifierRegistry, EVIDENCE_TYPES } from '../../src/evidence/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { akKeyPair, encodePublic, encodeQuote, pcrValuesFor, quoteFields, signQuote, wirePcrs } from '../generators/tpm.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const RUNS = Number(process.env['KEYBROKER_FUZZ_RUNS'] ?? 100)
const SEED = process.env['KEYBROKER_FUZZ_SEED'] === undefined ? {} : { seed: Number(process.env['KEYBROKER_FUZZ_SEED']) }

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Schema = { $ref?: string; properties?: Record<string, Schema>; anyOf?: Schema[]; oneOf?: Schema[]; allOf?: Schema[]; items?: Schema }
type Operation = { requestBody?: { content?: Record<string, { schema?: Schema }> }; parameters?: { in: string; name: string }[] }

const SPEC = JSON.parse(readFileSync('openapi/openapi.json', 'utf8')) as {
  paths: Record<string, Record<string, Operation>>
  components?: { schemas?: Record<string, Schema> }
}

/** The property names a request schema declares (through $ref, anyOf/oneOf/allOf), one level deep. */
function propertyNames(schema: Schema | undefined, seen = new Set<string>()): string[] {
  if (schema === undefined) return []
  if (schema.$ref !== undefined) {
    if (seen.has(schema.$ref)) return []
    seen.add(schema.$ref)
    return propertyNames(SPEC.components?.schemas?.[schema.$ref.split('/').pop() ?? ''], seen)
  }
  return [
    ...Object.keys(schema.properties ?? {}),
    ...[...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])].flatMap((s) => propertyNames(s, seen)),
  ]
}

/** Path parameters: the names the setup below creates, so PUT/POST on them reach real records. */
const concrete = (path: string): string => path.replace(/\{[A-Za-z]+\}/g, (p) => (p === '{version}' ? '1' : p === '{serial}' ? 'ab' : 'fz'))

interface JsonRoute {
  readonly method: string
  readonly path: string
  readonly props: readonly string[]
}
const JSON_ROUTES: readonly JsonRoute[] = Object.entries(SPEC.paths).flatMap(([path, ops]) =>
  Object.entries(ops)
    .filter(([, op]) => op.requestBody?.content?.['application/json'] !== undefined)
    .map(([method, op]) => ({ method: method.toUpperCase(), path: concrete(path), props: [...new Set(propertyNames(op.requestBody?.content?.['application/json']?.schema))] })),
)
const QUERY_ROUTES = Object.entries(SPEC.paths).flatMap(([path, ops]) =>
  Object.entries(ops)
    .map(([method, op]) => ({ method: method.toUpperCase(), path: concrete(path), query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name) }))
    .filter((r) => r.method === 'GET' && r.query.length > 0),
)

// Values: arbitrary JSON (every code point, NUL and lone surrogates included) and plausible ones.
const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }) as fc.Arbitrary<Json>
const plausible = fc.constantFrom<Json>('fz', 'ab'.repeat(48), ['fz'], ['ab'.repeat(48)], { bytes: 32 }, 'true', 'snp', 'P-256', 1, 0, -1, 2 ** 53, true, [], {}, '', 'x'.repeat(300))
const value = fc.oneof(anyJson, plausible)
const shaped = (props: readonly string[]) =>
  fc.dictionary(props.length === 0 ? fc.string() : fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...props) }, { weight: 1, arbitrary: fc.string() }), value, { maxKeys: Math.max(3, props.length) })
const bodyFor = (route: JsonRoute) => fc.oneof(anyJson.map((v) => JSON.stringify(v)), shaped(route.props).map((v) => JSON.stringify(v)), fc.string({ unit: 'binary', maxLength: 40 }))

async function evidenceSamples(): Promise<Record<string, Record<string, Json>>> {
  const registry = createVerifierRegistry({ allowSample: true })
  const vec = (p: string) => new Uint8Array(readFileSync(`test/vectors/${p}`))
  const fromFile = async (type: string, main: string, certs: string[] = []) => {
    // The composite types load on first use: `fromFile` is on the loaded verifier.
    const listed = registry.verifierFor(type)
    return ((await listed.load?.()) ?? listed).fromFile?.(vec(main), { certs: certs.map(vec) }) as Record<string, Json>
  }
  const ak = akKeyPair('p256')
  const f = quoteFields({ banks: [{ bank: 'sha256', pcrs: [0, 7] }] })
  const values = pcrValuesFor(f.banks)
  const quote = encodeQuote(f, values)
  return {
    sample: { type: 'sample', measurement: 'ab'.repeat(48), reportData: toBase64Url(new Uint8Array(64)), debug: false },
    snp: await fromFile('snp', 'snp/trustee-milan-vcek/test-report.bin', ['snp/trustee-milan-vcek/test-vcek.der']),
    tdx: await fromFile('tdx', 'tdx/trustee-v4-emr-with-collateral/tdx_quote_6.dat'),
    tpm: {
      type: 'tpm',
      quote: Buffer.from(quote).toString('base64'),
      signature: Buffer.from(signQuote(quote, ak.privateKey, 'ecdsa')).toString('base64'),
      pcrs: wirePcrs(values),
      ak: { public: Buffer.from(encodePublic(ak.publicKey)).toString('base64') },
    },
    'az-snp-vtpm': await fromFile('az-snp-vtpm', 'azure/snp/evidence-v1.json'),
    'az-tdx-vtpm': await fromFile('az-tdx-vtpm', 'azure/tdx/evidence-v1.json'),
    gotpm: await fromFile('gotpm', 'gotpm/gce-cos-85-nonce9009.pb'),
    automata: await fromFile('automata', 'automata/azure-snp-collaterals.json'),
    cosmian: await fromFile('cosmian', 'cosmian/tdx-quote.dat'),
  }
}

/** One mutation of a JSON object: a field replaced, dropped or added; a base64 field's bytes changed. */
type Mutation =
  | { k: 'replace'; key: number; v: Json }
  | { k: 'drop'; key: number }
  | { k: 'add'; name: string; v: Json }
  | { k: 'bytes'; key: number; at: number; xor: number }
  | { k: 'truncate'; key: number; at: number }
  | { k: 'extend'; key: number; extra: string }
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant('replace' as const), key: fc.nat(), v: value }),
  fc.record({ k: fc.constant('drop' as const), key: fc.nat() }),
  fc.record({ k: fc.constant('add' as const), name: fc.string(), v: value }),
  fc.record({ k: fc.constant('bytes' as const), key: fc.nat(), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ k: fc.constant('truncate' as const), key: fc.nat(), at: fc.nat() }),
  fc.record({ k: fc.constant('extend' as const), key: fc.nat(), extra: fc.string({ maxLength: 12 }) }),
)

/** Applies `m` to `o` (recursing into the object values so nested collateral is reached too). */
function mutate(o: Record<string, Json>, m: Mutation, depth = 0): Record<string, Json> {
  const keys = Object.keys(o).filter((k) => k !== 'type' || m.k === 'replace')
  if (keys.length === 0 || m.k === 'add') return m.k === 'add' ? { ...o, [m.name]: m.v } : o
  const key = keys[m.key % keys.length] ?? ''
  const current = o[key]
  if (depth < 2 && current !== null && typeof current === 'object' && !Array.isArray(current) && m.key % 3 === 0) {
    return { ...o, [key]: mutate(current, { ...m, key: Math.floor(m.key / 3) }, depth + 1) }
  }
  switch (m.k) {
    case 'replace':
      return { ...o, [key]: m.v }
    case 'drop': {
      const { [key]: _gone, ...rest } = o
      return rest
    }
    case 'bytes':
    case 'truncate':
    case 'extend': {
      if (typeof current !== 'string') return { ...o, [key]: null }
      if (m.k === 'extend') return { ...o, [key]: current + m.extra }
      const bytes = Buffer.from(current, 'base64')
      if (bytes.byteLength === 0) return o
      const at = m.at % bytes.byteLength
      if (m.k === 'truncate') return { ...o, [key]: bytes.subarray(0, at).toString('base64') }
      bytes[at] = (bytes[at] ?? 0) ^ m.xor
      return { ...o, [key]: bytes.toString('base64') }
    }
  }
}

/** Every answer below 500; an error is problem+json with its status. */
function expectNoServerError(res: { status: number; headers: Record<string, string | string[] | undefined>; body: string }, what: string): void {
  expect(res.status, `${what}: ${res.body.slice(0, 300)}`).toBeLessThan(500)
  if (res.status < 400) return
  expect(String(res.headers['content-type']), what).toMatch(/^application\/problem\+json/)
  const problem = JSON.parse(res.body) as { type?: unknown; title?: unknown; status?: unknown }
  expect(typeof problem.type, what).toBe('string')
  expect(typeof problem.title, what).toBe('string')
  expect(problem.status, what).toBe(res.status)
}

describe.each(testDatabases())('HTTP fuzz, never a 500, on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let client: KeybrokerClient
  let samples: Record<string, Record<string, Json>>

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
    client = kb.client
    samples = await evidenceSamples()
    // Records the path parameter `fz` names, so that updates and explain reach real rows.
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'fz', measurements: ['ab'.repeat(48)] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'fz', rules: [{ name: 'open', expr: 'claims.debug == false' }] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'fz', generate: { bytes: 16 }, referenceValues: ['fz'], policy: 'fz' })).status).toBe(201)
  }, 120_000)
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('covers every evidence type with a sample', () => {
    expect(Object.keys(samples).sort()).toEqual([...EVIDENCE_TYPES].sort())
  })

  it.each(JSON_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))('%s: arbitrary and schema-shaped JSON bodies', async (_name, route) => {
    const auth: Record<string, string> = route.path.startsWith('/admin/') ? { Authorization: `Bearer ${kb.tokens.admin}` } : {}
    await fc.assert(
      fc.asyncProperty(bodyFor(route), async (body) => {
        const res = await kb.raw(route.method, route.path, body, { 'Content-Type': 'application/json', ...auth })
        expectNoServerError(res, `${route.method} ${route.path} ${body.slice(0, 200)}`)
      }),
      { numRuns: RUNS, ...SEED },
    )
  })

  it.each(QUERY_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))('%s: arbitrary query parameters', async (_name, route) => {
    const auth: Record<string, string> = route.path.startsWith('/admin/') ? { Authorization: `Bearer ${kb.tokens.admin}` } : {}
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.oneof(fc.constantFrom(...route.query), fc.string()), fc.oneof(fc.string({ unit: 'binary' }), fc.integer().map(String))), async (q) => {
        const path = `${route.path}?${new URLSearchParams(q).toString()}`
        expectNoServerError(await kb.raw(route.method, path, undefined, auth), `${route.method} ${path}`)
      }),
      { numRuns: Math.ceil(RUNS / 2), ...SEED },
    )
  })

  it.each(['/v1/attest', '/v1/verify'])('%s: mutated valid evidence of every type, with a fresh nonce', async (path) => {
    const key = await generateAttestationKey()
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...EVIDENCE_TYPES), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (type, mutations) => {
        const { nonce } = await client.challenge()
        let evidence = samples[type] ?? {}
        // The sample type binds by REPORT_DATA like the hardware types: give it the real binding.
        if (type === 'sample') evidence = { ...evidence, reportData: toBase64Url(await reportDataFor(nonce, key)) }
        for (const m of mutations) evidence = mutate(evidence, m)
        const body = JSON.stringify({ nonce, evidence, publicKey: key.publicJwk, ...(path === '/v1/attest' ? { release: ['fz'] } : {}) })
        expectNoServerError(await kb.raw('POST', path, body, { 'Content-Type': 'application/json' }), `${path} ${type} ${JSON.stringify(mutations).slice(0, 300)}`)
      }),
      { numRuns: Math.max(RUNS, 150), ...SEED },
    )
  })
})
