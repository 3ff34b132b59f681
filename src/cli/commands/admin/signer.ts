/** `keybroker admin signer …` and `keybroker admin bundle import`: /admin/v1/signers, /admin/v1/bundles. */
import { readFile } from 'node:fs/promises'
import { Option, type Command } from 'commander'
import { UsageError, type CliContext } from '../../io.js'
import { addDelete, addList, addShow, type ResourceSpec } from '../../admin/resource.js'
import { asRecord, asRows, cell, formatJson, formatTable } from '../../admin/output.js'
import { adminAction, defined, list, readTextArg, str } from '../../admin/session.js'
import { collect } from './options.js'

const SIGNERS: ResourceSpec = {
  path: '/admin/v1/signers',
  noun: 'signer',
  listKey: 'signers',
  idArg: 'fingerprint',
  columns: [
    { header: 'FINGERPRINT', value: 'fingerprint' },
    { header: 'LABEL', value: 'label' },
    { header: 'FORMAT', value: 'format' },
    { header: 'ALGORITHM', value: 'algorithm' },
    { header: 'CREATED', value: 'createdAt' },
  ],
}

export function registerSignerCommands(admin: Command, ctx: CliContext): void {
  const signer = admin.command('signer').description('bundle signers: public keys whose signed golden values are trusted')
  signer
    .command('create')
    .alias('add')
    .description('register a bundle signer public key (admin only)')
    .requiredOption('--label <text>', 'who the signer is')
    .requiredOption('--public-key <file>', 'the SPKI PEM public key')
    .addOption(new Option('--format <format>', 'what it signs').choices(['keybroker', 'automata', 'corim']))
    .action(
      adminAction(ctx, async (s, _args, opts) =>
        s.printRecord(await s.call('POST', SIGNERS.path, defined({ label: str(opts, 'label'), publicKey: await readTextArg(str(opts, 'publicKey') ?? '', '--public-key'), format: str(opts, 'format') }))),
      ),
    )
  addList(signer, ctx, SIGNERS, 'list bundle signers')
  addShow(signer, ctx, SIGNERS)
  addDelete(signer, ctx, SIGNERS, 'remove a signer: its bundles are refused from now on (imported values stay)')
}

export function registerBundleImportCommands(admin: Command, ctx: CliContext): void {
  const bundle = admin.command('bundle').description('import reference values from signed bundles and foreign policy documents')
  bundle
    .command('import')
    .description('import a keybroker JWS bundle, an Automata json_sig_tool document, a go-sev-guest/go-tdx-guest policy or a CoRIM')
    .argument('<file>', 'the document (- reads stdin)')
    .addOption(new Option('--format <format>', 'the document format').choices(['keybroker', 'automata', 'gosevguest', 'gotdxguest', 'corim']).default('keybroker'))
    .option('--name <set>', 'the reference-value set to create or replace (all formats but keybroker)')
    .option('--evidence-type <type>', 'override the evidence type inferred from the document')
    .option('--ignore <path>', '(gosevguest, gotdxguest) a dotted field path to leave out; repeatable', collect)
    .action(
      adminAction(ctx, async (s, [file], opts) => {
        const format = str(opts, 'format') ?? 'keybroker'
        const path = file ?? ''
        let body: Record<string, unknown>
        if (format === 'keybroker') body = { bundle: (await readTextArg(path, 'bundle')).trim() }
        else {
          const name = str(opts, 'name')
          if (name === undefined) throw new UsageError(`--name is required with --format ${format}`)
          const content = format === 'corim' ? (path === '-' ? Buffer.from(await readTextArg(path, 'CoRIM'), 'latin1') : await readFile(path)).toString('base64') : await readTextArg(path, format)
          body = defined({ [format]: content, name, evidenceType: str(opts, 'evidenceType'), ignore: format.startsWith('go') ? list(opts, 'ignore') : undefined })
        }
        const answer = asRecord(await s.call('POST', '/admin/v1/bundles', body))
        if (s.json) return s.ctx.out.stdout(formatJson(answer))
        s.ctx.out.stdout(`${cell(answer['status'])} ${cell(answer['format'])} (signer ${cell(answer['signer'])}, digest ${cell(answer['digest'])})\n`)
        s.ctx.out.stdout(formatTable(asRows(answer['referenceValues']), [{ header: 'NAME', value: 'name' }, { header: 'VERSION', value: 'version' }, { header: 'EVIDENCE TYPE', value: 'evidenceType' }, { header: 'MEASUREMENTS', value: (r) => (Array.isArray(r['measurements']) ? r['measurements'].length : '-') }]))
      }),
    )
}
