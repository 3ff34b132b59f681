/**
 * How far V8 lets the old generation grow past what survived the last full collection, for
 * `keybroker serve`. V8's default factor adapts to the collector's speed and reaches 4× on a
 * machine with a large heap limit: a service whose live heap stays at ~40 MB (modules, code,
 * caches) let its heap reach ~130 MB committed between full collections under steady load, all
 * of it garbage a forced collection returned (README "Start-up and memory"). A fixed 60 %
 * keeps the committed heap near the live one at the price of more frequent, and shorter, full
 * collections; 30 % kept it closer still, but its full collections every ~10-15 MB of garbage
 * showed in the tail latency (p99 at half load 16-33 ms against 9-14 ms at 60 %, measured
 * together with 8 MiB semi-spaces, young-generation.ts). It is a growth factor, not a limit: the heap still grows as far as it needs
 * (a boot storm's queued requests), unlike `--max-old-space-size`.
 */
import { setFlagsFromString } from 'node:v8'
import { nodeFlagGiven } from './node-flags.js'

/** V8's `--heap-growing-percent` for `serve`. */
export const SERVE_HEAP_GROWING_PERCENT = 60

const FLAG = /^--heap[-_]growing[-_]percent(=|$)/

/**
 * The V8 flag `serve` sets, or undefined when the process was started with its own
 * `--heap-growing-percent` (on the command line or in `NODE_OPTIONS`; `=0` is V8's default
 * adaptive factor), which is then left alone.
 */
export function heapGrowthFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  return nodeFlagGiven(FLAG, execArgv, nodeOptions) ? undefined : `--heap-growing-percent=${SERVE_HEAP_GROWING_PERCENT}`
}

/** Applies `heapGrowthFlag` to this process (V8 reads it at every collection). Returns the flag set, if any. */
export function limitHeapGrowth(): string | undefined {
  const flag = heapGrowthFlag(process.execArgv, process.env.NODE_OPTIONS)
  if (flag !== undefined) setFlagsFromString(flag)
  return flag
}
