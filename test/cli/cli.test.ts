import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest } from '../support/http.js'

/** The compiled CLI, as `npm start` and the `keybroker` bin run it (`npm test` builds first). */
const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))

function run(args: string[], env: Record<string, string>) {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

describe('keybroker CLI', () => {
  let dataDir: string
  let env: Record<string, string>

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keybroker-cli-'))
    env = { KEYBROKER_DATA_DIR: dataDir, KEYBROKER_LOG_LEVEL: 'info' }
  })
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true })
  })

  it('names the bad setting and exits non-zero on invalid configuration', () => {
    const res = run(['migrate'], { ...env, KEYBROKER_TOKEN_TTL_SECONDS: 'soon' })
    expect(res.status).toBe(1)
    expect(res.stderr).toContain('KEYBROKER_TOKEN_TTL_SECONDS')
    const listen = run(['serve'], { ...env, KEYBROKER_LISTEN: 'nowhere' })
    expect(listen.status).toBe(1)
    expect(listen.stderr).toContain('KEYBROKER_LISTEN')
    const prod = run(['serve'], { ...env, KEYBROKER_PRODUCTION: '1', KEYBROKER_ALLOW_SAMPLE_EVIDENCE: '1' })
    expect(prod.status).toBe(1)
    expect(prod.stderr).toContain('KEYBROKER_ALLOW_SAMPLE_EVIDENCE')
  })

  it('prints usage for no or unknown commands', () => {
    expect(run([], env).status).toBe(2)
    const unknown = run(['frobnicate'], env)
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toContain("unknown command 'frobnicate'")
    const near = run(['migrat'], env)
    expect(near.status).toBe(2)
    expect(near.stderr).toContain('Did you mean migrate?')
  })

  it('migrates, creates admin tokens, and verifies the audit log', () => {
    expect(run(['migrate'], env).status).toBe(0)
    expect(run(['migrate'], env).status).toBe(0)
    const bad = run(['admin', 'token', 'create', '--offline', '--role', 'root'], env)
    expect(bad.status).toBe(2)
    const created = run(['admin', 'token', 'create', '--offline', '--role', 'auditor', '--label', 'ci'], env)
    expect(created.status).toBe(0)
    expect(created.stdout.trim()).toMatch(/^kb_admin_[A-Za-z0-9_-]{43}$/)
    expect(created.stderr).not.toContain(created.stdout.trim())
    const verified = run(['audit', 'verify'], env)
    expect(verified.status).toBe(0)
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, keyed: true, entries: 1 })
  }, 180_000)

  it('serves HTTPS with a kept development certificate and stops cleanly on SIGTERM', async () => {
    const adminToken = 'bootstrap-admin-token-0123456789abcdef'
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: { PATH: process.env.PATH ?? '', ...env, KEYBROKER_LISTEN: '127.0.0.1:0', KEYBROKER_BOOTSTRAP_ADMIN_TOKEN: adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let log = ''
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line: ${log}`)), 60_000)
        child.stderr.on('data', (chunk: Buffer) => {
          log += chunk.toString()
          const m = /"msg":"listening","url":"(https:\/\/127\.0\.0\.1:\d+)"/.exec(log)
          if (m?.[1]) {
            clearTimeout(timer)
            resolve(m[1])
          }
        })
      })
      const fingerprint = /"msg":"TLS certificate","sha256":"([0-9A-F:]{95})"/.exec(log)?.[1]
      expect(fingerprint).toBeDefined()
      const certFile = join(dataDir, 'tls', 'dev-cert.pem')
      expect(((await stat(join(dataDir, 'tls', 'dev-key.pem'))).mode & 0o777).toString(8)).toBe('600')
      const { readFile } = await import('node:fs/promises')
      const target = { baseUrl: url, ca: await readFile(certFile, 'utf8') }
      expect((await rawRequest(target, 'GET', '/healthz')).status).toBe(200)
      expect((await rawRequest(target, 'GET', '/readyz')).status).toBe(200)
      const admin = await rawRequest(target, 'GET', '/admin/v1/secrets', undefined, { Authorization: `Bearer ${adminToken}` })
      expect(admin.status).toBe(200)
      // Sample evidence is off by default.
      const discovery = JSON.parse((await rawRequest(target, 'GET', '/.well-known/openid-configuration')).body)
      expect(discovery.evidence_types_supported).not.toContain('sample')
      // Keys were created in the data directory with owner-only permissions, and never logged.
      expect(((await stat(join(dataDir, 'keys', 'kek.b64'))).mode & 0o777).toString(8)).toBe('600')
      const kek = (await readFile(join(dataDir, 'keys', 'kek.b64'), 'utf8')).trim()
      expect(log).not.toContain(kek)
      expect(log).not.toContain(adminToken)
    } finally {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM')
    }
    expect(await exited).toBe(0)
    expect(log).toContain('"msg":"stopped"')
    // The bootstrap token is registered, so there is no first-token hint.
    expect(log).not.toContain('no admin token yet')
  })

  it('refuses to start when the port is taken, with a clear error', async () => {
    const { createServer } = await import('node:net')
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    try {
      const res = run(['serve'], { ...env, KEYBROKER_LISTEN: `127.0.0.1:${port}` })
      expect(res.status).toBe(1)
      expect(res.stderr).toContain('EADDRINUSE')
    } finally {
      blocker.close()
    }
  })
})
