/**
 * The service's own commands: `serve`, `migrate`, and the ones that work on its database
 * directly (`audit verify`, `admin token create --offline`). Loaded only when one of them runs.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config/config.js'
import { checkConfiguredPaths, unknownSettings } from '../config/preflight.js'
import { createLogger, describeError } from '../log/logger.js'
import { createApp } from '../server/app.js'
import { listen } from '../server/listen.js'
import { listenMetrics, type MetricsListener } from '../server/metrics-listener.js'
import { createAdminToken, prepareAdminAccess } from '../services/admin-tokens.js'
import { verifyAudit } from '../services/audit.js'
import { scheduleMaintenance } from '../services/maintenance.js'
import { checkpointJwsFromFile } from '../services/audit-checkpoints.js'
import { loadAuditKey } from '../services/audit-key.js'
import { createServices, loadConfiguredKeys, openAuditKey } from '../services/services.js'
import { StartupTimings } from '../services/startup-timings.js'
import { migrateDatabase, openDatabase, type AdminRole } from '../storage/index.js'
import type { CliOutput } from './io.js'

export async function serve(config: Config): Promise<number> {
  // Node's start, the command line and this module's imports: everything before serve() runs.
  const timings = new StartupTimings()
  timings.markSinceProcessStart('modules')
  const log = createLogger(config.logLevel)
  for (const { name, suggestion } of unknownSettings(process.env)) {
    log.warn('unknown setting ignored', { setting: name, ...(suggestion === undefined ? {} : { didYouMean: suggestion }) })
  }
  // Files and directories first: a wrong path stops here, naming its setting.
  checkConfiguredPaths(config)
  // PostgreSQL may be down at start: listen anyway (503 `not-ready`, /readyz 503) and retry.
  // Embedded PGlite is opened (and locked) before listening: there is nothing to wait for.
  const deferred = config.databaseUrl !== undefined
  const services = await createServices(config, log, { deferDatabase: deferred, timings })
  if (config.allowSampleEvidence) log.warn('sample evidence is ENABLED: development only, never in production')
  let maintenance: { stop(): void } | undefined
  const startUp = async (): Promise<void> => {
    if (!(await timings.time('waitForDatabase', () => services.readiness.waitForDatabase()))) return
    await timings.time('adminAccess', () => prepareAdminAccess(services, config.bootstrapAdminToken))
    maintenance = scheduleMaintenance(services)
    log.info('ready')
  }
  let server: Awaited<ReturnType<typeof listen>>
  let metrics: MetricsListener | undefined
  let started: Promise<void> = Promise.resolve()
  try {
    if (!deferred) await startUp()
    server = await timings.time('listen', () => listen(createApp({ config, services, log }), config, log))
    if (config.metricsListen !== undefined) metrics = await listenMetrics(services.metrics, config.metricsListen, log)
    started = deferred ? startUp() : Promise.resolve()
    // Where start-up time went (bench/startup.ts reads this line): once listening and ready.
    void started.then(
      () => log.info('started', timings.toLogFields()),
      () => undefined,
    )
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
  await metrics?.close()
  // The counted refusals of the current window are written before the database closes.
  await services.refusals.stop()
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
    const { keks } = await loadConfiguredKeys(config)
    const auditKey = await openAuditKey(database, keks, new Date())
    const { id, token } = await createAdminToken({ database, now: () => new Date(), auditKey }, role, label, 'cli')
    out.stderr(`created ${role} token ${id}; it is shown once:\n`)
    out.stdout(`${token}\n`)
    return 0
  } finally {
    await database.close()
  }
}

/** `checkpointFiles`: exported checkpoints (GET /admin/v1/audit/checkpoints) the chain must still contain. */
export async function verifyAuditOffline(config: Config, out: CliOutput, checkpointFiles: readonly string[] = []): Promise<number> {
  const exported: string[] = []
  for (const file of checkpointFiles) exported.push(...checkpointJwsFromFile(await readFile(file, 'utf8')))
  const database = await openConfiguredDatabase(config)
  try {
    const { keks, keys } = await loadConfiguredKeys(config)
    // Opening the key never rewrites entries: a chain written before the audit key is verified as it is.
    const auditKey = await loadAuditKey(database, keks, new Date())
    const result = await verifyAudit({ database, auditKey, keys }, exported)
    out.stdout(`${JSON.stringify(result)}\n`)
    return result.ok ? 0 : 1
  } finally {
    await database.close()
  }
}
