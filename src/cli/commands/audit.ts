/** `keybroker audit verify`: checks the audit chain in the configured database directly. */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'

export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('the audit log, read from the configured database (over HTTPS: keybroker admin audit)')
  audit
    .command('verify')
    .description(
      'verify the keyed audit chain and signed checkpoints (the newest stored one, and each exported FILE); print the result as JSON, exit 1 if broken, truncated or rewritten',
    )
    .option('--checkpoint <FILE...>', 'checkpoints exported from GET /admin/v1/audit/checkpoints (or keybroker admin audit checkpoints)')
    .action(async (options: { checkpoint?: string[] }) => {
      const [{ loadConfig }, { verifyAuditOffline }] = await Promise.all([import('../../config/config.js'), import('../service.js')])
      ctx.setExitCode(await verifyAuditOffline(loadConfig(ctx.env), ctx.out, options.checkpoint ?? []))
    })
}
