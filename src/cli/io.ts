import { readFile } from 'node:fs/promises'
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** Where a CLI command writes; tests pass collectors, main.ts the process streams. */
export interface CliOutput {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
}

/** What every command module gets: its output, its environment, and where it reports its exit code. */
export interface CliContext {
  readonly out: CliOutput
  readonly env: Readonly<Record<string, string | undefined>>
  /** Records the exit code of the command that ran (0 when never called). */
  readonly setExitCode: (code: number) => void
  readonly exitCode: () => number
}

/** A context writing to `out`, reading `env`. */
export function createCliContext(out: CliOutput, env: Readonly<Record<string, string | undefined>> = process.env): CliContext {
  let code = 0
  return {
    out,
    env,
    setExitCode: (c) => {
      code = c
    },
    exitCode: () => code,
  }
}

/** A mistake in the command line or its input files: exit 2 with the usage text. */
export class UsageError extends Error {}

/** Reads an input file named on the command line, refusing one larger than `maxBytes`. */
export async function readInputFile(path: string, maxBytes: number): Promise<Uint8Array> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new UsageError(`cannot read ${path} (${err instanceof Error ? err.message : String(err)})`)
  }
  if (bytes.byteLength > maxBytes) throw new UsageError(`${path} is larger than ${maxBytes} bytes`)
  return new Uint8Array(bytes)
}

/** `parseArgs` (strict), with its errors as usage errors (exit 2). */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  args: readonly string[],
  options: T,
  allowPositionals = false,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args: [...args], options, allowPositionals, strict: true })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
}

/** The value of a required flag. */
export function requiredFlag(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`)
  return value
}

/** An integer flag in decimal or 0x-hex (as sevctl's `parse_hex_or_int`), `fallback` when absent. */
export function integerFlag(value: string | undefined, flag: string, max: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback
  const text = requiredFlag(value, flag)
  const n = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new UsageError(`${flag}: an integer from 0 to ${max} (decimal or 0x-hex)`)
  return n
}
