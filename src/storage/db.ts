/**
 * Opening the database: embedded PGlite (default) or PostgreSQL (`DATABASE_URL`), behind one
 * drizzle type so every query runs unchanged on both engines.
 */
import { existsSync } from 'node:fs'
import { chmod, mkdir, readdir, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { PGlite } from '@electric-sql/pglite'
import { sql, type ExtractTablesWithRelations } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core'
import type pg from 'pg'
import { KeybrokerError } from '../errors.js'
import * as schema from './schema.js'
import { lockDataDir, type DataDirLock } from './data-dir-lock.js'
import { registerPreparedRunner } from './prepared.js'
import { defaultTemplateRoot, findTemplate, isEmptyDirectory, migrationsFolder, seedFromTemplate, templateKey } from './pglite-template.js'
import { driverError } from './storage-error.js'
import { settlesWithin } from '../settles-within.js'

/** The drizzle handle common to `drizzle-orm/pglite` and `drizzle-orm/node-postgres`. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>

/** A transaction opened with `db.transaction(async (tx) => …)`. */
export type Transaction = PgTransaction<PgQueryResultHKT, typeof schema, ExtractTablesWithRelations<typeof schema>>

/**
 * What every query function runs on: the database, or a transaction of the caller so that the
 * query commits or rolls back together with the caller's other writes (and its audit entry).
 */
export type Executor = Db | Transaction

export type DatabaseEngine = 'pglite' | 'postgres'

export interface Database {
  readonly db: Db
  readonly engine: DatabaseEngine
  /** Resolves when the database answers a trivial query; otherwise throws `not-ready`. */
  ping(): Promise<void>
  /** Releases the connections (or the PGlite instance). Safe to call more than once. */
  close(): Promise<void>
  /** Connections open, idle and awaited, for the metrics (PGlite: one connection). */
  poolStats?(): { readonly total: number; readonly idle: number; readonly waiting: number; readonly max: number }
}

export interface OpenDatabaseOptions {
  /** `postgres://…` URL; when absent, embedded PGlite is used. */
  readonly databaseUrl?: string | undefined
  /** PGlite data directory, created if missing; `undefined` means in memory. Ignored for PostgreSQL. */
  readonly dataDir?: string | undefined
  /** Apply pending migrations before returning (what `keybroker serve` does at start). */
  readonly migrate?: boolean | undefined
  /** PostgreSQL pool size; default 5. */
  readonly maxConnections?: number | undefined
  /** How long to wait for a PostgreSQL connection before failing with `not-ready`; default 5000 ms. */
  readonly connectTimeoutMs?: number | undefined
  /**
   * PostgreSQL: the most one statement may take, or `undefined` for no bound (the CLI's one-off
   * commands). The server cancels a statement after this long (`statement_timeout`, SQLSTATE
   * 57014: a lock held elsewhere, an overloaded server), and pg gives up on an answer one second
   * later (`query_timeout`: a server or network that went silent) and closes that connection.
   * Both fail the query with `not-ready`. Migrations are not bounded (their own connection).
   */
  readonly queryTimeoutMs?: number | undefined
  /**
   * PostgreSQL: how long `close()` waits for connections still checked out (a query still
   * running) before it closes their sockets and returns; default 3000 ms.
   */
  readonly closeTimeoutMs?: number | undefined
  /**
   * Called with errors of idle pooled connections (e.g. the server restarted). The pool has
   * already discarded the broken connection; the next query opens a new one. Default: ignored,
   * because any lasting outage surfaces as `not-ready` on the next query or `ping()`.
   */
  readonly onBackgroundError?: ((err: KeybrokerError) => void) | undefined
  /**
   * PGlite only: where the pre-initialized data directories made by `npm run build` are
   * (src/storage/pglite-template.ts); an empty `dataDir` is filled from the matching one instead
   * of running initdb. Default `dist/pglite-template` of the package; `false`: always initdb.
   */
  readonly templateRoot?: string | false | undefined
}

/**
 * PostgreSQL settings of the embedded database, on top of PGlite's own (`-c name=value`, read at
 * every start, so they apply to existing data directories too). They size PostgreSQL's shared
 * memory, which PGlite allocates inside its WebAssembly memory and touches whole at start, so
 * every byte of it is resident for the life of the process (WebAssembly memory is never given
 * back); measured in README "Start-up and memory":
 *
 * - shared_buffers 8 MB (PostgreSQL's default 128 MB held ~130 MB more): keybroker's working set
 *   (the tails of the nonce and audit tables and their indexes, the release data) fits, and a
 *   page PGlite evicts is one read from the operating system's page cache away.
 * - Backend slots: PGlite is one backend in single-user mode, without autovacuum workers or WAL
 *   senders, but PostgreSQL sizes its lock, PGPROC, predicate-lock and asynchronous I/O arrays for
 *   max_connections + autovacuum_worker_slots + max_wal_senders backends (100 + 16 + 10 by
 *   default): ~4 MB for slots nobody uses.
 */
export const PGLITE_SETTINGS: readonly string[] = [
  'shared_buffers=8MB',
  'max_connections=5',
  'autovacuum_worker_slots=1',
  'autovacuum_max_workers=1',
  'max_wal_senders=0',
  'max_replication_slots=0',
]

/**
 * Engine-specific migration runners, kept out of the public `Database` shape. Keyed by the drizzle
 * handle, so a wrapper `Database` that passes `db` through (test helpers) still migrates.
 */
const migrators = new WeakMap<Db, () => Promise<void>>()

/**
 * A PostgreSQL URL with its password removed, for messages and logs
 * (`postgres://user@host:5432/db`). Unparseable input gives a fixed placeholder.
 */
export function redactDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl)
    if (url.password !== '') url.password = ''
    url.search = ''
    return url.toString()
  } catch {
    // Deliberately no detail: an unparseable URL may still contain a password.
    return '<unparseable database URL>'
  }
}

