/** `keybroker audit verify`: checks the audit chain in the configured database directly. */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'

export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('the audit log, read from the configured database (over HTTPS: keybroker admin audit)')
  audit
    .command('verify')
    .description('verify the audit log hash chain in the configured database; print the result as JSON, exit 1 if broken')
    .action(async () => {
      const [{ loadConfig }, { verifyAuditOffline }] = await Promise.all([import('../../config/config.js'), import('../service.js')])
      ctx.setExitCode(await verifyAuditOffline(loadConfig(ctx.env), ctx.out))
    })
}
