/**
 * The entry of `keybroker sev …` and `keybroker aleph …` (bin/keybroker.js routes them here):
 * tools of an AMD SEV guest owner that need no service configuration, loaded without the
 * service's modules.
 */
import { KeybrokerError } from '../errors.js'
import { alephCommand } from './aleph.js'
import type { CliOutput } from './io.js'
import { sevCommand } from './sev.js'

const out: CliOutput = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }
const [command, sub, ...rest] = process.argv.slice(2)

;(command === 'aleph' ? alephCommand(sub, rest, out) : sevCommand(sub, rest, out)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`keybroker: ${err instanceof KeybrokerError ? `${err.code}: ${err.detail}` : err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  },
)
