/**
 * The cluster primary of `keybroker serve` with `KEYBROKER_WORKERS` > 1 (PostgreSQL only; README,
 * "Several cores: KEYBROKER_WORKERS"). It serves no requests. It does what must happen once —
 * the path checks, the keys and the development certificate in the data directory, the
 * migrations, the KEK check, the audit key, the bootstrap admin token — then lets its workers
 * (node:cluster, one listening socket shared round-robin) become ready; it runs the periodic jobs
 * (nonce purge, audit checkpoints) and the metrics listener; it restarts a worker that dies, with
 * a back-off; on SIGTERM it drains every worker and exits after them, within a bound.
 */
import cluster, { type Worker } from 'node:cluster'
import { join } from 'node:path'
import { defaultWorkers, type Config } from '../config/config.js'
import { checkConfiguredPaths, unknownSettings } from '../config/preflight.js'
import { createLogger, describeError, type Logger } from '../log/logger.js'
import { createClusterMetrics } from '../metrics/cluster-metrics.js'
import { loadOrCreateDevCertificate } from '../server/dev-certificate.js'
import { listenMetrics, type MetricsListener } from '../server/metrics-listener.js'
import { prepareAdminAccess } from '../services/admin-tokens.js'
import { scheduleMaintenance } from '../services/maintenance.js'
import { createServices } from '../services/services.js'
import { servingExecArgv } from './young-generation.js'
import { isWorkerMessage, WORKER_ENV, WORKER_MESSAGES, type WorkerStart } from './worker-messages.js'
import { settlesWithin } from '../settles-within.js'

/** First pause before restarting a worker that died; doubled per death in a row, up to the max. */
export const RESTART_BACKOFF_MS = { first: 500, max: 30_000 } as const
/** A worker that ran this long before dying was healthy: its next restart starts the back-off over. */
export const STABLE_UPTIME_MS = 30_000
/** Beyond the workers' own shutdown bound (delay + grace + 10 s), before they are killed. */
const SHUTDOWN_MARGIN_MS = 5_000

/**
 * The pause before restarting a worker that died after `uptimeMs`, the previous pause of its
 * slot being `previousMs` (0: none yet): 0.5 s, doubled for each death in a row up to 30 s, and
 * back to 0.5 s after a worker that had run {@link STABLE_UPTIME_MS}. A crash loop therefore
 * settles at one restart per 30 s instead of spinning.
 */
export function nextRestartDelayMs(previousMs: number, uptimeMs: number): number {
  if (uptimeMs >= STABLE_UPTIME_MS || previousMs <= 0) return RESTART_BACKOFF_MS.first
  return Math.min(previousMs * 2, RESTART_BACKOFF_MS.max)
}

interface Slot {
  readonly index: number
  worker: Worker | undefined
  startedAt: number
  backoffMs: number
  restart: ReturnType<typeof setTimeout> | undefined
}

