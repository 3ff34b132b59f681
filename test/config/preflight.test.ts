import { spawn } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { checkConfiguredPaths, unknownSettings } from '../../src/config/preflight.js'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))

function settingOf(run: () => void): string | undefined {
  try {
    run()
  } catch (err) {
    if (err instanceof ConfigError) return err.setting
    throw err
  }
  return undefined
}

describe('configuration errors name the setting', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kb-preflight-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('a missing TLS certificate or key', async () => {
    await writeFile(join(dir, 'key.pem'), 'x')
    const config = loadConfig({ KEYBROKER_DATA_DIR: join(dir, 'data'), KEYBROKER_TLS_CERT: join(dir, 'missing.pem'), KEYBROKER_TLS_KEY: join(dir, 'key.pem') })
    expect(settingOf(() => checkConfiguredPaths(config))).toBe('KEYBROKER_TLS_CERT')
    const noKey = loadConfig({ KEYBROKER_DATA_DIR: join(dir, 'data'), KEYBROKER_TLS_CERT: join(dir, 'key.pem'), KEYBROKER_TLS_KEY: join(dir, 'nope.pem') })
    expect(settingOf(() => checkConfiguredPaths(noKey))).toBe('KEYBROKER_TLS_KEY')
  })

  it('a data directory that is a file, a pseudo filesystem, or not writable', async () => {
    for (const special of ['/dev/null', '/proc', '/proc/self/keybroker', '/sys/kernel']) {
      expect(settingOf(() => checkConfiguredPaths(loadConfig({ KEYBROKER_DATA_DIR: special }))), special).toBe('KEYBROKER_DATA_DIR')
    }
    // Root writes anywhere: a read-only directory binds only other users, so a file stands in
    // as the parent of the data directory (mkdir fails whoever runs it).
    await writeFile(join(dir, 'plain-file'), 'x')
    expect(settingOf(() => checkConfiguredPaths(loadConfig({ KEYBROKER_DATA_DIR: join(dir, 'plain-file', 'data') })))).toBe('KEYBROKER_DATA_DIR')
    if (process.getuid?.() !== 0) {
      await chmod(dir, 0o500)
      try {
        expect(settingOf(() => checkConfiguredPaths(loadConfig({ KEYBROKER_DATA_DIR: dir })))).toBe('KEYBROKER_DATA_DIR')
      } finally {
        await chmod(dir, 0o700)
      }
    }
    // A good one passes and is created.
    expect(settingOf(() => checkConfiguredPaths(loadConfig({ KEYBROKER_DATA_DIR: join(dir, 'fresh', 'data') })))).toBeUndefined()
  })

  it('unknown KEYBROKER_* variables are reported with the nearest setting; client and *_FILE variables are not', () => {
    expect(
      unknownSettings({ KEYBROKER_LISTN: '1', KEYBROKER_NO_SUCH_THING: '1', KEYBROKER_LISTEN: '1', KEYBROKER_URL: 'x', KEYBROKER_TEST_REQUIRE_ROOT: '1', KEYBROKER_KEK_FILE: 'f', PATH: '/bin' }),
    ).toEqual([
      { name: 'KEYBROKER_LISTN', suggestion: 'KEYBROKER_LISTEN' },
      { name: 'KEYBROKER_NO_SUCH_THING', suggestion: undefined },
    ])
  })

  it('keybroker serve stops at once on /proc as data directory, naming the setting, and warns about an unknown variable', async () => {
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: { PATH: process.env['PATH'] ?? '', KEYBROKER_DATA_DIR: '/proc', KEYBROKER_LISTEN: '127.0.0.1:0', KEYBROKER_LISTN: 'typo' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    clearTimeout(timer)
    expect(code).not.toBe(0)
    expect(code).not.toBeNull()
    expect(stderr).toContain('KEYBROKER_DATA_DIR')
    expect(stderr).toMatch(/unknown setting ignored.*KEYBROKER_LISTN.*KEYBROKER_LISTEN/)
  }, 90_000)
})
