/**
 * The service's own commands: `serve`, `migrate`, and the ones that work on its database
 * directly (`audit verify`, `admin token create --offline`). Loaded only when one of them runs.
 */
import cluster from 'node:cluster'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config/config.js'
import { checkConfiguredPaths, unknownSettings } from '../config/preflight.js'
import { createLogger, describeError } from '../log/logger.js'
import { createApp } from '../server/app.js'
import { listen } from '../server/listen.js'
import { listenMetrics, type MetricsListener } from '../server/metrics-listener.js'
import { answerPrimaryScrapes } from '../metrics/cluster-metrics.js'
import { createAdminToken, prepareAdminAccess } from '../services/admin-tokens.js'
import { verifyAudit } from '../services/audit.js'
import { scheduleMaintenance } from '../services/maintenance.js'
import { checkpointJwsFromFile } from '../services/audit-checkpoints.js'
import { loadAuditKey } from '../services/audit-key.js'
import { createServices, loadConfiguredKeys, openAuditKey } from '../services/services.js'
import { StartupTimings } from '../services/startup-timings.js'
import { migrateDatabase, openDatabase, type AdminRole } from '../storage/index.js'
import { limitHeapGrowth } from './heap-growth.js'
import { limitWasmTiering } from './wasm-tiering.js'
import type { CliOutput } from './io.js'
import { isWorkerMessage, WORKER_ENV, WORKER_MESSAGES, type WorkerStart } from './worker-messages.js'
import { settlesWithin } from '../settles-within.js'

/**
 * `keybroker serve`: one process, or with `KEYBROKER_WORKERS` > 1 a primary that starts up once
 * and forks the workers (serve-primary.ts); a worker runs this same command.
 */
export async function serve(config: Config): Promise<number> {
  // Before the service allocates: every serving process (single, primary, worker) sets it.
  limitHeapGrowth()
  // Before PGlite's WebAssembly is compiled (embedded database only).
  limitWasmTiering(config.databaseUrl === undefined)
  const start = process.env[WORKER_ENV]
  if (cluster.isWorker && (start === 'start' || start === 'restart')) {
    const code = await serveProcess(config, start)
    // The IPC channel to the primary keeps a worker's event loop alive, and disconnecting it
    // makes Node's cluster runtime exit with 0: exit explicitly, with this code (stderr is
    // written synchronously on Linux, so no log line is lost).
    process.exit(code)
  }
  if (config.workers > 1) {
    const { servePrimary } = await import('./serve-primary.js')
    return servePrimary(config)
  }
  return serveProcess(config, 'single')
}

/**
 * One serving process. `single`: everything (start-up, maintenance, metrics listener). `worker`:
 * serves only; the primary did the start-up that must happen once, runs the periodic jobs and
 * the metrics listener, and tells this worker when to become ready and when to stop.
 */