export async function servePrimary(config: Config): Promise<number> {
  const log = createLogger(config.logLevel, undefined, { pid: process.pid })
  for (const { name, suggestion } of unknownSettings(process.env)) {
    log.warn('unknown setting ignored', { setting: name, ...(suggestion === undefined ? {} : { didYouMean: suggestion }) })
  }
  checkConfiguredPaths(config)
  const cores = defaultWorkers()
  if (config.workers > cores) log.warn('more workers than cores: they only take turns on the same cores', { workers: config.workers, cores })
  // Files the workers would otherwise race to create: the development certificate here, the
  // token key and a generated KEK in createServices.
  if (!config.insecureHttp && config.tls === undefined) await loadOrCreateDevCertificate(join(config.dataDir, 'tls'), config.listen.host)
  const services = await createServices(config, log, { deferDatabase: true })
  if (config.allowSampleEvidence) log.warn('sample evidence is ENABLED: development only, never in production')

  // V8 sizes a process's young generation only at its start: the workers get serve's size here.
  cluster.setupPrimary({ execArgv: servingExecArgv(process.execArgv, process.env.NODE_OPTIONS) })
  const slots: Slot[] = Array.from({ length: config.workers }, (_, index) => ({ index, worker: undefined, startedAt: 0, backoffMs: 0, restart: undefined }))
  const live = (): Worker[] => slots.flatMap((s) => (s.worker === undefined ? [] : [s.worker]))
  const clusterMetrics = createClusterMetrics(() => live().length)
  let prepared = false
  let stopping = false
  let everListened = false
  /** Whether each worker stopped cleanly at shutdown: exit code 0, or the SIGTERM sent to a worker that could not yet hear a message. */
  const cleanExits: boolean[] = []
  const said = new Set<Worker>()
  /** Workers whose own checks passed; once all live ones are, the group is ready (and stays so). */
  const ready = new Set<Worker>()
  let groupReady = false
  const releaseWhenAllReady = (): void => {
    const workers = live()
    if (groupReady || stopping || workers.length < slots.length || !workers.every((w) => ready.has(w))) return
    groupReady = true
    for (const w of workers) if (w.isConnected()) w.send({ type: WORKER_MESSAGES.serve })
    log.info('all workers ready', { workers: workers.length })
  }
  let fail: (err: Error) => void = () => {}
  const failure = new Promise<Error>((resolve) => {
    fail = resolve
  })
  let allExited: () => void = () => {}

  const fork = (slot: Slot): void => {
    slot.restart = undefined
    const start: WorkerStart = groupReady ? 'restart' : 'start'
    const worker = cluster.fork({ [WORKER_ENV]: start })
    slot.worker = worker
    slot.startedAt = Date.now()
    log.info('worker started', { slot: slot.index, worker: worker.id, workerPid: worker.process.pid, start })
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message, WORKER_MESSAGES.hello)) {
        said.add(worker)
        if (prepared && !stopping) worker.send({ type: WORKER_MESSAGES.prepared })
      } else if (isWorkerMessage(message, WORKER_MESSAGES.ready)) {
        ready.add(worker)
        if (groupReady && !stopping) worker.send({ type: WORKER_MESSAGES.serve })
        else releaseWhenAllReady()
      }
    })
    worker.once('listening', () => {
      everListened = true
    })
    worker.once('exit', (code, signal) => {
      slot.worker = undefined
      if (stopping) {
        cleanExits.push(code === 0 || (signal === 'SIGTERM' && !said.has(worker)))
        log.info('worker stopped', { slot: slot.index, worker: worker.id, workerPid: worker.process.pid, code, signal })
        if (live().length === 0) allExited()
        return
      }
      said.delete(worker)
      ready.delete(worker)
      const uptimeMs = Date.now() - slot.startedAt
      if (!everListened) {
        // No worker ever listened: a start-up failure (a port in use, a bad certificate) that a
        // restart would only repeat. The worker logged why; stop like a single process would.
        log.error('worker failed before listening; stopping', { slot: slot.index, worker: worker.id, code, signal })
        fail(new Error(`worker ${worker.id} exited (${signal ?? code}) before any worker listened`))
        return
      }
      slot.backoffMs = nextRestartDelayMs(slot.backoffMs, uptimeMs)
      log.error('worker died; restarting it', { slot: slot.index, worker: worker.id, workerPid: worker.process.pid, code, signal, uptimeMs, restartInMs: slot.backoffMs })
      clusterMetrics.restarts.inc()
      slot.restart = setTimeout(() => fork(slot), slot.backoffMs)
    })
  }

  let metrics: MetricsListener | undefined
  let maintenance: { stop(): void } | undefined
  try {
    for (const slot of slots) fork(slot)
    if (config.metricsListen !== undefined) metrics = await listenMetrics(clusterMetrics, config.metricsListen, log)
  } catch (err) {
    stopping = true
    for (const w of live()) w.process.kill('SIGKILL')
    await services.database.close()
    throw err
  }
  // Start-up once (PostgreSQL may be down: the workers listen and answer 503 `not-ready` meanwhile).
  const started = (async () => {
    if (!(await services.readiness.waitForDatabase())) return
    await prepareAdminAccess(services, config.bootstrapAdminToken)
    if (stopping) return
    maintenance = scheduleMaintenance(services)
    prepared = true
    for (const w of said) if (w.isConnected()) w.send({ type: WORKER_MESSAGES.prepared })
    log.info('start-up done; workers become ready', { workers: config.workers })
  })().catch((err: unknown) => fail(err instanceof Error ? err : new Error(String(err))))

  const signal = await new Promise<string | Error>((resolve) => {
    // Repeated signals (systemd's to the whole control group, a second Ctrl-C) are ignored.
    process.on('SIGINT', () => resolve('SIGINT'))
    process.on('SIGTERM', () => resolve('SIGTERM'))
    void failure.then(resolve)
  })
  if (signal instanceof Error) log.error('start-up failed', { error: describeError(signal) })
  else log.info('shutting down: draining the workers', { signal, workers: live().length })
  stopping = true
  // Bounded as a whole: the workers' drain (bounded below), then the primary's own closing.
  const timer = setTimeout(() => {
    log.error('shutdown timed out')
    process.exit(1)
  }, config.http.shutdownDelayMs + config.http.shutdownGraceMs + 10_000 + SHUTDOWN_MARGIN_MS + 10_000)
  timer.unref()
  services.readiness.stop()
  maintenance?.stop()
  for (const slot of slots) if (slot.restart !== undefined) clearTimeout(slot.restart)
  const workersGone = await drainWorkers(live(), said, config, log, (resolve) => {
    allExited = resolve
  })
  await started
  await metrics?.close()
  await services.refusals.stop()
  await services.database.close()
  const clean = workersGone && cleanExits.every((c) => c)
  log.info('stopped', { clean })
  return signal instanceof Error || !clean ? 1 : 0
}

/**
 * Tells every worker to drain (each: /readyz 503, listener closed, requests in flight finished
 * within the grace period, database closed) and waits for them to exit; those still running after
 * their own bound plus a margin are killed. Resolves whether all exited by themselves.
 */
async function drainWorkers(workers: readonly Worker[], listening: ReadonlySet<Worker>, config: Config, log: Logger, onAllExited: (resolve: () => void) => void): Promise<boolean> {
  if (workers.length === 0) return true
  const exited = new Promise<void>((resolve) => onAllExited(resolve))
  for (const w of workers) {
    // A worker still loading has no handler yet: a message would be lost, and the default
    // SIGTERM action ends a process that serves nothing yet.
    if (listening.has(w) && w.isConnected()) w.send({ type: WORKER_MESSAGES.shutdown })
    else w.process.kill('SIGTERM')
  }
  const boundMs = config.http.shutdownDelayMs + config.http.shutdownGraceMs + 10_000 + SHUTDOWN_MARGIN_MS
  if (await settlesWithin(exited, boundMs)) return true
  for (const w of workers) {
    if (w.process.exitCode === null && w.process.signalCode === null) {
      log.error('worker did not stop in time; killing it', { worker: w.id, workerPid: w.process.pid })
      w.process.kill('SIGKILL')
    }
  }
  await exited
  return false
}
