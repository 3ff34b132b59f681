/**
 * The embedded database's files are owner-only (README, "Reliability and security"): 0600 files
 * and 0700 directories under <data>/pglite, even under a permissive umask (000, as in some
 * containers), and a data directory left with looser modes is tightened at the next open.
 * Real CLI processes (the compiled CLI: `npm run build` first).
 */
import { spawnSync } from 'node:child_process'
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN } from '../support/serve-process.js'

/** Every path under `dir` whose mode is not 0700 (directories) or 0600 (files). */
async function looseModes(dir: string): Promise<string[]> {
  const loose: string[] = []
  const walk = async (d: string): Promise<void> => {
    const mode = (await stat(d)).mode & 0o777
    if (mode !== 0o700) loose.push(`${d} ${mode.toString(8)}`)
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name)
      if (entry.isDirectory()) await walk(path)
      else if (entry.isFile()) {
        const m = (await stat(path)).mode & 0o777
        if (m !== 0o600) loose.push(`${path} ${m.toString(8)}`)
      }
    }
  }
  await walk(dir)
  return loose
}

/** Runs the CLI under umask 000. */
function runUnderUmask0(args: string[], env: Record<string, string>) {
  const res = spawnSync('sh', ['-c', 'umask 000; exec "$0" "$@"', process.execPath, BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  })
  return { status: res.status, stderr: res.stderr }
}

describe('PGlite file modes', () => {
  let dataDir: string
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kb-modes-'))
  })
  afterAll(() => rm(dataDir, { recursive: true, force: true }))

  it('creates owner-only files and directories even under umask 000', async () => {
    const res = runUnderUmask0(['migrate'], { KEYBROKER_DATA_DIR: dataDir, KEYBROKER_LOG_LEVEL: 'error' })
    expect(res.status, res.stderr).toBe(0)
    const pglite = join(dataDir, 'pglite')
    expect((await readdir(pglite)).length).toBeGreaterThan(5)
    expect(await looseModes(pglite)).toEqual([])
  }, 180_000)

  it('tightens a data directory left with loose modes at the next open', async () => {
    const pglite = join(dataDir, 'pglite')
    await chmod(pglite, 0o777)
    await chmod(join(pglite, 'PG_VERSION'), 0o666)
    await chmod(join(pglite, 'base'), 0o755)
    expect(await looseModes(pglite)).not.toEqual([])
    const res = runUnderUmask0(['audit', 'verify'], { KEYBROKER_DATA_DIR: dataDir, KEYBROKER_LOG_LEVEL: 'error' })
    expect(res.status, res.stderr).toBe(0)
    expect(await looseModes(pglite)).toEqual([])
  }, 180_000)
})