/**
 * Opens the database: PostgreSQL when `databaseUrl` is given (a small `pg` pool with a connect
 * timeout), otherwise PGlite in `dataDir` (created if missing) or in memory. The connection is
 * checked with a query before this resolves; with `migrate: true` pending migrations are applied.
 *
 * @throws KeybrokerError `not-ready` when the database cannot be reached, the data directory
 *   cannot be created, or a migration fails; the driver error is the cause. No message contains
 *   a password.
 */
export async function openDatabase(opts: OpenDatabaseOptions = {}): Promise<Database> {
  const database = await connectDatabase(opts)
  try {
    await database.ping()
    if (opts.migrate === true) await migrateDatabase(database)
  } catch (err) {
    await database.close()
    throw err
  }
  return database
}

/**
 * Like {@link openDatabase} but neither checks the connection nor migrates: for PostgreSQL it only
 * builds the pool, so it succeeds while the server is down. `keybroker serve` uses it to listen
 * (answering `/readyz` with 503) while it waits for the database (src/services/readiness.ts).
 *
 * @throws KeybrokerError `not-ready` when PGlite cannot be opened or the URL is invalid.
 */
export async function connectDatabase(opts: OpenDatabaseOptions = {}): Promise<Database> {
  return opts.databaseUrl === undefined ? openPglite(opts.dataDir, opts.templateRoot) : openPostgres(opts.databaseUrl, opts)
}

/**
 * Applies every migration in `migrations/` not yet recorded in `drizzle.__drizzle_migrations`,
 * in one transaction. Idempotent. On PostgreSQL a session advisory lock makes replicas that
 * start together migrate one after the other instead of racing.
 *
 * @throws KeybrokerError `not-ready` (cause: the driver error) when a migration fails.
 */
export async function migrateDatabase(database: Database): Promise<void> {
  const run = migrators.get(database.db)
  if (run === undefined) throw new KeybrokerError('internal', 'migrateDatabase: not a database opened by openDatabase')
  try {
    await run()
  } catch (err) {
    if (err instanceof KeybrokerError) throw err
    throw new KeybrokerError('not-ready', 'database migration failed', { cause: driverError(err) })
  }
}

