import type { Command } from 'commander'
import type { CliContext } from '../io.js'

export interface FlagsCommandSpec {
  /** One line for the parent's command list. */
  readonly summary: string
  /** The argument synopsis after the command name, e.g. `--key PRIVATE.pem [--out FILE] BUNDLE.json`. */
  readonly usage: string
  /** Help text after the synopsis: what the command does, its flags, its output. */
  readonly details: string
  /** Runs the command on its raw arguments (parsed by node:util parseArgs, strict) and returns the exit code. */
  readonly run: (args: readonly string[]) => Promise<number>
}

/**
 * A leaf command whose flags its implementation parses itself (the offline tools: bundle, sev,
 * aleph, evidence verify, whose flags are a stable interface, parsed strictly by node:util
 * `parseArgs` and answered with exit 2 on a mistake). commander owns the tree, `--help` and
 * the suggestions; everything after the command name is handed over unchanged.
 */
export function addFlagsCommand(parent: Command, name: string, ctx: CliContext, spec: FlagsCommandSpec): Command {
  return parent
    .command(name)
    .description(spec.summary)
    .usage(spec.usage)
    .addHelpText('after', `\n${spec.details}`)
    .argument('[arguments...]')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (args: string[]) => {
      ctx.setExitCode(await spec.run(args))
    })
}
