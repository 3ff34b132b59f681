/**
 * A PostgreSQL cluster of a test's own, for fault tests: `initdb` into a temporary directory,
 * `pg_ctl` on a free 127.0.0.1 port, restarted, crashed and stopped at will, removed at the end.
 * The server binaries come from /usr/lib/postgresql/<version>/bin. They refuse to run as root,
 * so under root they run as the `postgres` user (`runuser`), on a directory it owns.
 *
 * Skipped (`findPostgresBin()` undefined) where no PostgreSQL server is installed.
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'

const run = promisify(execFile)

/** The newest installed PostgreSQL server's bin directory, or undefined. */
export function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'pg_ctl')) && existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin')
}

export interface ThrowawayPostgres {
  readonly port: number
  /** `postgres://postgres@127.0.0.1:PORT/DB` */
  url(database?: string): string
  /** The postmaster's PID while running, else undefined. */
  pid(): Promise<number | undefined>
  start(): Promise<void>
  /** `pg_ctl -m fast restart`. */
  restart(): Promise<void>
  /** Stops the server; `immediate` is a crash (recovery on the next start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>
  /** Runs SQL as the superuser on `database`. */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(database: string, text: string, values?: unknown[]): Promise<T[]>
  /** Stops the server (immediate) and removes its directory. */
  destroy(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Creates (initdb) and starts a cluster on a free loopback port, trust authentication. */
export async function startThrowawayPostgres(bin: string): Promise<ThrowawayPostgres> {
  const root = await mkdtemp(join(tmpdir(), 'kb-pg-'))
  const dataDir = join(root, 'data')
  const asRoot = userInfo().uid === 0
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    await chown(root, Number(stdout.trim()), Number(gid.trim()))
  }
  const as = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { timeout: 60_000 }) : run(join(bin, cmd), args, { timeout: 60_000 })
  const port = await freePort()
  await as('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40`
  const pgCtl = (args: string[]) => as('pg_ctl', ['-D', dataDir, '-l', join(root, 'log'), '-t', '60', ...args])

  const cluster: ThrowawayPostgres = {
    port,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    pid: async () => {
      try {
        const first = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]
        return first === undefined || first === '' ? undefined : Number(first)
      } catch {
        return undefined
      }
    },
    start: async () => {
      await pgCtl(['-w', '-o', options, 'start'])
    },
    restart: async () => {
      await pgCtl(['-w', '-m', 'fast', '-o', options, 'restart'])
    },
    stop: async (mode = 'fast') => {
      await pgCtl(['-w', '-m', mode, 'stop'])
    },
    query: async (database, text, values = []) => {
      const client = new pg.Client({ connectionString: cluster.url(database), connectionTimeoutMillis: 5_000 })
      client.on('error', () => {})
      await client.connect()
      try {
        return (await client.query(text, values)).rows
      } finally {
        await client.end()
      }
    },
    destroy: async () => {
      const pid = await cluster.pid()
      if (pid !== undefined) {
        await cluster.stop('immediate').catch(() => {
          try {
            process.kill(pid, 'SIGKILL')
          } catch {
            // already gone
          }
        })
      }
      await rm(root, { recursive: true, force: true })
    },
  }
  try {
    await cluster.start()
  } catch (err) {
    await rm(root, { recursive: true, force: true })
    throw err
  }
  return cluster
}
