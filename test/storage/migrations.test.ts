import { execFile } from 'node:child_process'
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GENESIS_HASH } from '../../src/audit/index.js'
import { migrateDatabase, migrationsFolder, type Database } from '../../src/storage/index.js'
import { auditHead } from '../../src/storage/schema.js'
import { testDatabases } from '../support/databases.js'

const run = promisify(execFile)

async function journalLength(): Promise<number> {
  const journal: unknown = JSON.parse(await readFile(join(migrationsFolder(), 'meta', '_journal.json'), 'utf8'))
  if (typeof journal !== 'object' || journal === null || !('entries' in journal) || !Array.isArray(journal.entries)) {
    throw new Error('unexpected _journal.json shape')
  }
  return journal.entries.length
}

describe('committed migrations', () => {
  it('match src/storage/schema.ts (drizzle-kit generate finds nothing to add)', async () => {
    // Generate into a copy of migrations/: a schema change without its migration yields a new file.
    // drizzle-kit prefixes --out with "./", so it must be relative to the working directory.
    const dir = await mkdtemp(join(tmpdir(), 'kb-drift-'))
    try {
      const out = join(dir, 'migrations')
      await cp(migrationsFolder(), out, { recursive: true })
      const before = (await readdir(out)).sort()
      // A rename would make drizzle-kit prompt; the timeout turns that into a failure, not a hang.
      await run(
        'npx',
        ['drizzle-kit', 'generate', '--dialect', 'postgresql', '--schema', './src/storage/schema.ts', '--out', relative(process.cwd(), out)],
        { timeout: 45_000, env: { ...process.env, CI: '1' } },
      )
      expect((await readdir(out)).sort()).toEqual(before)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe.each(testDatabases())('migrations on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  it('seed the audit head with the genesis hash', async () => {
    expect(await database.db.select().from(auditHead)).toEqual([{ id: 1, lastId: 0, lastHash: GENESIS_HASH, format: 1 }])
  })

  it('are a no-op when applied again', async () => {
    const count = async (): Promise<number | undefined> =>
      (await database.db.select({ n: sql<number>`count(*)::int` }).from(sql`drizzle.__drizzle_migrations`))[0]?.n
    const before = await count()
    await migrateDatabase(database)
    await migrateDatabase(database)
    expect(await count()).toEqual(before)
    expect(before).toBe(await journalLength())
    expect(await database.db.select().from(auditHead)).toEqual([{ id: 1, lastId: 0, lastHash: GENESIS_HASH, format: 1 }])
  })
})
