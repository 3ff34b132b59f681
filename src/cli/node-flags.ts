/**
 * Whether the process was started with a Node/V8 flag of the operator's own, on the command line
 * (`process.execArgv`) or in `NODE_OPTIONS`. `serve` sets its V8 defaults (heap-growth.ts,
 * wasm-tiering.ts, young-generation.ts) only where the operator chose nothing.
 */
export function nodeFlagGiven(flag: RegExp, execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((arg) => flag.test(arg))
}
