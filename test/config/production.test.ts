/**
 * KEYBROKER_PRODUCTION=1 refuses what is only for development, each refusal naming its setting:
 * sample evidence, the self-signed development certificate, a KEK generated next to the
 * database, plain HTTP unless KEYBROKER_INSECURE_HTTP is set explicitly; on PGlite it warns that
 * this is a single-node setup.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { createLogger } from '../../src/log/logger.js'
import { createServices } from '../../src/services/services.js'
import type { Database } from '../../src/storage/index.js'
import { openTestDatabase } from '../support/databases.js'

const KEK = randomBytes(32).toString('base64')
const TLS = { KEYBROKER_TLS_CERT: '/etc/keybroker/tls.pem', KEYBROKER_TLS_KEY: '/etc/keybroker/tls.key' }
const PROD = { KEYBROKER_PRODUCTION: '1', KEYBROKER_KEK: KEK, ...TLS }

function settingOf(env: Record<string, string>): string | undefined {
  try {
    loadConfig(env)
    return undefined
  } catch (err) {
    if (err instanceof ConfigError) return err.setting
    throw err
  }
}

describe('production mode', () => {
  it('starts with a given KEK and a configured certificate', () => {
    expect(loadConfig(PROD).production).toBe(true)
    expect(settingOf({ ...PROD, KEYBROKER_KEK: '', KEYBROKER_KEK_FILE: '/run/secrets/kek' })).toBeUndefined()
  })

  it('refuses sample evidence', () => {
    expect(settingOf({ ...PROD, KEYBROKER_ALLOW_SAMPLE_EVIDENCE: '1' })).toBe('KEYBROKER_ALLOW_SAMPLE_EVIDENCE')
  })

  it('refuses a KEK generated next to the database: it must be given', () => {
    const { KEYBROKER_KEK: _kek, ...noKek } = PROD
    expect(settingOf(noKek)).toBe('KEYBROKER_KEK')
    // Outside production mode the generated KEK is fine.
    expect(settingOf({ ...noKek, KEYBROKER_PRODUCTION: '0' })).toBeUndefined()
  })

  it('refuses the self-signed development certificate', () => {
    expect(settingOf({ KEYBROKER_PRODUCTION: '1', KEYBROKER_KEK: KEK })).toBe('KEYBROKER_TLS_CERT')
    expect(settingOf({ KEYBROKER_PRODUCTION: '0', KEYBROKER_KEK: KEK })).toBeUndefined()
  })

  it('serves plain HTTP only when KEYBROKER_INSECURE_HTTP is set explicitly', () => {
    const env = { KEYBROKER_PRODUCTION: '1', KEYBROKER_KEK: KEK }
    expect(settingOf({ ...env, KEYBROKER_INSECURE_HTTP: '0' })).toBe('KEYBROKER_TLS_CERT')
    expect(loadConfig({ ...env, KEYBROKER_INSECURE_HTTP: '1' }).insecureHttp).toBe(true)
  })

  it('refuses the KEK given twice', () => {
    expect(settingOf({ KEYBROKER_KEK: KEK, KEYBROKER_KEK_FILE: '/run/secrets/kek' })).toBe('KEYBROKER_KEK_FILE')
  })

  describe('on PGlite', () => {
    let dataDir: string
    let database: Database
    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'keybroker-prod-'))
      database = await openTestDatabase('pglite')
    })
    afterAll(async () => {
      await database?.close()
      await rm(dataDir, { recursive: true, force: true })
    })

    it('warns that this is a single-node setup (and not outside production mode)', async () => {
      for (const production of ['1', '0']) {
        const lines: { level: string; msg: string }[] = []
        const log = createLogger('info', (l) => lines.push(JSON.parse(l) as { level: string; msg: string }))
        const config = loadConfig({ KEYBROKER_PRODUCTION: production, KEYBROKER_KEK: KEK, KEYBROKER_INSECURE_HTTP: '1', KEYBROKER_DATA_DIR: dataDir })
        await createServices(config, log, { database })
        const warnings = lines.filter((l) => l.level === 'warn' && /single-node/.test(l.msg))
        expect(warnings, `production=${production}`).toHaveLength(production === '1' ? 1 : 0)
      }
    })
  })
})
