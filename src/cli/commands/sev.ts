/** `keybroker sev …`: the SEV (pre-SNP) guest owner's offline tools, like sevctl (src/cli/sev.ts). */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'
import { addFlagsCommand } from './flags-command.js'

export function registerSevCommands(program: Command, ctx: CliContext): void {
  const sev = program.command('sev').description('AMD SEV (pre-SNP) guest-owner tools offline, like sevctl (no configuration needed)')
  const run = (sub: string) => async (args: readonly string[]) => (await import('../sev.js')).sevCommand(sub, args, ctx.out)
  addFlagsCommand(sev, 'verify-chain', ctx, {
    summary: 'verify a platform certificate chain to a pinned AMD root',
    usage: 'FILE [--products naples,rome,milan,genoa,turin]',
    details: `  FILE          the chain as \`sevctl export\` (or aleph-vm /about/certificates) gives it, binary or base64
  --products    the AMD product lines whose roots are accepted (default: all)

Exit 0 and a JSON summary when it verifies; 1 and the reason on stderr.`,
    run: run('verify-chain'),
  })
  addFlagsCommand(sev, 'measure', ctx, {
    summary: 'compute (or check) the launch MEASURE',
    usage: '--tik HEX --api MAJOR.MINOR --build N --policy N (--firmware-digest HEX | --firmware FILE [--kernel FILE --initrd FILE --cmdline TEXT]) (--mnonce B64 | --launch-measure B64)',
    details: `MEASURE (32 bytes, standard base64) on stdout; with --launch-measure, checks the 48-byte blob
instead: exit 0 on a match, 1 on a mismatch.`,
    run: run('measure'),
  })
  addFlagsCommand(sev, 'launch-digest', ctx, {
    summary: 'compute GCTX.LD, the value to register in a reference-value set of type sev',
    usage: '--firmware FILE [--kernel FILE --initrd FILE --cmdline TEXT] [--vmsa-cpu0 FILE --vmsa-cpu1 FILE --num-cpus N]',
    details: 'The launch digest in hex on stdout.',
    run: run('launch-digest'),
  })
  addFlagsCommand(sev, 'package-secret', ctx, {
    summary: 'package a launch secret for injection (aleph-vm inject_secret body)',
    usage: '--tik HEX --tek HEX --launch-measure B64 [--iv HEX] (--secret TEXT | --secret-file FILE) [--format aleph|sevctl]',
    details: '{"packet_header": "<b64>", "secret": "<b64>"} on stdout.',
    run: run('package-secret'),
  })
}
