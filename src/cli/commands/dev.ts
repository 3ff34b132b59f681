/** `keybroker dev …`: development helpers for a service started with sample evidence enabled. */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'
import { commaList, hexValue } from './admin/options.js'

export function registerDevCommands(program: Command, ctx: CliContext): void {
  const dev = program.command('dev').description('development helpers (a service with KEYBROKER_ALLOW_SAMPLE_EVIDENCE=1)')
  dev
    .command('attest')
    .description('attest with sample evidence bound to a fresh key, and print the secrets released to it')
    .requiredOption('--sample', 'use the development-only sample evidence type (the only one this helper makes)')
    .requiredOption('--measurement <hex>', 'the measurement the sample evidence claims', hexValue)
    .option('--release <names>', 'secrets to ask for (comma-separated, repeatable)', commaList)
    .option('--debug', 'claim a debug-enabled guest (to see a denial)')
    .option('--url <url>', 'the service (default: KEYBROKER_URL, else https://127.0.0.1:8443)')
    .option('--cacert <file>', "trust this certificate (default: KEYBROKER_CACERT, else the development certificate under KEYBROKER_DATA_DIR or ./data)")
    .option('--pin-sha256 <hex>', "trust the certificate with this SHA-256 fingerprint (the service logs it at start)")
    .option('--json', 'print {token, secrets: {name: base64url value}} as JSON')
    .addHelpText(
      'after',
      `
Gets a challenge, makes a P-256 key, builds {"type": "sample", "measurement", "reportData"}
with reportData = SHA-512("keybroker-v1:" nonce ":" thumbprint(key)), attests, opens each
released JWE with the key and prints the values. Exit 1 when the service refuses (the failed
rules are printed).`,
    )
    .action(async (opts: Record<string, unknown>) => {
      const { devAttest } = await import('../dev-attest.js')
      ctx.setExitCode(await devAttest(opts, ctx))
    })
}