async function serveProcess(config: Config, role: 'single' | WorkerStart): Promise<number> {
  // Node's start, the command line and this module's imports: everything before serve() runs.
  const timings = new StartupTimings()
  timings.markSinceProcessStart('modules')
  const worker = role !== 'single'
  // First of all, so that the primary's messages (even an early `shutdown`) are not missed.
  const primary = worker ? listenToPrimary() : undefined
  const log = createLogger(config.logLevel, undefined, worker ? { worker: cluster.worker?.id ?? 0, pid: process.pid } : {})
  if (!worker) {
    for (const { name, suggestion } of unknownSettings(process.env)) {
      log.warn('unknown setting ignored', { setting: name, ...(suggestion === undefined ? {} : { didYouMean: suggestion }) })
    }
    // Files and directories first: a wrong path stops here, naming its setting.
    checkConfiguredPaths(config)
  }
  // PostgreSQL may be down at start: listen anyway (503 `not-ready`, /readyz 503) and retry.
  // Embedded PGlite is opened (and locked) before listening: there is nothing to wait for.
  // A worker restarted while the others serve gets ready before it listens: the others take
  // every connection meanwhile, so it never answers 503 `not-ready`.
  const deferred = config.databaseUrl !== undefined
  const listenFirst = deferred && role !== 'restart'
  const services = await createServices(config, log, {
    deferDatabase: deferred,
    timings,
    // A worker turns ready together with the others (the primary says when).
    ...(primary === undefined ? {} : { beforeReady: () => primary.serve() }),
  })
  if (config.allowSampleEvidence && !worker) log.warn('sample evidence is ENABLED: development only, never in production')
  let maintenance: { stop(): void } | undefined
  const startUp = async (): Promise<void> => {
    // A worker waits for the primary's start-up, then checks the database itself (migrations
    // already applied, the KEK check and the audit key read: no writes).
    if (primary !== undefined) await primary.prepared
    if (!(await timings.time('waitForDatabase', () => services.readiness.waitForDatabase()))) return
    if (!worker) {
      await timings.time('adminAccess', () => prepareAdminAccess(services, config.bootstrapAdminToken))
      maintenance = scheduleMaintenance(services)
    }
    log.info('ready')
  }
  let server: Awaited<ReturnType<typeof listen>>
  let metrics: MetricsListener | undefined
  let started: Promise<void> = Promise.resolve()
  try {
    if (!listenFirst) await startUp()
    server = await timings.time('listen', () => listen(createApp({ config, services, log }), config, log))
    if (worker) answerPrimaryScrapes(services.metrics)
    else if (config.metricsListen !== undefined) metrics = await listenMetrics(services.metrics, config.metricsListen, log)
    started = listenFirst ? startUp() : Promise.resolve()
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
    if (worker) {
      // A worker may be told twice (the primary's message, and SIGTERM sent to the whole
      // control group by systemd or SIGINT to the terminal's process group): the first starts
      // the drain, the others are ignored instead of killing the process half-way.
      process.on('SIGINT', () => resolve('SIGINT'))
      process.on('SIGTERM', () => resolve('SIGTERM'))
      void primary?.shutdown.then(() => resolve('primary'))
    } else {
      process.once('SIGINT', () => resolve('SIGINT'))
      process.once('SIGTERM', () => resolve('SIGTERM'))
    }
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
  // The counted refusals of the current window are written before the database closes; bounded,
  // so that a database that does not answer cannot hold the shutdown (the counts are then lost).
  const refusalsWritten = await settlesWithin(services.refusals.stop(), REFUSAL_FLUSH_BOUND_MS)
  if (!refusalsWritten) log.warn('refusal counts not written before shutdown', { boundMs: REFUSAL_FLUSH_BOUND_MS })
  log.info('connections closed; closing the database')
  await services.database.close()
  log.info('stopped')
  return signal instanceof Error ? 1 : 0
}

/** How long shutdown waits for the refusal counts to be written (README "Database faults"). */
const REFUSAL_FLUSH_BOUND_MS = 5_000


/**
 * In a worker: the primary's messages as promises. Says `hello` at once, so the primary knows
 * this worker can hear it (before that it is sent a signal instead). `serve()` reports this
 * worker ready and resolves when the primary says the group is.
 */
function listenToPrimary(): { readonly prepared: Promise<void>; readonly shutdown: Promise<void>; serve(): Promise<void> } {
  let prepared: () => void = () => {}
  let serve: () => void = () => {}
  let shutdown: () => void = () => {}
  const channel = {
    prepared: new Promise<void>((resolve) => (prepared = resolve)),
    shutdown: new Promise<void>((resolve) => (shutdown = resolve)),
    serving: new Promise<void>((resolve) => (serve = resolve)),
  }
  process.on('message', (message: unknown) => {
    if (isWorkerMessage(message, WORKER_MESSAGES.prepared)) prepared()
    else if (isWorkerMessage(message, WORKER_MESSAGES.serve)) serve()
    else if (isWorkerMessage(message, WORKER_MESSAGES.shutdown)) shutdown()
  })
  process.send?.({ type: WORKER_MESSAGES.hello })
  return {
    prepared: channel.prepared,
    shutdown: channel.shutdown,
    serve: () => {
      process.send?.({ type: WORKER_MESSAGES.ready })
      return channel.serving
    },
  }
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
