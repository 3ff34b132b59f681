/**
 * A real `keybroker serve` child process (the compiled CLI, as users run it: `npm run build`
 * first) on an ephemeral 127.0.0.1 port, for tests about the process itself: faults, locks,
 * shutdown, load shedding. Stopped by its PID, bounded in time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { Agent, request } from 'node:https'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The compiled CLI entry point. */
export const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))

export interface ServeProcess {
  readonly child: ChildProcess
  readonly url: string
  readonly port: number
  readonly caPem: string
  /** Everything the process wrote to stderr so far (its JSON log). */
  log(): string
  /** Whether the process is still running. */
  alive(): boolean
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string | null>
  /** SIGTERM, then SIGKILL after `ms`; resolves with how it exited. */
  stop(ms?: number): Promise<number | string | null>
}

export interface HttpAnswer {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
}

/** Runs a CLI command to completion (bounded). */
export function runCli(args: readonly string[], env: Record<string, string>, timeoutMs = 60_000) {
  const res = spawnSync(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: timeoutMs })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

/** Starts `keybroker serve` with `env` (listening on 127.0.0.1:0) and waits for its "listening" line. */
export async function startServe(env: Record<string, string>, timeoutMs = 60_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { PATH: process.env.PATH ?? '', KEYBROKER_LISTEN: '127.0.0.1:0', KEYBROKER_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let log = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    if (log.length < 4_000_000) log += chunk.toString()
  })
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
  const stop = async (ms = 20_000) => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), ms)
      const how = await exited
      clearTimeout(timer)
      return how
    }
    return exited
  }
  let url: string
  try {
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line in time: ${log.slice(-2000)}`)), timeoutMs)
      const onData = () => {
        const m = /"msg":"listening","url":"(https?:\/\/127\.0\.0\.1:\d+)"/.exec(log)
        if (m?.[1] !== undefined) {
          clearTimeout(timer)
          child.stderr?.off('data', onData)
          resolve(m[1])
        }
      }
      child.stderr?.on('data', onData)
      void exited.then((code) => {
        clearTimeout(timer)
        reject(new Error(`keybroker exited (${code}) before listening: ${log.slice(-2000)}`))
      })
    })
  } catch (err) {
    await stop(2_000)
    throw err
  }
  const dataDir = env.KEYBROKER_DATA_DIR
  const caPem = url.startsWith('https:') && dataDir !== undefined ? await readFile(join(dataDir, 'tls', 'dev-cert.pem'), 'utf8') : ''
  return {
    child,
    url,
    port: Number(new URL(url).port),
    caPem,
    log: () => log,
    alive: () => child.exitCode === null && child.signalCode === null,
    exited,
    stop,
  }
}

/** One HTTPS request to the service (its own CA trusted), bounded in time; never rejects on HTTP status. */
export function httpCall(
  kb: Pick<ServeProcess, 'url' | 'caPem'>,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  options: { agent?: Agent; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const text = body === undefined ? undefined : JSON.stringify(body)
  const url = new URL(path, kb.url)
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: kb.caPem,
        // No agent given: a connection of its own (the global agent's idle sockets may have been
        // closed by the server's keep-alive timeout, which surfaces as "socket hang up").
        agent: options.agent ?? false,
        headers: {
          ...(text === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) }),
          ...headers,
        },
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }))
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    req.end(text)
  })
}

/** Polls `GET path` until it answers `status` or `timeoutMs` passes; returns the time it took (ms). */
export async function waitForStatus(kb: Pick<ServeProcess, 'url' | 'caPem'>, path: string, status: number, timeoutMs: number): Promise<number> {
  const started = Date.now()
  let last = ''
  while (Date.now() - started < timeoutMs) {
    try {
      const res = await httpCall(kb, 'GET', path, undefined, {}, { timeoutMs: 5_000 })
      if (res.status === status) return Date.now() - started
      last = `${res.status} ${res.body.slice(0, 200)}`
    } catch (err) {
      last = String(err)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${path} did not answer ${status} within ${timeoutMs} ms (last: ${last})`)
}
