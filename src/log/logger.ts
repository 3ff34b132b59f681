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

/** `base`: fields on every line, after the others (a cluster worker's `worker` id and `pid`). */
export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l), base: LogFields = {}): Logger {
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
