/** `keybroker admin …`: the admin API over HTTPS, and the first token offline. */
import { Option, type Command } from 'commander'
import type { AdminRole } from '../../storage/schema.js'
import { UsageError, type CliContext } from '../io.js'

/** The roles of admin tokens (storage/schema.ts ADMIN_ROLES), written here so `--help` loads no storage code. */
export const ROLES = ['admin', 'registrar', 'auditor'] as const satisfies readonly AdminRole[]

export function registerAdminCommands(program: Command, ctx: CliContext): void {
  const admin = program.command('admin').description('manage a keybroker service through its admin API')
  const token = admin.command('token').description('admin API tokens')
  token
    .command('create')
    .description('create an admin API token; it is printed once, on stdout')
    .addOption(new Option('--role <role>', 'what the token may do').choices(ROLES).makeOptionMandatory())
    .option('--label <text>', 'a note to recognise the token by', '')
    .option('--offline', 'write the token straight into the configured database (the service may be stopped): how the first token is made')
    .action(async (opts: { role: AdminRole; label: string; offline?: boolean }) => {
      if (opts.offline !== true) throw new UsageError('admin token create: give --offline (creating tokens over HTTPS comes with the token routes)')
      const [{ loadConfig }, { createTokenOffline }] = await Promise.all([import('../../config/config.js'), import('../service.js')])
      ctx.setExitCode(await createTokenOffline(loadConfig(ctx.env), opts.role, opts.label, ctx.out))
    })
}
