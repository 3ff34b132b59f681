/** `keybroker admin reference-values …`: /admin/v1/reference-values. */
import type { Command } from 'commander'
import { UsageError, type CliContext } from '../../io.js'
import { addDelete, addList, itemPath, type ResourceSpec } from '../../admin/resource.js'
import { asRecord, asRows } from '../../admin/output.js'
import { adminAction, defined, list, num, readJsonBody, str } from '../../admin/session.js'
import { collect, hexValue, positiveInt } from './options.js'

const SETS: ResourceSpec = {
  path: '/admin/v1/reference-values',
  noun: 'reference-value set',
  listKey: 'referenceValues',
  idArg: 'name',
  columns: [
    { header: 'NAME', value: 'name' },
    { header: 'VERSION', value: 'version' },
    { header: 'EVIDENCE TYPE', value: (r) => r['evidenceType'] ?? 'any' },
    { header: 'MEASUREMENTS', value: (r) => (Array.isArray(r['measurements']) ? r['measurements'].length : 0) },
    { header: 'DEBUG', value: 'allowDebug' },
    { header: 'SOURCE', value: (r) => (typeof r['provenance'] === 'object' && r['provenance'] !== null && 'source' in r['provenance'] ? r['provenance'].source : 'admin') },
    { header: 'UPDATED', value: 'updatedAt' },
  ],
}

const setOptions = (cmd: Command) =>
  cmd
    .option('--measurement <hex>', 'a golden measurement (hex); repeatable', (v: string, prev: string[] | undefined) => collect(hexValue(v), prev))
    .option('--evidence-type <type>', 'the evidence type the set is for (snp, tdx, tpm, …)')
    .option('--allow-debug', 'accept evidence with debug enabled (development images only)')
    .option('--no-allow-debug', 'refuse debug evidence (the default)')

/** A set for people: each measurement as its value, revoked ones marked. */
function setView(set: Record<string, unknown>): Record<string, unknown> {
  const measurements = asRows(set['measurements']).map((m) => `${String(m['value'])}${m['revokedAt'] ? ` (revoked ${String(m['revokedAt'])}: ${String(m['revokeReason'] ?? '')})` : ''}`)
  return { ...set, measurements, provenance: asRecord(set['provenance'])['source'] ?? '-' }
}

function setFields(opts: Record<string, unknown>): Record<string, unknown> {
  return defined({ measurements: list(opts, 'measurement'), evidenceType: str(opts, 'evidenceType'), allowDebug: opts['allowDebug'] })
}

export function registerReferenceValueCommands(admin: Command, ctx: CliContext): void {
  const rv = admin.command('reference-values').alias('rv').description('named sets of golden measurements that evidence is appraised against')
  setOptions(rv.command('create').description('register a named set of golden measurements').argument('<name>'))
    .option('--body <file>', 'a JSON request body (POST /admin/v1/reference-values: values, expect, …); flags win')
    .action(
      adminAction(ctx, async (s, [name], opts) => {
        const body: Record<string, unknown> = { ...(await readJsonBody(str(opts, 'body'))), ...setFields(opts), name }
        if (body['measurements'] === undefined && body['values'] === undefined) throw new UsageError('give --measurement HEX (or values in --body)')
        s.printRecord(await s.call('POST', SETS.path, body), setView)
      }),
    )
  addList(rv, ctx, SETS, 'list reference-value sets')
  rv.command('show')
    .alias('get')
    .description('show one reference-value set')
    .argument('<name>')
    .action(adminAction(ctx, async (s, [name]) => s.printRecord(await s.call('GET', itemPath(SETS, name ?? '')), setView)))
  setOptions(rv.command('update').description('replace the measurements of a set (a new version)').argument('<name>'))
    .option('--body <file>', 'a JSON request body (PUT /admin/v1/reference-values/{name}); flags win')
    .action(adminAction(ctx, async (s, [name], opts) => s.printRecord(await s.call('PUT', itemPath(SETS, name ?? ''), { ...(await readJsonBody(str(opts, 'body'))), ...setFields(opts) }), setView)))
  rv.command('revoke')
    .description('revoke one measurement; effective from the next request on every replica')
    .argument('<name>')
    .requiredOption('--measurement <hex>', 'the measurement to revoke', hexValue)
    .requiredOption('--reason <text>', 'why (kept in the set and the audit log)')
    .option('--revoke-certificates', 'also revoke the certificates issued on that measurement')
    .action(
      adminAction(ctx, async (s, [name], opts) =>
        s.printRecord(await s.call('POST', `${itemPath(SETS, name ?? '')}/revoke`, defined({ measurement: str(opts, 'measurement'), reason: str(opts, 'reason'), revokeCertificates: opts['revokeCertificates'] })), setView),
      ),
    )
  rv.command('versions')
    .description('every version of a set, newest first; or one with --version')
    .argument('<name>')
    .option('--version <n>', 'show this version', positiveInt)
    .action(
      adminAction(ctx, async (s, [name], opts) => {
        const version = num(opts, 'version')
        if (version !== undefined) return s.printRecord(await s.call('GET', `${itemPath(SETS, name ?? '')}/versions/${version}`))
        s.printList(await s.call('GET', `${itemPath(SETS, name ?? '')}/versions`), 'versions', [
          { header: 'VERSION', value: 'version' },
          { header: 'CREATED', value: 'createdAt' },
          { header: 'MEASUREMENTS', value: (r) => (typeof r['set'] === 'object' && r['set'] !== null && 'measurements' in r['set'] && Array.isArray(r['set'].measurements) ? r['set'].measurements.length : '-') },
        ])
      }),
    )
  addDelete(rv, ctx, SETS, 'delete a reference-value set')
}
