/** The KEK settings: inline or from files, earlier KEKs from a list or a file; bad ones named, never echoed. */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { kekFromBase64 } from '../../src/secrets/index.js'
import { loadKekRing } from '../../src/services/kek-ring.js'

const [A, B, C] = [0, 1, 2].map(() => randomBytes(32).toString('base64')) as [string, string, string]

describe('loadKekRing', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keybroker-kek-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('reads the current KEK from KEYBROKER_KEK_FILE and earlier ones from KEYBROKER_KEK_PREVIOUS and its file', async () => {
    await writeFile(join(dir, 'kek'), `${B}\n`, { mode: 0o600 })
    await writeFile(join(dir, 'previous'), `# retired 2026-11\n${A}\n\n`, { mode: 0o600 })
    const ring = await loadKekRing(
      loadConfig({ KEYBROKER_DATA_DIR: dir, KEYBROKER_KEK_FILE: join(dir, 'kek'), KEYBROKER_KEK_PREVIOUS: C, KEYBROKER_KEK_PREVIOUS_FILE: join(dir, 'previous') }),
    )
    expect(ring.current.id).toBe(kekFromBase64(B).id)
    expect(ring.ids().sort()).toEqual([A, B, C].map((k) => kekFromBase64(k).id).sort())
  })

  it.each([
    ['KEYBROKER_KEK_FILE', { KEYBROKER_KEK_FILE: 'missing' }],
    ['KEYBROKER_KEK_PREVIOUS_FILE', { KEYBROKER_KEK_PREVIOUS_FILE: 'bad' }],
  ])('names %s when its file is missing or malformed', async (setting, files) => {
    await writeFile(join(dir, 'bad'), 'not a key\n')
    const env = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, join(dir, v)]))
    const err = await loadKekRing(loadConfig({ KEYBROKER_DATA_DIR: dir, ...env })).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).setting).toBe(setting)
  })

  it('names KEYBROKER_KEK_PREVIOUS when a listed key is not 32 bytes, without echoing it', () => {
    expect(() => loadConfig({ KEYBROKER_KEK_PREVIOUS: `${A},c2hvcnQ=` })).toThrow(ConfigError)
    try {
      loadConfig({ KEYBROKER_KEK_PREVIOUS: `${A},c2hvcnQ=` })
    } catch (err) {
      expect((err as ConfigError).setting).toBe('KEYBROKER_KEK_PREVIOUS')
      expect(String(err)).not.toContain(A)
    }
  })
})
