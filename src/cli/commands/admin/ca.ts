/** `keybroker admin ca|certificate-profile|certificate …`: the attested certificate authority. */
import { Option, type Command } from 'commander'
import { UsageError, type CliContext } from '../../io.js'
import { addDelete, addList, addShow, itemPath, type ResourceSpec } from '../../admin/resource.js'
import { adminAction, defined, list, num, readJsonBody, readTextArg, str } from '../../admin/session.js'
import { commaList, positiveInt } from './options.js'

const CAS: ResourceSpec = {
  path: '/admin/v1/cas',
  noun: 'CA',
  listKey: 'cas',
  idArg: 'name',
  columns: [
    { header: 'NAME', value: 'name' },
    { header: 'KEY TYPE', value: 'keyType' },
    { header: 'SOURCE', value: 'source' },
    { header: 'VERSION', value: 'currentVersion' },
    { header: 'UPDATED', value: 'updatedAt' },
  ],
}

const PROFILES: ResourceSpec = {
  path: '/admin/v1/certificate-profiles',
  noun: 'certificate profile',
  listKey: 'profiles',
  idArg: 'name',
  columns: [
    { header: 'NAME', value: 'name' },
    { header: 'CA', value: 'ca' },
    { header: 'DNS NAMES', value: 'allowedDnsNames' },
    { header: 'LIFETIME', value: 'lifetimeSeconds' },
    { header: 'REFERENCE VALUES', value: 'referenceValues' },
    { header: 'POLICY', value: (r) => r['policy'] ?? 'default' },
  ],
}

const CERTIFICATES: ResourceSpec = {
  path: '/admin/v1/certificates',
  noun: 'certificate',
  listKey: 'certificates',
  idArg: 'serial',
  columns: [
    { header: 'SERIAL', value: 'serial' },
    { header: 'CA', value: 'ca' },
    { header: 'PROFILE', value: 'profile' },
    { header: 'SUBJECT', value: 'subject' },
    { header: 'NOT AFTER', value: 'notAfter' },
    { header: 'REVOKED', value: 'revokedAt' },
  ],
}

const profileOptions = (cmd: Command) =>
  cmd
    .option('--ca <name>', 'the issuing CA')
    .option('--reference-values <names>', 'the sets whose measurements may get a certificate (comma-separated, repeatable)', commaList)
    .option('--dns-name <name>', 'an allowed DNS name (wildcards as the service accepts them); repeatable', commaList)
    .option('--ip-address <ip>', 'an allowed IP address; repeatable', commaList)
    .option('--lifetime <seconds>', 'certificate lifetime', positiveInt)
    .option('--policy <name>', 'the issuance policy (default: the built-in rules)')
    .option('--body <file>', 'a JSON request body (allowedSubject, extendedKeyUsage, …); flags win')

/** The imported CA certificate and key of `--certificate` and `--private-key` (both or neither). */
async function importedCa(opts: Record<string, unknown>): Promise<{ certificate: string; privateKey: string } | undefined> {
  const cert = str(opts, 'certificate')
  const key = str(opts, 'privateKey')
  if (cert === undefined && key === undefined) return undefined
  if (cert === undefined || key === undefined) throw new UsageError('--certificate and --private-key go together')
  return { certificate: await readTextArg(cert, '--certificate'), privateKey: await readTextArg(key, '--private-key') }
}

async function profileBody(opts: Record<string, unknown>): Promise<Record<string, unknown>> {
  return {
    ...(await readJsonBody(str(opts, 'body'))),
    ...defined({ ca: str(opts, 'ca'), referenceValues: list(opts, 'referenceValues'), allowedDnsNames: list(opts, 'dnsName'), allowedIpAddresses: list(opts, 'ipAddress'), lifetimeSeconds: num(opts, 'lifetime'), policy: str(opts, 'policy') }),
  }
}

export function registerCaCommands(admin: Command, ctx: CliContext): void {
  const ca = admin.command('ca').description('certificate authorities that issue certificates to attested keys')
  ca.command('create')
    .description('create a CA: a generated key with a self-signed root, or an imported certificate and key')
    .argument('<name>')
    .addOption(new Option('--key-type <type>', 'generate a key of this type').choices(['P-256', 'P-384']))
    .option('--certificate <file>', 'import: the CA certificate (PEM)')
    .option('--private-key <file>', 'import: its private key (PEM)')
    .action(
      adminAction(ctx, async (s, [name], opts) => {
        const imported = await importedCa(opts)
        if ((imported === undefined) === (str(opts, 'keyType') === undefined)) throw new UsageError('give --key-type, or --certificate and --private-key')
        const body = imported === undefined ? { name, keyType: str(opts, 'keyType') } : { name, ...imported }
        s.printRecord(await s.call('POST', CAS.path, body))
      }),
    )
  addList(ca, ctx, CAS, 'list CAs')
  addShow(ca, ctx, CAS)
  ca.command('rotate')
    .description('a new CA key for issuance (generated, or imported); older keys keep their CRL and OCSP')
    .argument('<name>')
    .option('--certificate <file>', 'import: the new CA certificate (PEM)')
    .option('--private-key <file>', 'import: its private key (PEM)')
    .action(
      adminAction(ctx, async (s, [name], opts) => {
        const body = (await importedCa(opts)) ?? {}
        s.printRecord(await s.call('POST', `${itemPath(CAS, name ?? '')}/rotate`, body))
      }),
    )

  const profile = admin.command('certificate-profile').description('what certificates a CA issues, and to which attested states')
  profileOptions(profile.command('create').description('create a certificate profile').argument('<name>')).action(
    adminAction(ctx, async (s, [name], opts) => s.printRecord(await s.call('POST', PROFILES.path, { ...(await profileBody(opts)), name }))),
  )
  addList(profile, ctx, PROFILES, 'list certificate profiles')
  addShow(profile, ctx, PROFILES)
  profileOptions(profile.command('update').description("replace a certificate profile's settings").argument('<name>')).action(
    adminAction(ctx, async (s, [name], opts) => s.printRecord(await s.call('PUT', itemPath(PROFILES, name ?? ''), await profileBody(opts)))),
  )
  addDelete(profile, ctx, PROFILES, 'delete a certificate profile (its certificates stay valid)')

  const certificate = admin.command('certificate').description('issued certificates')
  certificate
    .command('list')
    .alias('ls')
    .description('list issued certificates, newest first')
    .option('--ca <name>', 'only this CA')
    .option('--profile <name>', 'only this profile')
    .option('--limit <n>', 'at most this many', positiveInt)
    .action(
      adminAction(ctx, async (s, _args, opts) => {
        const q = new URLSearchParams(Object.entries(defined({ ca: str(opts, 'ca'), profile: str(opts, 'profile'), limit: num(opts, 'limit')?.toString() })).map(([k, v]) => [k, String(v)]))
        s.printList(await s.call('GET', `${CERTIFICATES.path}${q.size > 0 ? `?${q}` : ''}`), CERTIFICATES.listKey, CERTIFICATES.columns)
      }),
    )
  addShow(certificate, ctx, CERTIFICATES)
  certificate
    .command('revoke')
    .description('revoke a certificate; CRL and OCSP show it from the next request on')
    .argument('<serial>')
    .option('--reason <reason>', 'an RFC 5280 reason (e.g. keyCompromise)')
    .action(adminAction(ctx, async (s, [serial], opts) => s.printRecord(await s.call('POST', `${itemPath(CERTIFICATES, serial ?? '')}/revoke`, defined({ reason: str(opts, 'reason') })))))
}
