/**
 * The service's own commands: `serve`, `migrate`, and the ones that work on its database
 * directly (`audit verify`, `admin token create --offline`). Loaded only when one of them runs.
 */
import { join } from 'node:path'
import type { Config } from '../config/config.js'
import { createLogger, describeError } from '../log/logger.js'
import { createApp } from '../server/app.js'
import { listen } from '../server/listen.js'
import { createAdminToken, ensureBootstrapAdminToken } from '../services/admin-tokens.js'
import { verifyAudit } from '../services/audit.js'
import { scheduleMaintenance } from '../services/maintenance.js'
import { checkEnvelopeKeks } from '../services/envelope-store.js'
import { createServices } from '../services/services.js'
import { migrateDatabase, openDatabase, type AdminRole } from '../storage/index.js'
import type { CliOutput } from './io.js'

export async function serve(config: Config): Promise<number> {
  const log = createLogger(config.logLevel)
  // PostgreSQL may be down at start: listen anyway (503 `not-ready`, /readyz 503) and retry.
  // Embedded PGlite is opened (and locked) before listening: there is nothing to wait for.
  const deferred = config.databaseUrl !== undefined
  const services = await createServices(config, log, { deferDatabase: deferred })
  if (config.allowSampleEvidence) log.warn('sample evidence is ENABLED: development only, never in production')
  let maintenance: { stop(): void } | undefined
  const startUp = async (): Promise<void> => {
    if (!(await services.readiness.waitForDatabase())) return
    // createServices checked the envelopes' KEKs already unless the database was deferred.
    if (deferred) await checkEnvelopeKeks({ database: services.database, keks: services.keks })
    if (config.bootstrapAdminToken !== undefined && (await ensureBootstrapAdminToken(services, config.bootstrapAdminToken))) {
      log.info('bootstrap admin token registered')
    }
    maintenance = scheduleMaintenance(services)
    log.info('ready')
  }
  let server: Awaited<ReturnType<typeof listen>>
  let started: Promise<void> = Promise.resolve()
  try {
    if (!deferred) await startUp()
    server = await listen(createApp({ config, services, log }), config, log)
    if (deferred) started = startUp()
  } catch (err) {
    await services.database.close()
    throw err
  }
  const failed = started.then(
    () => undefined,
    (err: unknown) => err,
  )
  const signal = await new Promise<string | Error>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
    void failed.then((err) => {
      if (err !== undefined) resolve(err instanceof Error ? err : new Error(String(err)))
    })
  })
  if (signal instanceof Error) log.error('start-up failed', { error: describeError(signal) })
  else log.info('shutting down', { signal })
  // Graceful shutdown: /readyz 503 → (delay) → listener closed, idle keep-alive connections
  // closed → requests in flight finish within the grace period → the database closes last.
  services.readiness.startDraining()
  services.readiness.stop()
  maintenance?.stop()
  // Bounded: a stuck close cannot hang us.
  const timer = setTimeout(() => {
    log.error('shutdown timed out')
    process.exit(1)
  }, config.http.shutdownDelayMs + config.http.shutdownGraceMs + 10_000)
  timer.unref()
  if (config.http.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, config.http.shutdownDelayMs))
  await server.close({ graceMs: config.http.shutdownGraceMs })
  log.info('connections closed; closing the database')
  await services.database.close()
  log.info('stopped')
  return signal instanceof Error ? 1 : 0
}

export async function openConfiguredDatabase(config: Config) {
  return openDatabase({ databaseUrl: config.databaseUrl, dataDir: join(config.dataDir, 'pglite'), migrate: false })
}

export async function migrate(config: Config, out: CliOutput): Promise<number> {
  const database = await openConfiguredDatabase(config)
  try {
    await migrateDatabase(database)
    out.stderr(`migrations applied (${database.engine})\n`)
    return 0
  } finally {
    await database.close()
  }
}

/** Creates an admin token straight in the database (the service may be stopped): the first token. */
export async function createTokenOffline(config: Config, role: AdminRole, label: string, out: CliOutput): Promise<number> {
  const database = await openConfiguredDatabase(config)
  try {
    await migrateDatabase(database)
    const { id, token } = await createAdminToken({ database, now: () => new Date() }, role, label, 'cli')
    out.stderr(`created ${role} token ${id}; it is shown once:\n`)
    out.stdout(`${token}\n`)
    return 0
  } finally {
    await database.close()
  }
}

export async function verifyAuditOffline(config: Config, out: CliOutput): Promise<number> {
  const database = await openConfiguredDatabase(config)
  try {
    const result = await verifyAudit({ database })
    out.stdout(`${JSON.stringify(result)}\n`)
    return result.ok ? 0 : 1
  } finally {
    await database.close()
  }
}
