/**
 * The README's quick start, run as written: its two marked shell blocks (`<!-- quickstart:server -->`,
 * `<!-- quickstart:client -->`) on a fresh copy of the repository's files (what a clone has: the
 * tracked and new files, no `data/`, no `dist/`). Two things differ from a user's shell, both
 * through the environment, never the blocks' text: `node_modules` is linked from this checkout
 * instead of `npm ci` (no network in tests), and the service listens on a free port
 * (KEYBROKER_LISTEN, KEYBROKER_URL) so parallel test runs do not collide on 8443.
 * The second `npm start` must not recompile: `dist/` stays as the first start left it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

/** The shell block after each `<!-- quickstart:NAME -->` marker. */
export function quickstartBlocks(readme: string): Record<string, string> {
  const blocks: Record<string, string> = {}
  for (const m of readme.matchAll(/<!-- quickstart:([a-z]+) -->\n```sh\n([\s\S]*?)\n```/g)) {
    if (m[1] !== undefined && m[2] !== undefined) blocks[m[1]] = m[2]
  }
  return blocks
}

/** The environment of a user's shell: no keybroker or database settings from the test run. */
function userEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('KEYBROKER_') && k !== 'DATABASE_URL' && !k.startsWith('VITEST') && k !== 'NODE_OPTIONS') env[k] = v
  }
  return { ...env, ...extra }
}

interface Server {
  readonly child: ChildProcess
  readonly url: string
  log: () => string
  readonly exited: Promise<number | null>
}

async function startServer(cwd: string, block: string): Promise<Server> {
  // Its own process group (npm, sh, node), stopped as one by its id.
  const child = spawn('bash', ['-e', '-c', block], { cwd, env: userEnv({ KEYBROKER_LISTEN: '127.0.0.1:0' }), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let log = ''
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /"msg":"listening","url":"(https:\/\/127\.0\.0\.1:\d+)"/.exec(log)
      if (m?.[1] !== undefined) {
        clearInterval(timer)
        resolve(m[1])
      } else if (child.exitCode !== null) {
        clearInterval(timer)
        reject(new Error(`npm start exited ${child.exitCode}:\n${log}`))
      }
    }, 200)
  })
  return { child, url, log: () => log, exited }
}

async function stopServer(server: Server | undefined): Promise<void> {
  if (server === undefined || server.child.pid === undefined || server.child.exitCode !== null) return
  process.kill(-server.child.pid, 'SIGTERM')
  await server.exited
}

describe('README quick start', () => {
  let dir: string
  let blocks: Record<string, string>
  let server: Server | undefined

  beforeAll(async () => {
    blocks = quickstartBlocks(await readFile(join(REPO, 'README.md'), 'utf8'))
    dir = await mkdtemp(join(tmpdir(), 'keybroker-quickstart-'))
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter((f) => f !== '')
    for (const f of files) {
      if (!existsSync(join(REPO, f))) continue // deleted in the working tree
      await mkdir(dirname(join(dir, f)), { recursive: true })
      await copyFile(join(REPO, f), join(dir, f))
    }
    await symlink(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir')
  })
  afterAll(async () => {
    await stopServer(server)
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('has a server and a client block', () => {
    expect(Object.keys(blocks).sort()).toEqual(['client', 'server'])
    expect(blocks['server']).toContain('npm start')
    expect(blocks['client']).toContain('dev attest --sample')
  })

  it('starts, registers, attests and releases, verbatim; a second npm start compiles nothing', async () => {
    server = await startServer(dir, blocks['server'] ?? '')
    const client = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('bash', ['-e', '-c', blocks['client'] ?? ''], { cwd: dir, env: userEnv({ KEYBROKER_URL: server?.url ?? '' }), stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (c: Buffer) => (out += c.toString()))
      child.stderr.on('data', (c: Buffer) => (out += c.toString()))
      child.once('exit', (code) => resolve({ code, out }))
    })
    expect(client.out).toMatch(/^db-password: [A-Za-z0-9_-]{43} \(base64url, 32 bytes\)$/m)
    expect(client.out).toMatch(/^failed rules: .*debug-disabled/m)
    expect(client.out).toContain('refused: debug is on')
    expect(client.out).toMatch(/^ok:\s+true$/m)
    expect(client.code).toBe(0)
    const token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim()
    expect(token).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    expect(server.log()).not.toContain(token)
    await stopServer(server)

    const built = (await stat(join(dir, 'dist/src/cli/main.js'))).mtimeMs
    server = await startServer(dir, blocks['server'] ?? '')
    expect((await stat(join(dir, 'dist/src/cli/main.js'))).mtimeMs).toBe(built)
    await stopServer(server)
  }, 900_000)
})