async function openPglite(dataDir: string | undefined, templateRoot: string | false | undefined): Promise<Database> {
  // Each engine's driver is loaded only when it is used (start-up time: README "Start-up and memory").
  const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }, { pglitePreparedRunner }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
    import('./pglite-prepared.js'),
  ])
  let client: PGlite
  let lock: DataDirLock | undefined
  try {
    if (dataDir !== undefined) {
      await mkdir(dirname(dataDir), { recursive: true })
      // One process per data directory: fails at once, naming the running process.
      lock = await lockDataDir(dataDir)
      // PGlite's file system layer creates files and directories with the modes PostgreSQL asks
      // for less the umask, and keeps creating them (WAL segments, relations) while it runs:
      // owner-only from here on for this process (0600 / 0700, as PostgreSQL's own data
      // directory), and tighten what an earlier version left behind.
      process.umask(process.umask() | 0o077)
      // A first start copies the build's template (owner-only modes) instead of running initdb.
      const root = templateRoot ?? defaultTemplateRoot()
      const template = root !== false && (await isEmptyDirectory(dataDir)) ? await findTemplate(root) : undefined
      if (template !== undefined) await seedFromTemplate(template, dataDir)
      await mkdir(dataDir, { recursive: true, mode: 0o700 })
      await restrictModes(dataDir)
    }
    const startParams = [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((setting) => ['-c', setting])]
    client = await PGlite.create(dataDir === undefined ? { startParams } : { dataDir, startParams })
    // The first start unpacks the initial cluster with each file chmod'ed 0666 (the umask does
    // not apply to chmod): tighten again. Files PostgreSQL creates later honour the umask.
    if (dataDir !== undefined) await restrictModes(dataDir)
  } catch (err) {
    await lock?.release()
    if (err instanceof KeybrokerError) throw err
    throw new KeybrokerError('not-ready', `cannot open PGlite ${dataDir === undefined ? 'in memory' : `in ${dataDir}`}`, { cause: err })
  }
  const db = drizzlePglite({ client, schema })
  let closing: Promise<void> | undefined
  const database: Database = {
    db,
    engine: 'pglite',
    ping: () => pingDb(db),
    poolStats: () => ({ total: 1, idle: 1, waiting: 0, max: 1 }),
    close: () => {
      closing ??= (client.closed ? Promise.resolve() : client.close()).finally(() => lock?.release())
      return closing
    },
  }
  migrators.set(db, () => migratePglite(db, { migrationsFolder: migrationsFolder() }))
  // Parsed and planned once per instance, then Bind/Execute only (src/storage/pglite-prepared.ts).
  registerPreparedRunner(db, pglitePreparedRunner(client))
  return database
}

/**
 * Makes the PGlite template for this PGlite version and these migrations under `root` (initdb
 * and migrations in a staging directory, closed cleanly, renamed into place) unless it exists,
 * and removes templates of other versions. What `npm run build` runs (scripts/pglite-template.ts).
 */
export async function ensurePgliteTemplate(root: string = defaultTemplateRoot()): Promise<{ readonly path: string; readonly created: boolean }> {
  const key = await templateKey()
  const target = join(root, key)
  if (existsSync(join(target, 'PG_VERSION'))) return { path: target, created: false }
  await mkdir(root, { recursive: true, mode: 0o700 })
  const staging = join(root, `${key}.making-${process.pid}`)
  await rm(staging, { recursive: true, force: true })
  try {
    const database = await openDatabase({ dataDir: staging, migrate: true, templateRoot: false })
    await database.close()
    await rename(staging, target)
  } catch (err) {
    await rm(staging, { recursive: true, force: true })
    // Another build made it meanwhile: use theirs.
    if (existsSync(join(target, 'PG_VERSION'))) return { path: target, created: false }
    throw err
  }
  for (const name of await readdir(root)) {
    if (name !== key && !name.includes('.making-')) await rm(join(root, name), { recursive: true, force: true })
  }
  return { path: target, created: true }
}

/** chmod 0700 on `dir` and the directories below it, 0600 on the files; symlinks left alone. */
async function restrictModes(dir: string): Promise<void> {
  await chmod(dir, 0o700)
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) await restrictModes(path)
    else if (entry.isFile()) await chmod(path, 0o600)
  }
}

/** Arbitrary constant key for `pg_advisory_lock`, shared by every keybroker replica. */
const MIGRATION_LOCK_KEY = 0x6b6272 // "kbr"

