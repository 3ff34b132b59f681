/** `keybroker kek …`: the key-encryption key lifecycle on the configured database (src/cli/kek.ts). */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'
import { addFlagsCommand } from './flags-command.js'

export function registerKekCommands(program: Command, ctx: CliContext): void {
  const kek = program.command('kek').description('key-encryption key rotation: envelopes per KEK; re-seal them under the current KEK')
  const run = (sub: string) => async (args: readonly string[]) => {
    const [{ loadConfig }, { kekCommand }, { openConfiguredDatabase }] = await Promise.all([
      import('../../config/config.js'),
      import('../kek.js'),
      import('../service.js'),
    ])
    return kekCommand(loadConfig(ctx.env), sub, args, ctx.out, openConfiguredDatabase)
  }
  addFlagsCommand(kek, 'status', ctx, {
    summary: 'envelopes per KEK id, which earlier KEKs are still needed and which are missing',
    usage: '',
    details: 'JSON on stdout. Exit 0; 1 when an envelope needs a KEK that is not configured.',
    run: run('status'),
  })
  addFlagsCommand(kek, 'rewrap', ctx, {
    summary: 're-seal every envelope under the current KEK, in audited batches (resumable)',
    usage: '[--batch-size N] [--max-batches N]',
    details: `  --batch-size   envelopes per transaction (default 100)
  --max-batches  stop after N batches; run again to continue

Exit 0 when every envelope is under the current KEK, 1 otherwise.`,
    run: run('rewrap'),
  })
}
