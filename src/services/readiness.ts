import { ConfigError } from '../config/config.js'
import { KeybrokerError } from '../errors.js'
import { describeError, type Logger } from '../log/logger.js'
import { migrateDatabase, type Database } from '../storage/index.js'

/**
 * - `starting`: the database has not yet answered and been migrated (`keybroker serve` listens
 *   meanwhile, answering 503 `not-ready`).
 * - `ready`: serving.
 * - `unavailable`: a query just failed because the database is unreachable; a probe pings it
 *   until it answers. Requests are answered 503 at once instead of each waiting for a connection.
 * - `draining`: shutting down; `/readyz` says 503 so load balancers stop sending, requests still
 *   in flight finish.
 */
export type ReadinessState = 'starting' | 'ready' | 'unavailable' | 'draining'

export interface ReadinessOptions {
  /** Pause between probes while the database is unavailable; default 500 ms. */
  readonly probeIntervalMs?: number
  /** First and largest pause between start-up attempts; default 250 ms and 5 s (doubling, jittered). */
  readonly startBackoffMs?: { readonly first: number; readonly max: number }
  /**
   * Start-up steps that need the database (the audit key, the KEK check), run after the
   * migrations and before `ready`. A `ConfigError` from them stops the start-up; any other error
   * is retried like an unreachable database.
   */
  readonly onDatabaseReady?: () => Promise<void>
}

/** How long a client should wait before retrying a request refused with `not-ready`. */
export const NOT_READY_RETRY_AFTER_SECONDS = 2

/**
 * Whether the service can answer requests that need the database, kept in one place so that
 * `/readyz`, the request gate and shutdown agree. A database fault never throws out of here: it
 * turns into a state (and 503 answers), and the service recovers by itself when the database
 * answers again.
 */
export class Readiness {
  readonly #database: Database
  readonly #log: Logger
  readonly #probeIntervalMs: number
  readonly #startBackoff: { readonly first: number; readonly max: number }
  readonly #onDatabaseReady: () => Promise<void>
  #state: ReadinessState
  #probing = false
  #stopped = false

  constructor(database: Database, log: Logger, initial: 'starting' | 'ready', options: ReadinessOptions = {}) {
    this.#database = database
    this.#log = log
    this.#state = initial
    this.#probeIntervalMs = options.probeIntervalMs ?? 500
    this.#startBackoff = options.startBackoffMs ?? { first: 250, max: 5_000 }
    this.#onDatabaseReady = options.onDatabaseReady ?? (async () => {})
  }

  get state(): ReadinessState {
    return this.#state
  }

  /**
   * Start-up: pings the database and applies pending migrations, retrying with jittered
   * exponential back-off (bounded pause, unbounded attempts) until it succeeds or {@link stop} is
   * called. Resolves true once ready, false when stopped first.
   */
  async waitForDatabase(): Promise<boolean> {
    let pause = this.#startBackoff.first
    for (let attempt = 1; !this.#stopped; attempt++) {
      try {
        await this.#database.ping()
        await migrateDatabase(this.#database)
        await this.#onDatabaseReady()
        if (this.#stopped) return false
        this.#state = 'ready'
        if (attempt > 1) this.#log.info('database reachable', { attempts: attempt })
        return true
      } catch (err) {
        if (err instanceof ConfigError) throw err
        this.#log.warn('database not reachable at start; retrying', { attempt, retryInMs: pause, error: describeError(err) })
        await sleep(pause / 2 + Math.random() * (pause / 2))
        pause = Math.min(pause * 2, this.#startBackoff.max)
      }
    }
    return false
  }

  /**
   * A request found the database unreachable: until a probe gets an answer, requests are refused
   * at once. Does nothing unless the service was ready (start-up and shutdown keep their state).
   */
  reportUnavailable(): void {
    if (this.#state !== 'ready') return
    this.#state = 'unavailable'
    this.#log.warn('database unavailable; answering 503 until it is back')
    void this.#probe()
  }

  /** Shutdown has begun: `/readyz` answers 503 from now on. */
  startDraining(): void {
    this.#state = 'draining'
  }

  /** Stops start-up retries and probes (shutdown). */
  stop(): void {
    this.#stopped = true
  }

  /**
   * For requests that need the database: throws `not-ready` while starting or while the database
   * is known to be unavailable. Draining still serves (requests already on their way finish).
   */
  assertServing(): void {
    if (this.#state === 'starting') throw notReady('starting: waiting for the database')
    if (this.#state === 'unavailable') throw notReady('database unavailable')
  }

  /** `/readyz`: throws `not-ready` unless ready and the database answers now. */
  async check(): Promise<void> {
    if (this.#state === 'draining') throw notReady('shutting down')
    this.assertServing()
    try {
      await this.#database.ping()
    } catch (err) {
      this.reportUnavailable()
      throw notReady('database unreachable', err)
    }
  }

  async #probe(): Promise<void> {
    if (this.#probing) return
    this.#probing = true
    try {
      while (this.#state === 'unavailable' && !this.#stopped) {
        try {
          await this.#database.ping()
          if (this.#state === 'unavailable') {
            this.#state = 'ready'
            this.#log.info('database available again')
          }
          return
        } catch {
          await sleep(this.#probeIntervalMs)
        }
      }
    } finally {
      this.#probing = false
    }
  }
}

export function notReady(detail: string, cause?: unknown): KeybrokerError {
  return new KeybrokerError('not-ready', detail, {
    ...(cause === undefined ? {} : { cause }),
    extensions: { retryAfterSeconds: NOT_READY_RETRY_AFTER_SECONDS },
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
