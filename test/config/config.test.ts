import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/config.js'

function settingOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    if (err instanceof ConfigError) return err.setting
    throw err
  }
}

describe('loadConfig', () => {
  it('has safe defaults: HTTPS on loopback, sample evidence off', () => {
    const c = loadConfig({})
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8443 })
    expect(c.insecureHttp).toBe(false)
    expect(c.allowSampleEvidence).toBe(false)
    expect(c.issuer).toBe('https://127.0.0.1:8443')
    expect(c.dataDir).toBe(resolve('./data'))
    expect(c.tokenAlg).toBe('ES256')
    expect(c.bodyLimitBytes).toBe(1024 * 1024)
  })

  it('reads IPv6 listen addresses and plain HTTP', () => {
    const c = loadConfig({ KEYBROKER_LISTEN: '[::1]:9000', KEYBROKER_INSECURE_HTTP: 'true' })
    expect(c.listen).toEqual({ host: '::1', port: 9000 })
    expect(c.issuer).toBe('http://[::1]:9000')
  })

  it.each([
    ['KEYBROKER_LISTEN', 'localhost'],
    ['KEYBROKER_LISTEN', '127.0.0.1:99999'],
    ['KEYBROKER_INSECURE_HTTP', 'maybe'],
    ['KEYBROKER_TOKEN_TTL_SECONDS', '-5'],
    ['KEYBROKER_TOKEN_TTL_SECONDS', '1e9'],
    ['KEYBROKER_TOKEN_ALG', 'HS256'],
    ['KEYBROKER_KEK', 'c2hvcnQ='],
    ['KEYBROKER_BOOTSTRAP_ADMIN_TOKEN', 'short'],
    ['DATABASE_URL', 'mysql://x'],
    ['KEYBROKER_ISSUER', 'not a url'],
    ['KEYBROKER_LOG_LEVEL', 'verbose'],
  ])('names %s when it is %j', (name, value) => {
    expect(settingOf(() => loadConfig({ [name]: value }))).toBe(name)
  })

  it('requires certificate and key together', () => {
    expect(settingOf(() => loadConfig({ KEYBROKER_TLS_CERT: '/x.pem' }))).toBe('KEYBROKER_TLS_KEY')
  })

  it('never allows sample evidence in production mode', () => {
    expect(settingOf(() => loadConfig({ KEYBROKER_PRODUCTION: '1', KEYBROKER_ALLOW_SAMPLE_EVIDENCE: '1' }))).toBe(
      'KEYBROKER_ALLOW_SAMPLE_EVIDENCE',
    )
  })

  it('reads a config file; the environment wins; unknown keys and bad values are named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keybroker-config-'))
    const file = join(dir, 'config.json')
    await writeFile(file, JSON.stringify({ audience: 'from-file', tokenTtlSeconds: 60 }))
    const c = loadConfig({ KEYBROKER_CONFIG: file, KEYBROKER_AUDIENCE: 'from-env' })
    expect(c.audience).toBe('from-env')
    expect(c.tokenTtlSeconds).toBe(60)

    await writeFile(file, JSON.stringify({ tokenTTL: 60 }))
    expect(settingOf(() => loadConfig({ KEYBROKER_CONFIG: file }))).toBe(`${file}: tokenTTL`)
    await writeFile(file, JSON.stringify({ tokenTtlSeconds: 'x' }))
    expect(settingOf(() => loadConfig({ KEYBROKER_CONFIG: file }))).toBe(`${file}: tokenTtlSeconds`)
    await writeFile(file, '{not json')
    expect(settingOf(() => loadConfig({ KEYBROKER_CONFIG: file }))).toBe('KEYBROKER_CONFIG')
    expect(settingOf(() => loadConfig({ KEYBROKER_CONFIG: join(dir, 'missing.json') }))).toBe('KEYBROKER_CONFIG')
  })

  it('does not echo secret values in its errors', () => {
    const kek = 'QUFB'
    expect(() => loadConfig({ KEYBROKER_KEK: kek })).toThrow(ConfigError)
    expect(() => loadConfig({ KEYBROKER_KEK: kek })).not.toThrow(kek)
    expect(settingOf(() => loadConfig({ KEYBROKER_KEK: kek }))).toBe('KEYBROKER_KEK')
  })
})