async function openPostgres(databaseUrl: string, opts: OpenDatabaseOptions): Promise<Database> {
  const [{ default: pg }, { LendingPool }, { drizzle: drizzleNodePg }, { migrate: migrateNodePg }] = await Promise.all([
    import('pg'),
    import('./pg-lending-pool.js'),
    import('drizzle-orm/node-postgres'),
    import('drizzle-orm/node-postgres/migrator'),
  ])
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000
  const bounds =
    opts.queryTimeoutMs === undefined
      ? {}
      : { statement_timeout: opts.queryTimeoutMs, query_timeout: opts.queryTimeoutMs + 1_000, keepAlive: true, keepAliveInitialDelayMillis: 10_000 }
  let pool: pg.Pool
  try {
    // A LendingPool, so that a transaction whose connection breaks always gives its client back
    // (src/storage/pg-lending-pool.ts): otherwise a failed BEGIN leaks it and close() never ends.
    pool = new LendingPool({
      connectionString: databaseUrl,
      max: opts.maxConnections ?? 5,
      connectionTimeoutMillis: connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      ...bounds,
    })
  } catch (err) {
    throw new KeybrokerError('not-ready', `invalid database URL ${redactDatabaseUrl(databaseUrl)}`, { cause: err })
  }
  // Without a listener an idle-connection error would crash the process.
  pool.on('error', (err) => {
    opts.onBackgroundError?.(new KeybrokerError('not-ready', 'idle PostgreSQL connection failed', { cause: err }))
  })
  // The pool listens on idle clients only: a client checked out for a transaction (the audit group
  // commit, an admin change) that loses its server (restart, failover, pg_terminate_backend) emits
  // 'error' with nobody listening, which kills the process. A listener for the client's whole life
  // keeps it alive; the pending query fails on its own (`not-ready`), and the client is destroyed
  // on release (by pg-pool, or at once by the Lease that lent it).
  const open = new Set<pg.PoolClient>()
  pool.on('connect', (client) => {
    open.add(client)
    client.on('error', (err) => {
      opts.onBackgroundError?.(new KeybrokerError('not-ready', 'PostgreSQL connection failed', { cause: err }))
    })
  })
  pool.on('remove', (client) => open.delete(client))
  const db = drizzleNodePg({ client: pool, schema })
  let closing: Promise<void> | undefined
  const closeTimeoutMs = opts.closeTimeoutMs ?? 3_000
  const database: Database = {
    db,
    engine: 'postgres',
    ping: () => pingDb(db, redactDatabaseUrl(databaseUrl)),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: opts.maxConnections ?? 5 }),
    close: () => {
      closing ??= closePool(pool, open, closeTimeoutMs, opts.onBackgroundError)
      return closing
    },
  }
  registerPreparedRunner(db, async (statement, values) => (await pool.query({ name: statement.name, text: statement.text, values: [...values] })).rows)
  migrators.set(db, async () => {
    // A connection of its own, outside the pool and its statement bounds: a migration may
    // rightly take longer than any request should (an index on a large table).
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: connectTimeoutMs })
    client.on('error', (err) => {
      opts.onBackgroundError?.(new KeybrokerError('not-ready', 'PostgreSQL migration connection failed', { cause: err }))
    })
    try {
      await client.connect()
      await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
      // The lock is a session lock: ending the connection releases it, also when this fails.
      await migrateNodePg(drizzleNodePg({ client, schema }), { migrationsFolder: migrationsFolder() })
    } finally {
      await client.end().catch(() => undefined)
    }
  })
  return database
}

/**
 * `pool.end()`, bounded: pg-pool waits for every checked-out client to be released, so one that
 * never is (a query that never settles) would hold the shutdown forever. After `timeoutMs` the
 * sockets still open are destroyed (their queries fail) and this returns.
 */
async function closePool(pool: pg.Pool, open: Set<pg.PoolClient>, timeoutMs: number, report: OpenDatabaseOptions['onBackgroundError']): Promise<void> {
  if (await settlesWithin(pool.end(), timeoutMs)) return
  const left = [...open]
  report?.(new KeybrokerError('not-ready', `database close: ${left.length} connection(s) still busy after ${timeoutMs} ms; closing them`))
  for (const client of left) client.end().catch(() => undefined)
}

async function pingDb(db: Db, target = 'PGlite'): Promise<void> {
  try {
    await db.execute(sql`select 1`)
  } catch (err) {
    throw new KeybrokerError('not-ready', `database ${target} is not reachable`, { cause: driverError(err) })
  }
}
