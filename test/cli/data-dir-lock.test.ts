/**
 * One embedded database, one process: `serve` and every CLI command that opens `<data>/pglite`
 * take `<data>/pglite.lock`; a second opener fails at once naming the running process, and the
 * stale lock of a killed process is taken over. Real processes (the compiled CLI: `npm run
 * build` first), a real SIGKILL.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lockDataDir } from '../../src/storage/data-dir-lock.js'
import { httpCall, runCli, startServe, waitForStatus, type ServeProcess } from '../support/serve-process.js'

const MESSAGE = /keybroker is already running on this data directory \(pid (\d+)\)/

describe('data directory lock (real processes)', () => {
  let dataDir: string
  let env: Record<string, string>
  let first: ServeProcess | undefined
  let second: ServeProcess | undefined

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kb-lock-'))
    env = { KEYBROKER_DATA_DIR: dataDir, KEYBROKER_LOG_LEVEL: 'warn' }
  })
  afterAll(async () => {
    await first?.stop(5_000)
    await second?.stop(5_000)
    await rm(dataDir, { recursive: true, force: true })
  })

  it('refuses a second serve and every database CLI command while serve runs, at once and with exit 1', async () => {
    first = await startServe({ ...env, KEYBROKER_LOG_LEVEL: 'info' })
    await waitForStatus(first, '/readyz', 200, 60_000)
    const pid = String(first.child.pid)
    for (const args of [['serve'], ['admin', 'token', 'create', '--role', 'admin', '--offline'], ['migrate'], ['audit', 'verify']]) {
      const res = runCli(args, { ...env, KEYBROKER_LISTEN: '127.0.0.1:0' }, 60_000)
      expect(res.status, `${args.join(' ')}: ${res.stderr}`).toBe(1)
      expect(res.stderr).toMatch(MESSAGE)
      expect(MESSAGE.exec(res.stderr)?.[1]).toBe(pid)
      // No admin credential was printed.
      expect(res.stdout).toBe('')
    }
    expect(first.alive()).toBe(true)
    expect((await httpCall(first, 'GET', '/readyz')).status).toBe(200)
  }, 300_000)

  it('takes over the stale lock of a killed process', async () => {
    const killed = first
    if (killed === undefined) throw new Error('needs the first test')
    killed.child.kill('SIGKILL')
    await killed.exited
    first = undefined
    expect(existsSync(join(dataDir, 'pglite.lock'))).toBe(true)
    second = await startServe({ ...env, KEYBROKER_LOG_LEVEL: 'info' })
    await waitForStatus(second, '/readyz', 200, 60_000)
    expect((await readFile(join(dataDir, 'pglite.lock'), 'utf8')).split('\n')[0]).toBe(String(second.child.pid))
    // The new owner is protected like the old one.
    const res = runCli(['migrate'], env, 60_000)
    expect(res.status).toBe(1)
    expect(MESSAGE.exec(res.stderr)?.[1]).toBe(String(second.child.pid))
    // A clean stop releases it: the CLI works again.
    expect(await second.stop()).toBe(0)
    second = undefined
    expect(existsSync(join(dataDir, 'pglite.lock'))).toBe(false)
    expect(runCli(['audit', 'verify'], env, 60_000).status).toBe(0)
  }, 300_000)
})

describe('lockDataDir', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kb-lock-unit-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('refuses while another live process holds the lock, and is released by its holder', async () => {
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' })
    try {
      const stat = await readFile(`/proc/${holder.pid}/stat`, 'utf8')
      const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
      await writeFile(join(dir, 'a.lock'), `${holder.pid}\n${startTime}\n${hostname()}\n`)
      await expect(lockDataDir(join(dir, 'a'))).rejects.toMatchObject({ code: 'conflict', detail: expect.stringMatching(MESSAGE) })
    } finally {
      holder.kill('SIGKILL')
    }
    await new Promise((r) => holder.once('exit', r))
    // The holder is gone: its lock is stale.
    const lock = await lockDataDir(join(dir, 'a'))
    await expect(lockDataDir(join(dir, 'a'))).rejects.toMatchObject({ code: 'conflict' })
    await lock.release()
    await lock.release()
    const again = await lockDataDir(join(dir, 'a'))
    await again.release()
  })

  it('treats a reused PID (another start time) as stale, and another host as running', async () => {
    await writeFile(join(dir, 'b.lock'), `${process.pid}\n1\n${hostname()}\n`)
    const lock = await lockDataDir(join(dir, 'b'))
    await lock.release()
    await writeFile(join(dir, 'c.lock'), `${process.pid}\n1\nanother-host.example\n`)
    await expect(lockDataDir(join(dir, 'c'))).rejects.toMatchObject({ code: 'conflict' })
  })

  it('lets exactly one of several concurrent starters win over a stale lock', async () => {
    await writeFile(join(dir, 'd.lock'), `999999999\n1\n${hostname()}\n`)
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => lockDataDir(join(dir, 'd'))))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'conflict' })
  })
})
