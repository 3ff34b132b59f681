/** `keybroker cosmian verify|provision`: a Cosmian VM verified and provisioned by the service (src/cli/cosmian.ts). */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'
import { addFlagsCommand } from './flags-command.js'

export function registerCosmianCommands(program: Command, ctx: CliContext): void {
  const cosmian = program.command('cosmian').description("verify a Cosmian VM through its agent and push its application secret (through the service's admin API)")
  const run = (sub: string) => async (args: readonly string[]) => (await import('../cosmian.js')).cosmianCommand(sub, args, ctx)
  const env = `
The service does the work (it connects to the agent, pins its certificate, sends a fresh nonce,
verifies, appraises); this command calls its admin API with the settings of \`keybroker admin\`:
--url / KEYBROKER_URL, --token-file / KEYBROKER_TOKEN_FILE or KEYBROKER_TOKEN (admin role),
--cacert / KEYBROKER_CACERT, --pin-sha256 / KEYBROKER_PIN_SHA256.`
  addFlagsCommand(cosmian, 'verify', ctx, {
    summary: 'verify a running Cosmian VM against an imported snapshot; print the EAR and the report',
    usage: '--agent https://HOST:5555 --snapshot NAME [--snapshot NAME]… [--url URL] [--cacert FILE] [--pin-sha256 HEX] [--token-file FILE]',
    details: `  --agent URL      the Cosmian VM agent (https://HOST:PORT)
  --snapshot NAME  a reference-value set (an imported snapshot); repeatable
${env}
Exit 0 when the verification passed, 1 when it did not (or a problem), 2 on usage errors.`,
    run: run('verify'),
  })
  addFlagsCommand(cosmian, 'provision', ctx, {
    summary: "verify the VM, then push a secret to its agent's /app/init over the attested connection",
    usage: '--agent https://HOST:5555 --snapshot NAME --secret NAME [--url URL] [--cacert FILE] [--pin-sha256 HEX] [--token-file FILE]',
    details: `  --agent URL      the Cosmian VM agent (https://HOST:PORT)
  --snapshot NAME  a reference-value set (an imported snapshot); repeatable
  --secret NAME    the secret whose current version is pushed (its release policy must allow it)
${env}
Exit 0 when the secret was pushed, 1 otherwise, 2 on usage errors.`,
    run: run('provision'),
  })
}
