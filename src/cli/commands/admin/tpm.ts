/** `keybroker admin tpm ak|ca …`: /admin/v1/tpm (attestation keys and TPM CAs). */
import { Option, type Command } from 'commander'
import type { CliContext } from '../../io.js'
import { addDelete, addList, addShow, type ResourceSpec } from '../../admin/resource.js'
import { adminAction, readTextArg, str } from '../../admin/session.js'

const AKS: ResourceSpec = {
  path: '/admin/v1/tpm/aks',
  noun: 'attestation key',
  listKey: 'aks',
  idArg: 'id',
  columns: [
    { header: 'ID', value: 'id' },
    { header: 'NAME', value: 'name' },
    { header: 'SOURCE', value: 'source' },
    { header: 'TPM NAME', value: 'tpmName' },
    { header: 'CREATED', value: 'createdAt' },
  ],
}

const CAS: ResourceSpec = {
  path: '/admin/v1/tpm/cas',
  noun: 'TPM CA',
  listKey: 'cas',
  idArg: 'name',
  columns: [
    { header: 'NAME', value: 'name' },
    { header: 'PURPOSE', value: 'purpose' },
    { header: 'SUBJECT', value: 'subject' },
    { header: 'NOT AFTER', value: 'notAfter' },
    { header: 'SHA256', value: 'sha256' },
  ],
}

export function registerTpmCommands(admin: Command, ctx: CliContext): void {
  const tpm = admin.command('tpm').description('TPM trust: registered attestation keys and manufacturer / AK CAs')
  const ak = tpm.command('ak').description('TPM attestation keys (registered by an admin or enrolled by the machine)')
  ak.command('create')
    .alias('add')
    .description('register a TPM attestation key')
    .argument('<name>')
    .requiredOption('--public-key <file>', 'the AK: SPKI PEM, or the TPM public area (TPM2B_PUBLIC, base64) to have it checked as a restricted key')
    .action(adminAction(ctx, async (s, [name], opts) => s.printRecord(await s.call('POST', AKS.path, { name, publicKey: (await readTextArg(str(opts, 'publicKey') ?? '', '--public-key')).trim() }))))
  addList(ak, ctx, AKS, 'list registered and enrolled attestation keys')
  addShow(ak, ctx, AKS)
  addDelete(ak, ctx, AKS, 'stop trusting an attestation key (from the next request on)')
  const ca = tpm.command('ca').description('TPM manufacturer CAs (EK certificates, for enrollment) and AK CAs (cloud vTPMs)')
  ca.command('create')
    .alias('add')
    .description('register a TPM CA certificate')
    .argument('<name>')
    .addOption(new Option('--purpose <purpose>', 'ek: manufacturer CA of EK certificates; ak: CA issuing AK certificates').choices(['ek', 'ak']).makeOptionMandatory())
    .requiredOption('--certificate <file>', 'the CA certificate (PEM)')
    .action(adminAction(ctx, async (s, [name], opts) => s.printRecord(await s.call('POST', CAS.path, { name, purpose: str(opts, 'purpose'), certificate: await readTextArg(str(opts, 'certificate') ?? '', '--certificate') }))))
  ca.command('list')
    .alias('ls')
    .description('list TPM CAs')
    .addOption(new Option('--purpose <purpose>', 'only these').choices(['ek', 'ak']))
    .action(
      adminAction(ctx, async (s, _args, opts) => {
        const purpose = str(opts, 'purpose')
        s.printList(await s.call('GET', `${CAS.path}${purpose === undefined ? '' : `?purpose=${purpose}`}`), CAS.listKey, CAS.columns)
      }),
    )
  addShow(ca, ctx, CAS)
  addDelete(ca, ctx, CAS, 'remove a TPM CA (keys it certified are untrusted from the next request on)')
}
