import { readFile } from 'node:fs/promises'

/** Where a CLI command writes; tests pass collectors, main.ts the process streams. */
export interface CliOutput {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
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
