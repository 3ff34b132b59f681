/**
 * The size of V8's young generation for processes that serve. V8 lets each of the new space's two
 * semi-spaces grow to 16 MiB on a 64-bit machine: 32 MiB committed for short-lived garbage
 * that a request's answer makes and drops. 8 MiB semi-spaces cut a serving process's resident
 * memory by ~10-16 MiB at no measured cost per request, and leave room for V8's heap growing
 * factor (heap-growth.ts) at a value that keeps the tail latency down (README "Start-up and
 * memory": p99 at half load and RSS after 10,000 rounds, measured together).
 *
 * Unlike the growing factor, V8 reads this only when it sets up a process's heap (setting it at
 * run time does nothing), so it is given where a serving process is started: `npm start`, the
 * container image's command, and the cluster primary's workers (`servingExecArgv`). A process
 * started otherwise (`node bin/keybroker.js serve`) gets it from `NODE_OPTIONS`.
 */
import { nodeFlagGiven } from './node-flags.js'

/** The Node flag for serving processes. */
export const SERVE_SEMI_SPACE_FLAG = '--max-semi-space-size=8'

const GIVEN = /^--(max|min)[-_]semi[-_]space[-_]size(=|$)/

/**
 * The command-line flags for a process that serves (a cluster worker, a benchmark's service):
 * `execArgv` plus `SERVE_SEMI_SPACE_FLAG`, unless they or `NODE_OPTIONS` (which a child
 * inherits anyway) already size the young generation.
 */
export function servingExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  return nodeFlagGiven(GIVEN, execArgv, nodeOptions) ? [...execArgv] : [...execArgv, SERVE_SEMI_SPACE_FLAG]
}
