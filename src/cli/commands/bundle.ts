/** `keybroker bundle sign|verify|fingerprint`: the publisher's offline tools (src/cli/bundle.ts). */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'
import { addFlagsCommand } from './flags-command.js'

export function registerBundleCommands(program: Command, ctx: CliContext): void {
  const bundle = program
    .command('bundle')
    .description('sign and verify golden-measurement bundles offline (no configuration, no database, no network)')
  const run = (sub: string) => async (args: readonly string[]) => (await import('../bundle.js')).bundleCommand(sub, args, ctx.out)
  addFlagsCommand(bundle, 'sign', ctx, {
    summary: 'sign a bundle (JSON) as a compact JWS',
    usage: '--key PRIVATE.pem [--out FILE] BUNDLE.json',
    details: `  --key PRIVATE.pem   the publisher's private key (PKCS#8 or SEC1/PKCS#1 PEM): ES256, ES384, EdDSA or PS256
  --out FILE          write the JWS to FILE instead of stdout`,
    run: run('sign'),
  })
  addFlagsCommand(bundle, 'verify', ctx, {
    summary: 'verify a signed bundle and print what it holds (JSON)',
    usage: '[--format keybroker|automata|corim|gosevguest|gotdxguest|cosmian-snapshot] [--pub SIGNER.pem] [--at TIME] [--ignore PATH]… [--evidence-type TYPE] FILE',
    details: `  --format FORMAT        keybroker (a keybroker JWS bundle, default), automata (json_sig_tool document),
                         corim (COSE_Sign1 CoRIM; an unsigned one without --pub),
                         gosevguest | gotdxguest (go-sev-guest / go-tdx-guest policy, unsigned),
                         cosmian-snapshot (a Cosmian VM snapshot JSON, unsigned: what it maps to)
  --pub SIGNER.pem       the signer's public key
  --at TIME              check validity at this RFC 3339 time instead of now
  --ignore PATH          (gosevguest, gotdxguest) a policy field to leave out; repeatable
  --evidence-type TYPE   the evidence type the mapped set is for

Exit 0 and what was verified (JSON) on stdout; 1 and the problem (code, type, detail) as JSON.`,
    run: run('verify'),
  })
  addFlagsCommand(bundle, 'fingerprint', ctx, {
    summary: 'print the signer fingerprint of a key (hex SHA-256 of the SPKI)',
    usage: 'KEY.pem',
    details: '  KEY.pem   a public key, or a private key (its public half is used)',
    run: run('fingerprint'),
  })
}
