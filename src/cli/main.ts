/** The `keybroker` command (bin/keybroker.js): runs the command tree of program.ts on process.argv. */
import { ConfigError } from '../config/config.js'
import { KeybrokerError } from '../errors.js'
import { describeError } from '../log/logger.js'
import { createCliContext } from './io.js'
import { runCli } from './program.js'

const ctx = createCliContext({ stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) })

runCli(process.argv.slice(2), ctx).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`keybroker: ${err.message}\n`)
    else if (err instanceof KeybrokerError) process.stderr.write(`keybroker: ${err.code}: ${err.detail}\n`)
    else process.stderr.write(`keybroker: ${describeError(err)}\n`)
    process.exitCode = 1
  },
)
