/** `keybroker admin audit list|verify|checkpoint|checkpoints`: /admin/v1/audit, /admin/v1/audit/checkpoints. */
import type { Command } from 'commander'
import type { CliContext } from '../../io.js'
import { asRecord, asRows, formatJson, formatRecord, formatTable } from '../../admin/output.js'
import { adminAction, num, str, type AdminSession } from '../../admin/session.js'
import { positiveInt } from './options.js'

const ENTRY_COLUMNS = [
  { header: 'ID', value: 'id' },
  { header: 'TIME', value: 'at' },
  { header: 'ACTOR', value: 'actor' },
  { header: 'ACTION', value: 'action' },
  { header: 'SUBJECT', value: 'subject' },
  { header: 'OUTCOME', value: 'outcome' },
] as const

const CHECKPOINT_COLUMNS = [
  { header: 'ID', value: 'id' },
  { header: 'TIME', value: 'at' },
  { header: 'HEAD', value: 'headId' },
  { header: 'HEAD HASH', value: 'headHash' },
] as const

export function registerAuditAdminCommands(admin: Command, ctx: CliContext): void {
  const audit = admin.command('audit').description('the hash-chained audit log')
  audit
    .command('list')
    .alias('ls')
    .description('read audit entries, oldest first')
    .option('--after <id>', 'entries after this id')
    .option('--limit <n>', 'at most this many per page', positiveInt)
    .option('--all', 'follow the pages to the end')
    .action(
      adminAction(ctx, async (s, _args, opts) => {
        const entries = await readPages(s, '/admin/v1/audit', 'entries', opts)
        s.ctx.out.stdout(s.json ? formatJson({ entries }) : formatTable(entries, ENTRY_COLUMNS))
      }),
    )
  audit
    .command('verify')
    .description('verify the whole hash chain on the service; exit 1 if it is broken')
    .action(
      adminAction(ctx, async (s) => {
        const result = asRecord(await s.call('GET', '/admin/v1/audit/verify'))
        s.ctx.out.stdout(s.json ? formatJson(result) : formatRecord(result))
        return result['ok'] === true ? 0 : 1
      }),
    )
  audit
    .command('checkpoint')
    .description('sign and store a checkpoint of the current chain head now (admin role)')
    .action(
      adminAction(ctx, async (s) => {
        const cp = asRecord(await s.call('POST', '/admin/v1/audit/checkpoints'))
        s.ctx.out.stdout(s.json ? formatJson(cp) : formatRecord(cp))
      }),
    )
  audit
    .command('checkpoints')
    .description('export the signed checkpoints, oldest first; keep the --json output outside the database and give it to `keybroker audit verify --checkpoint FILE`')
    .option('--after <id>', 'checkpoints after this id')
    .option('--limit <n>', 'at most this many per page', positiveInt)
    .option('--all', 'follow the pages to the end')
    .action(
      adminAction(ctx, async (s, _args, opts) => {
        const checkpoints = await readPages(s, '/admin/v1/audit/checkpoints', 'checkpoints', opts)
        s.ctx.out.stdout(s.json ? formatJson({ checkpoints }) : formatTable(checkpoints, CHECKPOINT_COLUMNS))
      }),
    )
}

/**
 * The rows under `member` of a paged list (`after`, `limit`, `next`): one page, or with `--all`
 * every page to the end.
 */
async function readPages(s: AdminSession, path: string, member: string, opts: Record<string, unknown>): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = []
  let after = str(opts, 'after')
  const limit = num(opts, 'limit')
  for (;;) {
    const q = new URLSearchParams()
    if (after !== undefined) q.set('after', after)
    if (limit !== undefined) q.set('limit', String(limit))
    const page = asRecord(await s.call('GET', `${path}${q.size > 0 ? `?${q}` : ''}`))
    const pageRows = asRows(page[member])
    rows.push(...pageRows)
    const next = page['next']
    if (opts['all'] !== true || typeof next !== 'string' || pageRows.length === 0) return rows
    after = next
  }
}
