/** `keybroker aleph launch|delegation`: keybroker as guest owner on aleph.im (src/cli/aleph.ts). */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'
import { addFlagsCommand } from './flags-command.js'

export function registerAlephCommands(program: Command, ctx: CliContext): void {
  const aleph = program.command('aleph').description('launch an aleph.im confidential VM with keybroker as its guest owner')
  const run = (sub: string) => async (args: readonly string[]) => (await import('../aleph.js')).alephCommand(sub, args, ctx.out, ctx.env)
  addFlagsCommand(aleph, 'launch', ctx, {
    summary: 'run a whole confidential VM launch on a compute node (CRN)',
    usage:
      '--crn URL --vm REF --secret NAME --key ES256.pem --delegation FILE [--policy N] [--format aleph|sevctl] [--keybroker URL] [--ca FILE] [--measurement-attempts N] [--timeout-seconds N]',
    details: `Progress on stderr, the result as JSON on stdout; exit 0, or 1 with the reason.
keybroker's URL comes from --keybroker or KEYBROKER_URL, its CA (PEM) from --ca or KEYBROKER_CA.`,
    run: run('launch'),
  })
  addFlagsCommand(aleph, 'delegation', ctx, {
    summary: 'make the operator delegation the CRN requires',
    usage: '(--key ES256.pem --address ADDR --domain HOST [--chain ETH|SOL] [--hours N] | --payload HEX --signature SIG)',
    details: `With --key: prints the payload (hex) the wallet must sign to delegate to the ES256 key.
With --payload and --signature: prints the signed delegation (the X-SignedPubKey header value) to keep in a file.`,
    run: run('delegation'),
  })
}
