/** `keybroker admin sealing-key …` and `keybroker admin denied-disk …`: disk unlock administration. */
import { Option, type Command } from 'commander'
import { UsageError, type CliContext } from '../../io.js'
import { addDelete, addItemAction, addList, addShow, itemPath, type ResourceSpec } from '../../admin/resource.js'
import { adminAction, defined, list, str } from '../../admin/session.js'
import { commaList, positiveInt } from './options.js'

const SEALING_KEYS: ResourceSpec = {
  path: '/admin/v1/sealing-keys',
  noun: 'sealing key',
  listKey: 'sealingKeys',
  idArg: 'name',
  columns: [
    { header: 'NAME', value: 'name' },
    { header: 'CURVE', value: 'curve' },
    { header: 'STATE', value: 'state' },
    { header: 'VERSION', value: 'currentVersion' },
    { header: 'REFERENCE VALUES', value: 'referenceValues' },
    { header: 'POLICY', value: (r) => r['policy'] ?? 'default' },
    { header: 'UPDATED', value: 'updatedAt' },
  ],
}

const DENIED_DISKS: ResourceSpec = {
  path: '/admin/v1/denied-disks',
  noun: 'denied disk',
  listKey: 'deniedDisks',
  idArg: 'disk',
  columns: [
    { header: 'DISK', value: 'disk' },
    { header: 'REASON', value: 'reason' },
    { header: 'CREATED', value: 'createdAt' },
    { header: 'BY', value: 'createdBy' },
  ],
}

export function registerSealingKeyCommands(admin: Command, ctx: CliContext): void {
  const key = admin.command('sealing-key').description('sealing keys: Tang-style exchange keys that unlock disks after attestation')
  key
    .command('create')
    .description('create a sealing key (a fresh exchange key) gated by reference-value sets')
    .argument('<name>')
    .requiredOption('--reference-values <names>', 'the sets whose measurements may recover (comma-separated, repeatable)', commaList)
    .addOption(new Option('--curve <curve>', 'the exchange key curve').choices(['P-256', 'P-521']))
    .option('--policy <name>', 'the recovery policy (default: the built-in rules)')
    .action(adminAction(ctx, async (s, [name], opts) => s.printRecord(await s.call('POST', SEALING_KEYS.path, defined({ name, referenceValues: list(opts, 'referenceValues'), curve: str(opts, 'curve'), policy: str(opts, 'policy') })))))
  addList(key, ctx, SEALING_KEYS, 'list sealing keys')
  addShow(key, ctx, SEALING_KEYS)
  key
    .command('update')
    .description('replace the reference-value sets and/or the policy that gate recovery')
    .argument('<name>')
    .option('--reference-values <names>', 'the new sets (comma-separated, repeatable)', commaList)
    .option('--policy <name>', 'the recovery policy')
    .option('--default-policy', 'go back to the built-in rules')
    .action(
      adminAction(ctx, async (s, [name], opts) => {
        if (opts['defaultPolicy'] === true && opts['policy'] !== undefined) throw new UsageError('give --policy or --default-policy, not both')
        const policy = opts['defaultPolicy'] === true ? null : str(opts, 'policy')
        s.printRecord(await s.call('PUT', itemPath(SEALING_KEYS, name ?? ''), defined({ referenceValues: list(opts, 'referenceValues'), policy })))
      }),
    )
  addItemAction(key, ctx, SEALING_KEYS, 'rotate', 'new exchange key, advertised from now on; older versions still recover')
  addItemAction(key, ctx, SEALING_KEYS, 'disable', 'refuse every recovery and the advertisement')
  addItemAction(key, ctx, SEALING_KEYS, 'enable', 'recover and advertise again')
  key
    .command('retire')
    .description('retire one exchange-key version: disks bound to it no longer unlock')
    .argument('<name>')
    .argument('<version>', 'the version to retire', positiveInt)
    .action(adminAction(ctx, async (s, [name, version]) => s.printRecord(await s.call('POST', `${itemPath(SEALING_KEYS, name ?? '')}/versions/${version ?? ''}/retire`))))
  addDelete(key, ctx, SEALING_KEYS, 'delete a sealing key with every version (bound disks then unlock only by their other pins)')

  const denied = admin.command('denied-disk').description('deny-listed disk identities (stolen disks)')
  denied
    .command('create')
    .alias('add')
    .description("deny-list a disk identity: its next recovery is refused")
    .argument('<disk>', "the disk's identity (detail.disk of its recovery audit entry)")
    .requiredOption('--reason <text>', 'why')
    .action(adminAction(ctx, async (s, [disk], opts) => s.printRecord(await s.call('POST', DENIED_DISKS.path, { disk, reason: str(opts, 'reason') }))))
  addList(denied, ctx, DENIED_DISKS, 'list deny-listed disk identities')
  addDelete(denied, ctx, DENIED_DISKS, 'remove a disk identity from the deny-list')
}
