/**
 * How V8 compiles PGlite's WebAssembly in `keybroker serve` on the embedded database: with its
 * baseline compiler (Liftoff) only, without tiering hot functions up to the optimizing one
 * (TurboFan). Each tier-up compiles one of PostgreSQL's functions on a background thread, and
 * the large ones (the executor, the parser) need tens of MB of compiler memory each. glibc keeps
 * what those threads freed in their malloc arenas: 35-76 MiB resident for the rest of the
 * process, a sixth to a quarter of a PGlite service's memory. Liftoff's code was measured no
 * dearer per request than the tiered-up code plus its compilation (README "Start-up and
 * memory"). PostgreSQL runs outside the process, so a service on `DATABASE_URL` is left as it is;
 * `NODE_OPTIONS=--no-liftoff-only` restores V8's tiering.
 */
import { setFlagsFromString } from 'node:v8'
import { nodeFlagGiven } from './node-flags.js'

/** V8's flag for `serve` on PGlite. */
export const SERVE_WASM_FLAG = '--liftoff-only'

/** Any flag that chooses WebAssembly's compilers: an operator's own choice wins. */
const GIVEN = /^--(no-)?(liftoff|liftoff[-_]only|wasm[-_]tier[-_]up|wasm[-_]dynamic[-_]tiering|wasm[-_]tiering[-_]budget)(=|$)/

/**
 * The V8 flag `serve` sets on the embedded database, or undefined on PostgreSQL or when the
 * process was started with a WebAssembly compiler flag of its own (on the command line or in
 * `NODE_OPTIONS`, e.g. `--no-liftoff-only`), which is then left alone.
 */
export function wasmTieringFlag(execArgv: readonly string[], nodeOptions: string | undefined, embeddedDatabase: boolean): string | undefined {
  if (!embeddedDatabase) return undefined
  return nodeFlagGiven(GIVEN, execArgv, nodeOptions) ? undefined : SERVE_WASM_FLAG
}

/**
 * Applies `wasmTieringFlag` to this process. V8 reads it when a WebAssembly module is compiled,
 * so it must run before PGlite is opened. Returns the flag set, if any.
 */
export function limitWasmTiering(embeddedDatabase: boolean): string | undefined {
  const flag = wasmTieringFlag(process.execArgv, process.env.NODE_OPTIONS, embeddedDatabase)
  if (flag !== undefined) setFlagsFromString(flag)
  return flag
}
