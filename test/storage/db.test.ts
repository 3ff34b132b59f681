import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerError } from '../../src/errors.js'
import {
  consumeNonce,
  executeRows,
  isUniqueViolation,
  migrateDatabase,
  openDatabase,
  redactDatabaseUrl,
  type Database,
} from '../../src/storage/index.js'
import { PGLITE_SETTINGS } from '../../src/storage/db.js'
import { usedNonces } from '../../src/storage/schema.js'
import { testDatabases } from '../support/databases.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')

describe('openDatabase', () => {
  it('creates a missing PGlite data directory, and the data survives a reopen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-pglite-'))
    const dataDir = join(dir, 'nested', 'data')
    try {
      const first = await openDatabase({ dataDir, migrate: true })
      expect(first.engine).toBe('pglite')
      expect(await consumeNonce(first.db, 'persisted', T0, T0)).toBe(true)
      await first.close()
      await first.close()
      const second = await openDatabase({ dataDir, migrate: true })
      try {
        expect(await consumeNonce(second.db, 'persisted', T0, T0)).toBe(false)
      } finally {
        await second.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('starts PGlite with the memory settings, so its shared memory stays small', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-pglite-'))
    try {
      const database = await openDatabase({ dataDir: join(dir, 'data'), migrate: true })
      try {
        const show = async (name: string) => {
          const [row] = await executeRows(database.db, sql.raw(`show ${name}`))
          return row?.[name]
        }
        for (const setting of PGLITE_SETTINGS) {
          const [name, value] = setting.split('=')
          expect(await show(name ?? '')).toBe(value)
        }
        // What the settings are for: PostgreSQL's shared memory, all of it resident in PGlite's
        // WebAssembly memory (24 MB with shared_buffers=16MB and the default backend slots).
        expect(Number.parseInt(String(await show('shared_memory_size')), 10)).toBeLessThanOrEqual(12)
        expect(await consumeNonce(database.db, 'with-settings', T0, T0)).toBe(true)
      } finally {
        await database.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('fails with not-ready, without the password, when PostgreSQL is unreachable', async () => {
    const err: unknown = await openDatabase({ databaseUrl: 'postgres://kb:hunter2@127.0.0.1:1/kb', connectTimeoutMs: 2_000 }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(KeybrokerError)
    expect(err).toMatchObject({ code: 'not-ready' })
    expect(String(err)).not.toContain('hunter2')
    expect(err instanceof Error ? err.cause : undefined).toBeDefined()
  })

  it('redacts passwords from database URLs', () => {
    expect(redactDatabaseUrl('postgres://kb:hunter2@db.example:5432/kb?sslmode=require')).toBe('postgres://kb@db.example:5432/kb')
    expect(redactDatabaseUrl('not a url hunter2')).not.toContain('hunter2')
  })

  it('refuses to migrate a database it did not open', async () => {
    const fake: Database = { db: (await openDatabaseLike()).db, engine: 'pglite', ping: async () => {}, close: async () => {} }
    await expect(migrateDatabase(fake)).rejects.toMatchObject({ code: 'internal' })
  })
})

/** A drizzle handle not registered by openDatabase (drizzle's mock driver: no client at all). */
async function openDatabaseLike(): Promise<Pick<Database, 'db'>> {
  const { drizzle } = await import('drizzle-orm/pglite')
  return { db: drizzle.mock() }
}

describe.each(testDatabases())('database on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  it('answers ping', async () => {
    await expect(database.ping()).resolves.toBeUndefined()
  })

  it('reports a raw unique violation as SQLSTATE 23505 through drizzle', async () => {
    await database.db.insert(usedNonces).values({ nonceId: 'dup', expiresAt: T0, usedAt: T0 })
    const err: unknown = await database.db
      .insert(usedNonces)
      .values({ nonceId: 'dup', expiresAt: T0, usedAt: T0 })
      .catch((e: unknown) => e)
    expect(isUniqueViolation(err)).toBe(true)
    expect(isUniqueViolation(new Error('other'))).toBe(false)
  })

  it('maps other database errors to internal with the driver error as cause', async () => {
    const { guard } = await import('../../src/storage/storage-error.js')
    const err: unknown = await guard('test', () => database.db.execute(sql`select * from no_such_table`)).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'internal' })
    expect(String(err)).not.toContain('no_such_table') // detail stays coarse; the cause has the rest
  })

  it('runs raw SQL and returns rows as records on both engines', async () => {
    await consumeNonce(database.db, 'raw', T0, T0)
    const rows = await executeRows(database.db, sql`select nonce_id, 2::int as two from used_nonces where nonce_id = ${'raw'}`)
    expect(rows).toEqual([{ nonce_id: 'raw', two: 2 }])
    await expect(executeRows(database.db, sql`select * from no_such_table`)).rejects.toMatchObject({ code: 'internal' })
  })

  it('reports not-ready after close, and close is idempotent', async () => {
    const other = await engine.open()
    await other.close()
    await other.close()
    await expect(other.ping()).rejects.toMatchObject({ code: 'not-ready' })
  })
})
