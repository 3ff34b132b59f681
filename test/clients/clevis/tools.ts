/**
 * Running the real shell clients (clevis, the keybroker pin, keybroker-unlock, cryptsetup) from
 * tests. Always asynchronous: the keybroker under test answers from this same process, so a
 * synchronous spawn would deadlock. Every run is bounded in time and killed by its PID.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const CLEVIS_DIR = resolve('src/clients/clevis')
export const CLIENTS_DIR = resolve('src/clients')
export const FIXTURES = resolve('test/clients/clevis/fixtures')
export const SAMPLE_ATTESTER = join(FIXTURES, 'sample-attester')

/** The Debian packages the client tests need (installed by .ci/run and the README's apt line). */
export const REQUIRED_TOOLS = ['clevis', 'clevis-luks-bind', 'jose', 'cryptsetup', 'curl', 'openssl', 'shellcheck', 'cc'] as const

export function missingTools(tools: readonly string[] = REQUIRED_TOOLS): string[] {
  return tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).status !== 0)
}

export interface RunResult {
  readonly code: number | null
  readonly stdout: Buffer
  readonly stderr: string
  readonly ms: number
}

export interface RunOptions {
  readonly input?: string | Buffer
  readonly env?: Record<string, string>
  readonly timeoutMs?: number
  readonly cwd?: string
}

/** PATH with the repository's pin first, as clevis finds pins on PATH. */
export function pinPath(): string {
  return `${CLEVIS_DIR}:${process.env.PATH ?? '/usr/bin:/bin'}`
}

export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now()
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      env: { PATH: pinPath(), HOME: tmpdir(), LANG: 'C', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    })
    const out: Buffer[] = []
    let err = ''
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 1_000_000) err += c.toString()
    })
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
    }, options.timeoutMs ?? 60_000)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolvePromise({ code, stdout: Buffer.concat(out), stderr: err, ms: performance.now() - started })
    })
    child.stdin.on('error', () => undefined) // a command that exits early closes its stdin
    child.stdin.end(options.input ?? '')
  })
}

/** A scratch directory removed by the returned function. */
export async function scratch(prefix: string): Promise<{ dir: string; file(name: string, data: string | Uint8Array): Promise<string>; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return {
    dir,
    file: async (name, data) => {
      const path = join(dir, name)
      await writeFile(path, data, { mode: 0o600 })
      return path
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}

/** The protected header of a compact JWE, parsed. */
export function jweHeader(jwe: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwe.split('.')[0] ?? '', 'base64url').toString('utf8'))
}

/** A LUKS2 image file with a cheap key slot 0 (docs/architecture.md, "Known traps": pbkdf2, 1000 iterations). */
export async function luksImage(path: string, keyFile: string): Promise<void> {
  const truncate = await run('truncate', ['-s', '20M', path])
  if (truncate.code !== 0) throw new Error(`truncate: ${truncate.stderr}`)
  const format = await run('cryptsetup', [
    'luksFormat', '-q', '--type', 'luks2', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000',
    '--key-file', keyFile, path,
  ])
  if (format.code !== 0) throw new Error(`luksFormat: ${format.stderr}`)
}
