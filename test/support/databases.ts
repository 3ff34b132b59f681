/**
 * The database engines a behaviour suite runs on: PGlite in memory always, and PostgreSQL when
 * `DATABASE_URL` is set. Each `open()` gives a fresh, migrated, empty database:
 *
 * - PGlite: a new in-memory instance.
 * - PostgreSQL: a new database `kb_test_<pid>_<random>` created through `DATABASE_URL` (which
 *   must name a role allowed to CREATE DATABASE); its `close()` drops it WITH (FORCE). Test files
 *   running in parallel therefore never share tables.
 *
 * ```ts
 * describe.each(testDatabases())('storage on %s', (engine) => {
 *   let database: Database
 *   beforeAll(async () => { database = await engine.open() })
 *   afterAll(() => database.close())
 * })
 * ```
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { migrateDatabase, openDatabase, type Database } from '../../src/storage/index.js'
import { requireWhen } from './required.js'

export type TestDatabaseKind = 'pglite' | 'postgres'

export interface TestDatabaseEngine {
  readonly kind: TestDatabaseKind
  /** A fresh, migrated, empty database; close it in `afterAll`. */
  open(): Promise<Database>
  /** The kind, so `describe.each(testDatabases())('… on %s', …)` prints it. */
  toString(): string
}

/**
 * The PostgreSQL admin URL from the environment, or `undefined` (PostgreSQL suites skipped;
 * with KEYBROKER_TEST_REQUIRE_POSTGRES=1 an error, so CI cannot lose PostgreSQL silently).
 */
export function postgresTestUrl(): string | undefined {
  const url = process.env['DATABASE_URL']
  const set = url !== undefined && url !== ''
  requireWhen('KEYBROKER_TEST_REQUIRE_POSTGRES', 'DATABASE_URL (PostgreSQL)', set)
  return set ? url : undefined
}

/** The engines to run a behaviour suite on: `pglite`, plus `postgres` when `DATABASE_URL` is set. */
export function testDatabases(): TestDatabaseEngine[] {
  const kinds: TestDatabaseKind[] = postgresTestUrl() === undefined ? ['pglite'] : ['pglite', 'postgres']
  return kinds.map((kind) => ({ kind, open: () => openTestDatabase(kind), toString: () => kind }))
}

/**
 * Opens a fresh, migrated, empty test database of `kind`.
 *
 * @throws Error for `postgres` when `DATABASE_URL` is not set.
 */
export async function openTestDatabase(kind: TestDatabaseKind): Promise<Database> {
  if (kind === 'pglite') return openDatabase({ migrate: true })
  const adminUrl = postgresTestUrl()
  if (adminUrl === undefined) throw new Error('openTestDatabase(postgres) needs DATABASE_URL')
  return openScratchPostgres(adminUrl)
}

async function openScratchPostgres(adminUrl: string): Promise<Database> {
  const name = `kb_test_${process.pid}_${randomBytes(6).toString('hex')}`
  await withAdminClient(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`))
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  let database: Database
  try {
    database = await openDatabase({ databaseUrl: url.toString(), migrate: true })
  } catch (err) {
    await dropDatabase(adminUrl, name)
    throw err
  }
  let closing: Promise<void> | undefined
  return {
    db: database.db,
    engine: database.engine,
    ping: () => database.ping(),
    close: () => {
      closing ??= database.close().then(() => dropDatabase(adminUrl, name))
      return closing
    },
  }
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdminClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
}

async function withAdminClient<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}
