/**
 * The PGlite template (src/storage/pglite-template.ts): an empty data directory is filled from the
 * template of this PGlite version and these migrations, with owner-only modes; an existing data
 * directory, a template of another version, or `templateRoot: false` never use it.
 * A marker table written into the template tells a seeded directory from one made by initdb.
 */
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensurePgliteTemplate, executeRows, openDatabase, type Database } from '../../src/storage/index.js'
import { findTemplate, templateKey } from '../../src/storage/pglite-template.js'

async function hasTable(database: Database, name: string): Promise<boolean> {
  const rows = await executeRows(database.db, sql`select to_regclass(${name}) is not null as present`)
  return rows[0]?.present === true
}

const hasMarker = (database: Database) => hasTable(database, 'public.template_marker')

async function looseModes(dir: string): Promise<string[]> {
  const loose: string[] = []
  const walk = async (d: string): Promise<void> => {
    if (((await stat(d)).mode & 0o777) !== 0o700) loose.push(d)
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name)
      if (entry.isDirectory()) await walk(path)
      else if (((await stat(path)).mode & 0o777) !== 0o600) loose.push(path)
    }
  }
  await walk(dir)
  return loose
}

describe('PGlite template', () => {
  let work: string
  let root: string
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kb-template-'))
    root = join(work, 'templates')
    const made = await ensurePgliteTemplate(root)
    expect(made.created).toBe(true)
    expect(made.path).toBe(join(root, await templateKey()))
    // Mark the template, so that a copy can be told from an initdb.
    const template = await openDatabase({ dataDir: made.path, templateRoot: false })
    await template.db.execute(sql`create table template_marker (id int)`)
    await template.close()
  }, 300_000)
  afterAll(() => rm(work, { recursive: true, force: true }))

  it('is made once: a second build finds it', async () => {
    const again = await ensurePgliteTemplate(root)
    expect(again.created).toBe(false)
    expect(await findTemplate(root)).toBe(again.path)
    // Nothing but the template (no staging directory, no lock file) is left in the root.
    expect(await readdir(root)).toEqual([await templateKey()])
  })

  it('fills an empty data directory, owner-only, migrated', async () => {
    const dataDir = join(work, 'seeded', 'pglite')
    await mkdir(dataDir, { recursive: true, mode: 0o755 })
    const database = await openDatabase({ dataDir, templateRoot: root, migrate: true })
    try {
      expect(await hasMarker(database)).toBe(true)
      expect(await hasTable(database, 'drizzle.__drizzle_migrations')).toBe(true)
      expect(await hasTable(database, 'public.audit_log')).toBe(true)
      expect(await looseModes(dataDir)).toEqual([])
      // The copy is staged beside the data directory and renamed: nothing is left behind.
      expect((await readdir(join(work, 'seeded'))).sort()).toEqual(['pglite', 'pglite.lock'])
    } finally {
      await database.close()
    }
  }, 120_000)

  it('never touches an existing data directory', async () => {
    const dataDir = join(work, 'existing', 'pglite')
    const first = await openDatabase({ dataDir, templateRoot: false, migrate: true })
    await first.db.execute(sql`create table mine (id int)`)
    await first.close()
    const reopened = await openDatabase({ dataDir, templateRoot: root, migrate: true })
    try {
      expect(await hasMarker(reopened)).toBe(false)
      expect(await hasTable(reopened, 'public.mine')).toBe(true)
    } finally {
      await reopened.close()
    }
  }, 300_000)

  it('is not used when only another version\'s template is there', async () => {
    const other = join(work, 'other-templates')
    await mkdir(join(other, '0'.repeat(32)), { recursive: true })
    expect(await findTemplate(other)).toBeUndefined()
    const database = await openDatabase({ dataDir: join(work, 'other', 'pglite'), templateRoot: other, migrate: true })
    try {
      expect(await hasMarker(database)).toBe(false)
    } finally {
      await database.close()
    }
  }, 300_000)
})
