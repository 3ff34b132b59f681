/** `keybroker serve` and `keybroker migrate` (src/cli/service.ts). */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'

export function registerServiceCommands(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('start the HTTPS service (migrates the database first); stops on SIGTERM or SIGINT')
    .action(async () => {
      const [{ loadConfig }, { serve }] = await Promise.all([import('../../config/config.js'), import('../service.js')])
      ctx.setExitCode(await serve(loadConfig(ctx.env)))
    })
  program
    .command('migrate')
    .description('apply database migrations and exit')
    .action(async () => {
      const [{ loadConfig }, { migrate }] = await Promise.all([import('../../config/config.js'), import('../service.js')])
      ctx.setExitCode(await migrate(loadConfig(ctx.env), ctx.out))
    })
}
