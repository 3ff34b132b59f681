/**
 * Structured logging: one JSON object per line on stderr. Callers log request ids, evidence
 * types, error codes and digests — never secret values, keys, nonces before use, tokens or
 * whole evidence (docs/conventions.md §10). There is deliberately no "log this object" helper that would
 * make dumping a request body easy.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined | readonly string[]>>

export interface Logger {
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
}

/**
 * A logger that writes lines at or above `level` with `write`; by default to stderr through
 * {@link writeStderrBuffered}. `base`: fields on every line, after the others (a cluster
 * worker's `worker` id and `pid`).
 */
export function createLogger(level: LogLevel, write: (line: string) => void = writeStderrBuffered, base: LogFields = {}): Logger {
  const emit = (at: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields): void => {
    if (RANK[at] < RANK[level]) return
    write(`${JSON.stringify({ time: new Date().toISOString(), level: at, msg, ...fields, ...base })}\n`)
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  }
}

/** Lines waiting for the next batch write, and their length in UTF-16 units. */
let pending: string[] = []
let pendingLength = 0
let flushScheduled = false
let exitHooked = false

/** A batch is written at once beyond this many characters, not at the next turn of the loop. */
const MAX_PENDING = 64 * 1024

/**
 * Queues `line` for stderr; the lines queued during one turn of the event loop go out in one
 * write (at `setImmediate`, or at once beyond 64 KiB). A write per line was ~5 % of the service's
 * CPU per attestation: the access log writes two lines per challenge+attest round, and stderr on
 * a pipe or file is a synchronous system call in Node.
 *
 * Nothing queued is lost when the process ends by itself, by `process.exit()` or by an uncaught
 * exception: an `exit` listener writes what is left, synchronously (stderr writes to files and
 * pipes are synchronous on Linux). Only a process killed outright (SIGKILL, an abort) can lose
 * the lines of its last turn.
 */
export function writeStderrBuffered(line: string): void {
  pending.push(line)
  pendingLength += line.length
  if (!exitHooked) {
    exitHooked = true
    process.on('exit', flushStderrLog)
  }
  if (pendingLength > MAX_PENDING) flushStderrLog()
  else if (!flushScheduled) {
    flushScheduled = true
    setImmediate(flushStderrLog)
  }
}

/** Writes the queued lines now (see {@link writeStderrBuffered}). */
export function flushStderrLog(): void {
  flushScheduled = false
  if (pending.length === 0) return
  const text = pending.length === 1 ? (pending[0] ?? '') : pending.join('')
  pending = []
  pendingLength = 0
  process.stderr.write(text)
}

/** Describes an error for the log: its name, code and message chain, never its properties. */
export function describeError(err: unknown): string {
  const parts: string[] = []
  let cur: unknown = err
  for (let depth = 0; cur !== undefined && depth < 5; depth++) {
    parts.push(cur instanceof Error ? `${cur.name}: ${cur.message}` : String(cur))
    cur = cur instanceof Error ? cur.cause : undefined
  }
  return parts.join(' <- ')
}
