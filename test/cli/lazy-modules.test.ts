/**
 * What `keybroker serve` does not load at start (README, "Start-up and memory"): the bundle
 * formats, the CA code and the composite evidence verifiers load on first use
 * (src/lazy-import.ts). A real `serve` (compiled CLI: `npm run build`) runs with a module loader hook (`NODE_OPTIONS=--import`) that appends the URL
 * of every ES module it loads to a file; the test reads that list after start, after sample
 * attestations, and after the first request that needs each lazy part. PGlite always, PostgreSQL
 * on a scratch database when DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAttestationKey, reportDataFor } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { postgresTestUrl } from '../support/databases.js'
import { httpCall, startServe, waitForStatus, type ServeProcess } from '../support/serve-process.js'

const ADMIN = `kb_bootstrap_${randomBytes(24).toString('base64url')}`
const MEASUREMENT = 'd4'.repeat(48)
const POSTGRES = postgresTestUrl()

/**
 * Each lazy part: a module of it that must not be loaded before its first use, which is an admin
 * `GET path` or an attest of evidence of `type` (schema-valid, but not decodable: the type's
 * verifier loads, then refuses it).
 */
const LAZY: readonly ({ part: string; module: RegExp } & ({ path: string } | { type: string; evidence: Record<string, unknown> }))[] = [
  { part: 'bundle formats', module: /\/dist\/src\/bundles\/(index|corim|go-policy)\.js$/, path: '/admin/v1/signers' },
  { part: 'go-*-guest policy protobufs', module: /\/dist\/src\/proto-gen\/check(config)?_pb\.js$/, path: '/admin/v1/signers' },
  { part: 'CA services', module: /\/dist\/src\/services\/ca\/(index|certificate-issuance|certificate-status)\.js$/, path: '/admin/v1/cas' },
  { part: 'CA certificate code', module: /\/dist\/src\/ca\/(certificate|ocsp|csr)\.js$/, path: '/admin/v1/cas' },
  { part: 'OCSP ASN.1 schemas', module: /\/@peculiar\/asn1-ocsp\//, path: '/admin/v1/cas' },
  { part: 'gotpm verifier', module: /\/dist\/src\/evidence\/gotpm\/(index|decode|verify)\.js$/, type: 'gotpm', evidence: { type: 'gotpm', attestation: 'AAAA' } },
  { part: 'go-tpm-tools protobufs', module: /\/dist\/src\/proto-gen\/attest_pb\.js$/, type: 'gotpm', evidence: { type: 'gotpm', attestation: 'AAAA' } },
  { part: 'Azure vTPM verifiers', module: /\/dist\/src\/evidence\/azure\/(index|snp-vtpm|hcl-report)\.js$/, type: 'az-snp-vtpm', evidence: { type: 'az-snp-vtpm', hclReport: 'AAAA', quote: 'AAAA', signature: 'AAAA', pcrs: {} } },
]

const HOOKS = `
import { appendFileSync } from 'node:fs'
export async function load(url, context, next) {
  const loaded = await next(url, context)
  appendFileSync(process.env.KB_TEST_MODULE_LOG, url + '\\n')
  return loaded
}
`

describe.each(POSTGRES === undefined ? ['pglite'] : ['pglite', 'postgres'])('serve loads the bundle formats, the CA and the composite verifiers on first use (%s)', (engine) => {
  let dir: string
  let log: string
  let kb: ServeProcess | undefined
  let database: string | undefined
  const loaded = async (): Promise<string[]> => (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '')
  const call = (method: string, path: string, body?: unknown, admin = false) =>
    httpCall(kb as ServeProcess, method, path, body, admin ? { Authorization: `Bearer ${ADMIN}` } : {})

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kb-lazy-'))
    log = join(dir, 'modules.log')
    await writeFile(join(dir, 'hooks.mjs'), HOOKS)
    await writeFile(join(dir, 'register.mjs'), `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)})\n`)
    await writeFile(log, '')
    const env: Record<string, string> = {
      KEYBROKER_DATA_DIR: join(dir, 'data'),
      KEYBROKER_ALLOW_SAMPLE_EVIDENCE: '1',
      KEYBROKER_BOOTSTRAP_ADMIN_TOKEN: ADMIN,
      KEYBROKER_WORKERS: '1',
      KB_TEST_MODULE_LOG: log,
      NODE_OPTIONS: `--import=${pathToFileURL(join(dir, 'register.mjs')).href}`,
    }
    if (engine === 'postgres') {
      database = `kb_lazy_${randomBytes(6).toString('hex')}`
      const admin = new pg.Client({ connectionString: POSTGRES })
      await admin.connect()
      await admin.query(`CREATE DATABASE "${database}"`)
      await admin.end()
      const url = new URL(POSTGRES as string)
      url.pathname = `/${database}`
      env.DATABASE_URL = url.toString()
    }
    kb = await startServe(env)
    await waitForStatus(kb, '/readyz', 200, 60_000)
  }, 90_000)

  afterAll(async () => {
    await kb?.stop()
    if (database !== undefined) {
      const admin = new pg.Client({ connectionString: POSTGRES })
      await admin.connect()
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
      await admin.end()
    }
    await rm(dir, { recursive: true, force: true })
  })

  it('loads none of them at start nor for attest+release of sample evidence, and each with its first request', async () => {
    const atStart = await loaded()
    // The hook works: the service's own modules are listed.
    expect(atStart.some((u) => u.endsWith('/dist/src/services/attestation.js'))).toBe(true)
    for (const { part, module } of LAZY) expect(atStart.filter((u) => module.test(u)), `${part} loaded at start`).toEqual([])

    expect((await call('POST', '/admin/v1/reference-values', { name: 'lazy-rv', measurements: [MEASUREMENT] }, true)).status).toBe(201)
    expect((await call('POST', '/admin/v1/secrets', { name: 'lazy-secret', generate: { bytes: 32 }, referenceValues: ['lazy-rv'] }, true)).status).toBe(201)
    const key = await generateAttestationKey()
    for (let i = 0; i < 3; i++) {
      const { nonce } = JSON.parse((await call('POST', '/v1/challenge', {})).body) as { nonce: string }
      const evidence = { type: 'sample', measurement: MEASUREMENT, reportData: toBase64Url(await reportDataFor(nonce, key)) }
      const res = await call('POST', '/v1/attest', { nonce, evidence, publicKey: key.publicJwk, release: ['lazy-secret'] })
      expect(res.status, res.body).toBe(200)
    }
    const afterAttest = await loaded()
    for (const { part, module } of LAZY) expect(afterAttest.filter((u) => module.test(u)), `${part} loaded by attest+release`).toEqual([])

    for (const lazy of LAZY) {
      if ('path' in lazy) {
        const res = await call('GET', lazy.path, undefined, true)
        expect(res.status, res.body).toBe(200)
      } else {
        const { nonce } = JSON.parse((await call('POST', '/v1/challenge', {})).body) as { nonce: string }
        const res = await call('POST', '/v1/attest', { nonce, evidence: lazy.evidence, publicKey: key.publicJwk, release: [] })
        // Refused by the loaded verifier as problem+json (not a 500 from a failed load).
        expect(res.status, res.body).toBe(400)
        expect((JSON.parse(res.body) as { type: string }).type).toMatch(/evidence-malformed$/)
      }
      expect((await loaded()).some((u) => lazy.module.test(u)), `${lazy.part} loaded by its first use`).toBe(true)
    }
  }, 60_000)
})
