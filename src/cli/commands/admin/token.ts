/**
 * `keybroker admin token create|list|revoke`: admin API tokens over /admin/v1/tokens, and
 * `create --offline` straight into the configured database for the first one.
 */
import { Option, type Command } from 'commander'
import type { AdminRole } from '../../../storage/schema.js'
import type { CliContext } from '../../io.js'
import { addList, itemPath, type ResourceSpec } from '../../admin/resource.js'
import { asRecord, formatJson } from '../../admin/output.js'
import { adminAction, defined, str } from '../../admin/session.js'

/** The roles of admin tokens (storage/schema.ts ADMIN_ROLES), written here so `--help` loads no storage code. */
export const ROLES = ['admin', 'registrar', 'auditor'] as const satisfies readonly AdminRole[]

const TOKENS: ResourceSpec = {
  path: '/admin/v1/tokens',
  noun: 'token',
  listKey: 'tokens',
  idArg: 'id',
  columns: [
    { header: 'ID', value: 'id' },
    { header: 'ROLE', value: 'role' },
    { header: 'LABEL', value: 'label' },
    { header: 'CREATED', value: 'createdAt' },
    { header: 'EXPIRES', value: (r) => r['expiresAt'] ?? 'never' },
    { header: 'REVOKED', value: 'revokedAt' },
  ],
}

function isRole(v: string | undefined): v is AdminRole {
  return ROLES.some((r) => r === v)
}

export function registerTokenCommands(admin: Command, ctx: CliContext): void {
  const token = admin.command('token').description('admin API tokens (roles: admin, registrar — reference values only, auditor — read only)')
  const create = token
    .command('create')
    .description('create an admin API token; it is printed once, on stdout')
    .addOption(new Option('--role <role>', 'what the token may do').choices(ROLES).makeOptionMandatory())
    .option('--label <text>', 'a note to recognise the token by', '')
    .option('--expires-at <time>', 'an RFC 3339 time after which the token is refused (default: never)')
    .option('--offline', 'write the token straight into the configured database (KEYBROKER_* settings; the service may be stopped): how the first token is made')
  const online = adminAction(ctx, async (s, _args, opts) => {
    const answer = asRecord(await s.call('POST', TOKENS.path, defined({ role: str(opts, 'role'), label: str(opts, 'label'), expiresAt: str(opts, 'expiresAt') })))
    if (s.json) return s.ctx.out.stdout(formatJson(answer))
    s.ctx.out.stderr(`created ${String(answer['role'])} token ${String(answer['id'])}; it is shown once:\n`)
    s.ctx.out.stdout(`${String(answer['token'])}\n`)
  })
  create.action(async (opts: Record<string, unknown>, cmd: Command) => {
    if (opts['offline'] !== true) return online(opts, cmd)
    const role = str(opts, 'role')
    if (!isRole(role)) return
    const [{ loadConfig }, { createTokenOffline }] = await Promise.all([import('../../../config/config.js'), import('../../service.js')])
    ctx.setExitCode(await createTokenOffline(loadConfig(ctx.env), role, str(opts, 'label') ?? '', ctx.out))
  })
  addList(token, ctx, TOKENS, 'list admin tokens (never their values)')
  token
    .command('revoke')
    .description('revoke a token: refused from the next request on')
    .argument('<id>')
    .action(
      adminAction(ctx, async (s, [id]) => {
        await s.call('DELETE', itemPath(TOKENS, id ?? ''))
        s.note(`revoked token ${id ?? ''}`)
      }),
    )
}
