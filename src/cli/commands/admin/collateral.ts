/** `keybroker admin collateral …`: /admin/v1/collateral (AMD certificates and CRLs, Intel PCS responses). */
import { readFile } from 'node:fs/promises'
import { Option, type Command } from 'commander'
import { UsageError, type CliContext } from '../../io.js'
import { asRecord, asRows, formatJson, formatTable } from '../../admin/output.js'
import { adminAction, defined, readJsonBody, str, type AdminSession } from '../../admin/session.js'

const STORED = [
  { header: 'KIND', value: 'kind' },
  { header: 'KEY', value: 'key' },
  { header: 'SHA256', value: 'sha256' },
  { header: 'NOT AFTER', value: 'notAfter' },
] as const

function printStored(s: AdminSession, answer: unknown): void {
  if (s.json) s.ctx.out.stdout(formatJson(answer))
  else s.ctx.out.stdout(formatTable(asRows(asRecord(answer)['stored']), STORED))
}

export function registerCollateralCommands(admin: Command, ctx: CliContext): void {
  const collateral = admin.command('collateral').description('collateral the verifiers use without fetching: AMD KDS certificates and CRLs, Intel PCS responses')
  collateral
    .command('upload-snp')
    .description('upload AMD SEV-SNP certificates (VCEK, VLEK, ASK, ASVK, ARK; PEM or DER) or an ARK-signed CRL')
    .option('--certificate <file>', 'PEM (one or more certificates, e.g. a KDS cert_chain) or DER')
    .option('--crl <file>', 'a CRL signed by an AMD ARK (PEM or DER)')
    .addOption(new Option('--crl-for <which>', 'which KDS CRL it is').choices(['vcek', 'vlek']))
    .action(
      adminAction(ctx, async (s, _args, opts) => {
        const cert = str(opts, 'certificate')
        const crl = str(opts, 'crl')
        if ((cert === undefined) === (crl === undefined)) throw new UsageError('give --certificate FILE or --crl FILE')
        // PEM goes as text; DER as base64 (the route takes either).
        const encode = async (path: string) => {
          const bytes = await readFile(path).catch((err: unknown) => {
            throw new UsageError(`cannot read ${path} (${err instanceof Error ? err.message : String(err)})`)
          })
          const text = bytes.toString('latin1')
          return text.includes('-----BEGIN') ? text : bytes.toString('base64')
        }
        const body = defined({ certificate: cert === undefined ? undefined : await encode(cert), crl: crl === undefined ? undefined : await encode(crl), crlFor: str(opts, 'crlFor') })
        printStored(s, await s.call('POST', '/admin/v1/collateral/snp', body))
      }),
    )
  collateral
    .command('upload-tdx')
    .description('upload Intel PCS responses for TDX (TCB info, QE identity, PCK CRL, Root CA CRL) with their issuer chains')
    .requiredOption('--body <file>', 'the JSON request body: {"tcbInfo": {"body", "issuerChain"}, "qeIdentity": {…}, "pckCrl": {"crl", "issuerChain"}, "rootCaCrl": {…}} (- reads stdin)')
    .action(adminAction(ctx, async (s, _args, opts) => printStored(s, await s.call('POST', '/admin/v1/collateral/tdx', await readJsonBody(str(opts, 'body'))))))
  collateral
    .command('list')
    .alias('ls')
    .description('list stored collateral (metadata only)')
    .option('--kind <kind>', 'only this kind (e.g. snp-vcek, tdx-tcb-info)')
    .action(
      adminAction(ctx, async (s, _args, opts) => {
        const kind = str(opts, 'kind')
        s.printList(await s.call('GET', `/admin/v1/collateral${kind === undefined ? '' : `?kind=${encodeURIComponent(kind)}`}`), 'collateral', [...STORED, { header: 'UPLOADED', value: 'uploadedAt' }])
      }),
    )
  collateral
    .command('delete')
    .alias('rm')
    .description('delete one stored value')
    .argument('<kind>')
    .argument('<key>', 'as listed, e.g. Milan/…')
    .action(
      adminAction(ctx, async (s, [kind, key]) => {
        await s.call('DELETE', `/admin/v1/collateral/${encodeURIComponent(kind ?? '')}/${encodeURIComponent(key ?? '')}`)
        s.note(`deleted collateral ${kind ?? ''} ${key ?? ''}`)
      }),
    )
}
