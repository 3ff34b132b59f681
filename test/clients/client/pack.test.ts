import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../../src/storage/index.js'
import { testDatabases } from '../../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../../support/keybroker.js'

/**
 * `npm pack` of @keybroker/client, installed from the tarball into a scratch project the way
 * another project would (its jose from the registry or the npm cache), compiled with tsc and run
 * against a keybroker on 127.0.0.1: challenge, sample evidence, attest, open the secret.
 */
const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const GOOD = 'e5'.repeat(48)
const SECRET = 'installed from the tarball'

const PROGRAM = `
import { KeybrokerClient, KeybrokerClientError, sampleEvidence, type Attestation } from '@keybroker/client'

const client = new KeybrokerClient({ baseUrl: process.env.KB_URL ?? '', pinSha256: process.env.KB_PIN ?? '' })
const measurement = process.env.KB_MEASUREMENT ?? ''
const attestation: Attestation = await client.attestAndOpen((reportData) => sampleEvidence(reportData, measurement), ['packed'])
const again = await client.secret('packed', attestation)
try {
  await client.attestAndOpen((reportData) => sampleEvidence(reportData, '00'.repeat(48)), ['packed'])
} catch (err) {
  if (!(err instanceof KeybrokerClientError)) throw err
  console.log(JSON.stringify({ denied: err.code, rules: err.failedRules.map((r) => r.rule) }))
}
console.log(JSON.stringify({ released: new TextDecoder().decode(attestation.secrets['packed']), version: again.version, jweParts: again.jwe.split('.').length }))
`

let scratch: string
let tarball: string
let packedFiles: string[]

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'kb-client-pack-'))
  // prepack builds dist/ (declarations included) first: no prior build is needed.
  const { stdout } = await run('npm', ['pack', '--workspace', '@keybroker/client', '--pack-destination', scratch, '--json', '--silent'], { cwd: ROOT, maxBuffer: 8 << 20 })
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[]
  tarball = join(scratch, packed?.filename ?? '')
  packedFiles = (packed?.files ?? []).map((f) => f.path)
  const project = join(scratch, 'app')
  await run('mkdir', ['-p', join(project, 'src')])
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  const typesNode = JSON.parse(await readFile(join(ROOT, 'node_modules', '@types', 'node', 'package.json'), 'utf8')) as { version: string }
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball, `@types/node@${typesNode.version}`], { cwd: project, maxBuffer: 8 << 20 })
  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: ['node'], outDir: 'dist', rootDir: 'src' } }),
  )
  await writeFile(join(project, 'src', 'main.ts'), PROGRAM)
  await run(process.execPath, [TSC, '-p', project], { cwd: project })
}, 300_000)

afterAll(async () => {
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true })
})

describe('the packed client', () => {
  it('ships its compiled code, declarations, README and licence, not its sources', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/client.d.ts']))
    expect(packedFiles.filter((f) => f.startsWith('src/') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([])
  })

  it('installs with jose alone: no PGlite, pg, drizzle or CEL', async () => {
    const modules = join(scratch, 'app', 'node_modules')
    const top = (await readdir(modules)).filter((n) => !n.startsWith('.'))
    const scoped = async (scope: string) => (await readdir(join(modules, scope))).map((n) => `${scope}/${n}`)
    const installed = (await Promise.all(top.map(async (n) => (n.startsWith('@') ? scoped(n) : [n])))).flat().sort()
    expect(installed).toEqual(['@keybroker/client', '@types/node', 'jose', 'undici-types'])
  })
})

describe.each(testDatabases())('the packed client against keybroker on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'packed-rv', measurements: [GOOD] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'packed', value: Buffer.from(SECRET).toString('base64url'), referenceValues: ['packed-rv'] })).status).toBe(201)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('a compiled TypeScript program attests with sample evidence and opens a secret', async () => {
    const { stdout } = await run(process.execPath, [join(scratch, 'app', 'dist', 'main.js')], {
      cwd: join(scratch, 'app'),
      env: { PATH: process.env['PATH'] ?? '', KB_URL: kb.url, KB_PIN: kb.server.fingerprint ?? '', KB_MEASUREMENT: GOOD },
      timeout: 60_000,
    })
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toEqual([
      { denied: 'policy-denied', rules: expect.arrayContaining(['measurement-in-reference-values']) },
      { released: SECRET, version: 1, jweParts: 5 },
    ])
  })
})

describe('the root package', () => {
  // Needs `npm run build` (npm test runs it first): the exports point into dist/.
  it('is importable by name, with declarations, and keybroker/client is the client package', async () => {
    const script = [
      "import { createApp, loadConfig, computeBinding } from 'keybroker'",
      "import { KeybrokerClient } from 'keybroker/client'",
      "import * as pkg from '@keybroker/client'",
      'console.log(JSON.stringify([typeof createApp, typeof loadConfig, typeof computeBinding, KeybrokerClient === pkg.KeybrokerClient]))',
    ].join('\n')
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT })
    expect(JSON.parse(stdout)).toEqual(['function', 'function', 'function', true])
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types?: string }> }
    for (const entry of ['.', './client']) {
      await expect(readFile(join(ROOT, manifest.exports[entry]?.types ?? 'missing'), 'utf8')).resolves.toContain('export')
    }
  })
})
