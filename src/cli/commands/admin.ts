/**
 * `keybroker admin …`: the admin API over HTTPS, one module per resource under admin/.
 * Connection flags are options of `admin` itself and may be given anywhere after it.
 */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'
import { DEFAULT_URL } from '../admin/session.js'
import { registerAuditAdminCommands } from './admin/audit.js'
import { registerCaCommands } from './admin/ca.js'
import { registerCollateralCommands } from './admin/collateral.js'
import { registerPolicyCommands } from './admin/policy.js'
import { registerReferenceValueCommands } from './admin/reference-values.js'
import { registerSealingKeyCommands } from './admin/sealing-key.js'
import { registerSecretCommands } from './admin/secret.js'
import { registerBundleImportCommands, registerSignerCommands } from './admin/signer.js'
import { registerTokenCommands } from './admin/token.js'
import { registerTpmCommands } from './admin/tpm.js'

export function registerAdminCommands(program: Command, ctx: CliContext): void {
  const admin = program
    .command('admin')
    .description('manage a running keybroker through its admin API (HTTPS)')
    // Connection flags anywhere after `admin` (subcommands created below inherit this).
    .enablePositionalOptions(false)
    .option('--url <url>', `the service (default: KEYBROKER_URL, else ${DEFAULT_URL})`)
    .option('--token-file <file>', 'a file holding the admin token (default: KEYBROKER_TOKEN, or the file KEYBROKER_TOKEN_FILE names)')
    .option('--cacert <file>', 'trust this CA or self-signed certificate (PEM; default: KEYBROKER_CACERT, else the system CAs)')
    .option('--pin-sha256 <hex>', "trust the certificate with this SHA-256 fingerprint, as the service logs it at start (default: KEYBROKER_PIN_SHA256)")
    .option('--json', "print the service's JSON answers instead of tables")
    .option('--timeout <seconds>', 'give up on an answer after this long', '30')
    .addHelpText(
      'after',
      `
Exit codes: 0 done; 1 the service refused (its problem type and detail on stderr; with --json
the problem document on stdout) or could not be reached; 2 usage error.`,
    )
  registerSecretCommands(admin, ctx)
  registerReferenceValueCommands(admin, ctx)
  registerPolicyCommands(admin, ctx)
  registerSignerCommands(admin, ctx)
  registerBundleImportCommands(admin, ctx)
  registerSealingKeyCommands(admin, ctx)
  registerCollateralCommands(admin, ctx)
  registerTpmCommands(admin, ctx)
  registerCaCommands(admin, ctx)
  registerAuditAdminCommands(admin, ctx)
  registerTokenCommands(admin, ctx)
}
