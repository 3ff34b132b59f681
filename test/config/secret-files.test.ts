import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/config.js'

describe('*_FILE variants of secret settings', () => {
  let dir: string
  const TOKEN = 'bootstrap-token-from-a-secret-file-0123456789'
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keybroker-secret-files-'))
    await writeFile(join(dir, 'token'), `${TOKEN}\n`)
    await writeFile(join(dir, 'db-password'), 'p@ss word/:#\n')
    await writeFile(join(dir, 'db-url'), 'postgres://kb:secret@db:5432/kb\n')
    await writeFile(join(dir, 'empty'), '')
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const base = () => ({ KEYBROKER_DATA_DIR: dir })
  const failure = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base(), ...env })
    } catch (err) {
      if (err instanceof ConfigError) return err
      throw err
    }
    throw new Error('loaded')
  }

  it('reads the bootstrap token and the database URL from files, without the trailing newline', () => {
    const config = loadConfig({ ...base(), KEYBROKER_BOOTSTRAP_ADMIN_TOKEN_FILE: join(dir, 'token'), DATABASE_URL_FILE: join(dir, 'db-url') })
    expect(config.bootstrapAdminToken).toBe(TOKEN)
    expect(config.databaseUrl).toBe('postgres://kb:secret@db:5432/kb')
  })

  it('adds a password file to a DATABASE_URL without one, percent-encoded', () => {
    const config = loadConfig({ ...base(), DATABASE_URL: 'postgres://keybroker@postgres:5432/keybroker', KEYBROKER_DATABASE_PASSWORD_FILE: join(dir, 'db-password') })
    const url = new URL(config.databaseUrl ?? '')
    expect(decodeURIComponent(url.password)).toBe('p@ss word/:#')
    expect(url.username).toBe('keybroker')
    expect(url.host).toBe('postgres:5432')
  })

  it('names the variable when a file is missing, empty, or the setting is given twice; never the value', () => {
    expect(failure({ KEYBROKER_BOOTSTRAP_ADMIN_TOKEN_FILE: join(dir, 'missing') }).setting).toBe('KEYBROKER_BOOTSTRAP_ADMIN_TOKEN_FILE')
    expect(failure({ KEYBROKER_BOOTSTRAP_ADMIN_TOKEN_FILE: join(dir, 'empty') }).setting).toBe('KEYBROKER_BOOTSTRAP_ADMIN_TOKEN_FILE')
    const twice = failure({ KEYBROKER_BOOTSTRAP_ADMIN_TOKEN_FILE: join(dir, 'token'), KEYBROKER_BOOTSTRAP_ADMIN_TOKEN: TOKEN })
    expect(twice.setting).toBe('KEYBROKER_BOOTSTRAP_ADMIN_TOKEN_FILE')
    expect(twice.message).not.toContain(TOKEN)
    expect(failure({ KEYBROKER_DATABASE_PASSWORD_FILE: join(dir, 'db-password') }).setting).toBe('KEYBROKER_DATABASE_PASSWORD_FILE')
    expect(failure({ DATABASE_URL_FILE: join(dir, 'db-url'), KEYBROKER_DATABASE_PASSWORD_FILE: join(dir, 'db-password') }).setting).toBe('KEYBROKER_DATABASE_PASSWORD_FILE')
    // The file's content is validated as the setting itself.
    expect(failure({ KEYBROKER_BOOTSTRAP_ADMIN_TOKEN_FILE: join(dir, 'db-password') }).setting).toBe('KEYBROKER_BOOTSTRAP_ADMIN_TOKEN')
  })
})
