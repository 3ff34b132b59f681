/**
 * One admin CLI invocation: the connection settings (flags of `keybroker admin`, else
 * KEYBROKER_* variables), the output mode, and the error handling every admin command shares.
 */
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { UsageError, type CliContext } from '../io.js'
import { AdminApiError, AdminConnectionError, adminRequest, normalizePin, type AdminConnection } from './http.js'
import { asRecord, asRows, failedRuleNames, formatJson, formatRecord, formatTable, type Column } from './output.js'

/** The options `keybroker admin` takes for every subcommand (commander `optsWithGlobals`). */
export interface AdminGlobalOptions {
  readonly url?: string
  readonly tokenFile?: string
  readonly cacert?: string
  readonly pinSha256?: string
  readonly json?: boolean
  readonly timeout?: string
}

export const DEFAULT_URL = 'https://127.0.0.1:8443'

async function readSmallFile(path: string, what: string): Promise<string> {
  try {
    const text = await readFile(path, 'utf8')
    if (text.length > 1024 * 1024) throw new UsageError(`${what} ${path} is larger than 1 MiB`)
    return text
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError(`cannot read ${what} ${path} (${err instanceof Error ? err.message : String(err)})`)
  }
}

/** Builds the connection from the flags, then the environment; usage errors for bad or missing settings. */
export async function connectionFor(
  opts: AdminGlobalOptions,
  environment: Readonly<Record<string, string | undefined>>,
  { tokenRequired = true, defaultCaFile }: { readonly tokenRequired?: boolean; readonly defaultCaFile?: string } = {},
): Promise<AdminConnection> {
  // An empty variable counts as unset, as in shells' ${VAR:-default}.
  const env = Object.fromEntries(Object.entries(environment).filter(([, v]) => v !== undefined && v !== ''))
  const urlText = opts.url ?? env['KEYBROKER_URL'] ?? DEFAULT_URL
  let url: URL
  try {
    url = new URL(urlText)
  } catch {
    throw new UsageError(`--url / KEYBROKER_URL: not a URL: ${urlText}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError('--url / KEYBROKER_URL: an https:// URL')
  const tokenFile = opts.tokenFile ?? env['KEYBROKER_TOKEN_FILE']
  const token = tokenFile !== undefined ? (await readSmallFile(tokenFile, 'token file')).trim() : env['KEYBROKER_TOKEN']?.trim()
  if (tokenRequired && (token === undefined || token === '')) throw new UsageError('no admin token: set KEYBROKER_TOKEN or give --token-file FILE')
  const pinText = opts.pinSha256 ?? env['KEYBROKER_PIN_SHA256']
  const caFile = opts.cacert ?? env['KEYBROKER_CACERT'] ?? (pinText === undefined ? defaultCaFile : undefined)
  const pin = pinText === undefined ? undefined : normalizePin(pinText)
  if (pinText !== undefined && pin === undefined) throw new UsageError('--pin-sha256: the SHA-256 of the certificate, 64 hex digits (colons allowed)')
  const timeoutSeconds = Number(opts.timeout ?? '30')
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds > 3600) throw new UsageError('--timeout: seconds, 1 to 3600')
  return { url, token: token === '' ? undefined : token, ca: caFile === undefined ? undefined : await readSmallFile(caFile, 'CA file'), pinSha256: pin, timeoutMs: timeoutSeconds * 1000 }
}

export class AdminSession {
  constructor(
    readonly connection: AdminConnection,
    readonly json: boolean,
    readonly ctx: CliContext,
  ) {}

  /** The response body of one call (undefined for 204). */
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    return (await adminRequest(this.connection, method, path, body)).body
  }

  /** Prints a list answer: `--json` the whole body, else a table of `body[key]`. */
  printList(body: unknown, key: string, columns: readonly Column[]): void {
    if (this.json) this.ctx.out.stdout(formatJson(body))
    else this.ctx.out.stdout(formatTable(asRows(asRecord(body)[key]), columns))
  }

  /** Prints one object: `--json` as is, else `key: value` lines. */
  printRecord(body: unknown, view: (record: Record<string, unknown>) => Record<string, unknown> = (r) => r): void {
    this.ctx.out.stdout(this.json ? formatJson(body) : formatRecord(view(asRecord(body))))
  }

  /** A confirmation for people (stderr); nothing with `--json`. */
  note(text: string): void {
    if (!this.json) this.ctx.out.stderr(`${text}\n`)
  }
}

/**
 * The action of an admin subcommand: opens the session and maps the outcome to an exit code
 * (0 done; 1 the service refused or could not be reached, with the problem on stderr and, with
 * `--json`, on stdout; usage errors propagate to exit 2).
 */
export function adminAction(ctx: CliContext, run: (session: AdminSession, args: readonly string[], opts: Record<string, unknown>) => Promise<number | void>) {
  return async (...actionArgs: unknown[]): Promise<void> => {
    const cmd = actionArgs[actionArgs.length - 1] as Command
    const globals: AdminGlobalOptions = cmd.optsWithGlobals()
    const session = new AdminSession(await connectionFor(globals, ctx.env), globals.json === true, ctx)
    try {
      ctx.setExitCode((await run(session, cmd.processedArgs.map(String), cmd.opts())) ?? 0)
    } catch (err) {
      if (err instanceof AdminApiError) {
        if (session.json) ctx.out.stdout(formatJson({ status: err.status, ...err.problem }))
        const names = failedRuleNames(err.problem)
        const failed = names === undefined ? '' : ` (failed rules: ${names.join(', ')})`
        ctx.out.stderr(`keybroker: ${err.message}${failed}\n`)
        ctx.setExitCode(1)
        return
      }
      if (err instanceof AdminConnectionError) {
        ctx.out.stderr(`keybroker: ${err.message}\n`)
        ctx.setExitCode(1)
        return
      }
      throw err
    }
  }
}

/** A JSON request body from a file (`-`: stdin), for fields the flags do not cover. */
export async function readJsonBody(path: string | undefined): Promise<Record<string, unknown>> {
  if (path === undefined) return {}
  const text = path === '-' ? await readStdin() : await readSmallFile(path, '--body file')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new UsageError(`--body ${path}: not JSON`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`--body ${path}: a JSON object expected`)
  return asRecord(parsed)
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
    size += b.byteLength
    if (size > 1024 * 1024) throw new UsageError('stdin is larger than 1 MiB')
    chunks.push(b)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Reads a file (`-`: stdin) as text, for PEM keys, bundles and certificates. */
export async function readTextArg(path: string, what: string): Promise<string> {
  return path === '-' ? readStdin() : readSmallFile(path, what)
}

/** Drops undefined fields so flags not given do not override a `--body` file. */
export function defined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined))
}

/** Typed reads of commander's parsed options (values our own argParsers produced). */
export function str(opts: Record<string, unknown>, key: string): string | undefined {
  const v = opts[key]
  return typeof v === 'string' ? v : undefined
}
export function num(opts: Record<string, unknown>, key: string): number | undefined {
  const v = opts[key]
  return typeof v === 'number' ? v : undefined
}
export function list(opts: Record<string, unknown>, key: string): unknown[] | undefined {
  const v = opts[key]
  return Array.isArray(v) ? v : undefined
}
