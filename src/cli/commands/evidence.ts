/** `keybroker evidence verify`: offline evidence inspection for admins (src/cli/evidence-verify.ts). */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'
import { addFlagsCommand } from './flags-command.js'

export function registerEvidenceCommands(program: Command, ctx: CliContext): void {
  const evidence = program.command('evidence').description('inspect attestation evidence offline')
  addFlagsCommand(evidence, 'verify', ctx, {
    summary: 'verify evidence offline (all but the nonce binding) and print its claims',
    usage: '--type TYPE FILE [--at ISO-TIME] [--collateral DIR] [--certs FILE]… [--nonce HEX]',
    details: `  --type TYPE         the evidence type (snp, tdx, tpm, az-snp-vtpm, az-tdx-vtpm, automata, gotpm, …)
  --at ISO-TIME       verify at this time instead of now
  --collateral DIR    the collateral cache directory (default KEYBROKER_COLLATERAL_DIR)
  --certs FILE        (gotpm) an AK CA certificate trusted for this run; repeatable
  --nonce HEX         the nonce the report data must hold (exactly, or zero-padded)

Uses the service configuration (trust anchors, SNP settings) from the environment. Claims as
JSON on stdout, exit 0; or the problem as JSON, exit 1.`,
    run: async (args) => {
      const [{ loadConfig }, { evidenceVerify }] = await Promise.all([import('../../config/config.js'), import('../evidence-verify.js')])
      return evidenceVerify(loadConfig(ctx.env), args, ctx.out)
    },
  })
}
