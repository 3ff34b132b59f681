import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type Config } from '../../src/config/config.js'
import { KeybrokerClient } from '../../src/clients/index.js'
import { rawRequest, type HttpResponse } from './http.js'
import { createLogger, type Logger } from '../../src/log/logger.js'
import { createApp, type App } from '../../src/server/app.js'
import { listen, type RunningServer } from '../../src/server/listen.js'
import { createAdminToken } from '../../src/services/admin-tokens.js'
import { createServices, type Services } from '../../src/services/services.js'
import type { TestTrustAnchors } from '../../src/services/verifiers.js'
import type { Database } from '../../src/storage/index.js'

/** A clock tests can move: every request reads `now()`. */
export class TestClock {
  #offsetMs = 0
  now = (): Date => new Date(Date.now() + this.#offsetMs)
  advance(seconds: number): void {
    this.#offsetMs += seconds * 1000
  }
  reset(): void {
    this.#offsetMs = 0
  }
}

export interface TestKeybroker {
  readonly url: string
  readonly server: RunningServer
  readonly services: Services
  readonly config: Config
  readonly app: App
  readonly clock: TestClock
  /** Client trusting the server's self-signed certificate. */
  readonly client: KeybrokerClient
  /** Bearer tokens per role. */
  readonly tokens: { readonly admin: string; readonly registrar: string; readonly auditor: string }
  /** A raw request to this server (bad input, headers, non-JSON answers). */
  raw(method: string, path: string, body?: string | Uint8Array, headers?: Record<string, string>): Promise<HttpResponse>
  close(): Promise<void>
}

/**
 * Starts a real keybroker over HTTPS on an ephemeral loopback port, with its own data directory,
 * on the given (already migrated) database. Sample evidence is enabled: these tests exercise the
 * service, not a hardware verifier.
 */
export async function startKeybroker(
  database: Database,
  env: Record<string, string> = {},
  logger?: Logger,
  /** Test-only trust anchors (synthetic SNP roots), passed to `createServices`. */
  testTrustAnchors?: TestTrustAnchors,
): Promise<TestKeybroker> {
  const dataDir = await mkdtemp(join(tmpdir(), 'keybroker-test-'))
  const config = loadConfig({
    KEYBROKER_LISTEN: '127.0.0.1:0',
    KEYBROKER_DATA_DIR: dataDir,
    KEYBROKER_ALLOW_SAMPLE_EVIDENCE: '1',
    KEYBROKER_ISSUER: 'https://keybroker.test',
    KEYBROKER_LOG_LEVEL: 'silent',
    ...env,
  })
  const log = logger ?? createLogger(config.logLevel)
  const clock = new TestClock()
  const services = await createServices(config, log, {
    now: clock.now,
    database,
    ...(testTrustAnchors === undefined ? {} : { testTrustAnchors }),
  })
  const app = createApp({ config, services, log })
  const server = await listen(app, config, log)
  const client = new KeybrokerClient({ baseUrl: server.url, ...(server.caPem === undefined ? {} : { ca: server.caPem }) })
  const tokens = {
    admin: (await createAdminToken(services, 'admin', 'test admin', 'test')).token,
    registrar: (await createAdminToken(services, 'registrar', 'test registrar', 'test')).token,
    auditor: (await createAdminToken(services, 'auditor', 'test auditor', 'test')).token,
  }
  return {
    url: server.url,
    server,
    services,
    config,
    app,
    clock,
    client,
    tokens,
    raw: (method, path, body, headers) => rawRequest({ baseUrl: server.url, ca: server.caPem }, method, path, body, headers),
    close: async () => {
      await server.close()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** JSON request helper for admin calls: returns status and parsed body. */
export async function adminCall(
  kb: TestKeybroker,
  method: string,
  path: string,
  body?: unknown,
  token: string = kb.tokens.admin,
): Promise<{ status: number; body: any; headers: Record<string, string | string[] | undefined> }> {
  const res = await kb.raw(
    method,
    path,
    body === undefined ? undefined : JSON.stringify(body),
    { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
  )
  return { status: res.status, headers: res.headers, body: res.body === '' ? undefined : JSON.parse(res.body) }
}
