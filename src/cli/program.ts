/**
 * The `keybroker` command tree (commander). Help, `--version`, unknown-command suggestions and
 * usage errors are commander's; each command group lives in its own module under `commands/`
 * and loads its implementation (and the configuration) only inside its action, so `--help`
 * never loads the configuration, opens a database or starts anything.
 *
 * Exit codes: 0 success (and `--help`, `--version`); 1 a failure the command reports; 2 a usage
 * error (unknown command or option, missing argument, bad flag value).
 */
import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { registerAdminCommands } from './commands/admin.js'
import { registerAlephCommands } from './commands/aleph.js'
import { registerAuditCommands } from './commands/audit.js'
import { registerBundleCommands } from './commands/bundle.js'
import { registerCosmianCommands } from './commands/cosmian.js'
import { registerDevCommands } from './commands/dev.js'
import { registerEvidenceCommands } from './commands/evidence.js'
import { registerKekCommands } from './commands/kek.js'
import { registerServiceCommands } from './commands/service.js'
import { registerSevCommands } from './commands/sev.js'
import { UsageError, type CliContext } from './io.js'

/** The package version, read from the package.json above this file (src/ or dist/src/). */
function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8'))
      if (typeof pkg === 'object' && pkg !== null && 'name' in pkg && pkg.name === 'keybroker' && 'version' in pkg && typeof pkg.version === 'string') return pkg.version
    } catch {
      // not this level: try the next one up
    }
  }
  return 'unknown'
}

/**
 * Builds the command tree. Actions report their exit code through `setExitCode`; commander's
 * own errors are thrown (exitOverride) and mapped by `runCli`.
 */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('keybroker')
  program
    .description('Remote attestation key broker: the HTTPS service, its admin client and offline tools')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    // The program's own options (--version) only before a command, so a command may take --version N.
    .enablePositionalOptions()
    .exitOverride()
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ writeOut: (t) => ctx.out.stdout(t), writeErr: (t) => ctx.out.stderr(t) })
    .addHelpText(
      'after',
      `
Service commands read their configuration from KEYBROKER_* environment variables (README.md,
"Configuration"); admin commands talk to a running service (KEYBROKER_URL, KEYBROKER_TOKEN).
Exit codes: 0 success, 1 failure, 2 usage error.`,
    )
  // Subcommands inherit exitOverride, output and suggestion settings from the program.
  registerServiceCommands(program, ctx)
  registerAdminCommands(program, ctx)
  registerAuditCommands(program, ctx)
  registerKekCommands(program, ctx)
  registerEvidenceCommands(program, ctx)
  registerBundleCommands(program, ctx)
  registerSevCommands(program, ctx)
  registerAlephCommands(program, ctx)
  registerCosmianCommands(program, ctx)
  registerDevCommands(program, ctx)
  return program
}

/** Runs the command line (without `node` and the script), returning the process exit code. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx)
  if (argv.length === 0) {
    program.outputHelp({ error: true })
    return 2
  }
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return ctx.exitCode()
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2
    if (err instanceof UsageError) {
      ctx.out.stderr(`keybroker: ${err.message}\n(run with --help for usage)\n`)
      return 2
    }
    throw err
  }
}
