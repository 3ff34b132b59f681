/** `keybroker admin policy …`: /admin/v1/policies, and explain (a dry run against evidence). */
import type { Command } from 'commander'
import { UsageError, type CliContext } from '../../io.js'
import { addDelete, addList, itemPath, type ResourceSpec } from '../../admin/resource.js'
import { asRecord, asRows, cell, formatJson, formatTable } from '../../admin/output.js'
import { adminAction, defined, list, num, readJsonBody, readTextArg, str } from '../../admin/session.js'
import { commaList, positiveInt, ruleArg } from './options.js'

const POLICIES: ResourceSpec = {
  path: '/admin/v1/policies',
  noun: 'policy',
  listKey: 'policies',
  idArg: 'name',
  columns: [
    { header: 'NAME', value: 'name' },
    { header: 'VERSION', value: 'version' },
    { header: 'RULES', value: (r) => (Array.isArray(r['rules']) ? r['rules'].length : 0) },
    { header: 'DESCRIPTION', value: 'description' },
  ],
}

const RULE_COLUMNS = [
  { header: 'RULE', value: 'name' },
  { header: 'EXPRESSION', value: 'expr' },
] as const

function printPolicy(s: { json: boolean; ctx: CliContext }, body: unknown): void {
  if (s.json) return s.ctx.out.stdout(formatJson(body))
  const p = asRecord(body)
  s.ctx.out.stdout(`policy ${cell(p['name'])} version ${cell(p['version'])}${p['description'] ? `: ${cell(p['description'])}` : ''}\nsecrets: ${cell(p['secrets'])}\n`)
  s.ctx.out.stdout(formatTable(asRows(p['rules']), RULE_COLUMNS))
}

const ruleOptions = (cmd: Command) =>
  cmd
    .option('--rule <name=expr>', 'a named CEL rule over claims, ear and request; repeatable, all must hold', ruleArg)
    .option('--description <text>', 'what the policy is for')
    .option('--body <file>', 'a JSON request body ({description, rules: [{name, expr, description}]}); flags win')

async function policyBody(opts: Record<string, unknown>): Promise<Record<string, unknown>> {
  const body = { ...(await readJsonBody(str(opts, 'body'))), ...defined({ rules: list(opts, 'rule'), description: str(opts, 'description') }) }
  if (body['rules'] === undefined) throw new UsageError('give --rule NAME=EXPR (or rules in --body)')
  return body
}

export function registerPolicyCommands(admin: Command, ctx: CliContext): void {
  const policy = admin.command('policy').description('release policies: named CEL rules a secret requires')
  ruleOptions(policy.command('create').description('create a release policy (rules are compiled now: a bad rule is refused)').argument('<name>')).action(
    adminAction(ctx, async (s, [name], opts) => printPolicy(s, await s.call('POST', POLICIES.path, { ...(await policyBody(opts)), name }))),
  )
  addList(policy, ctx, POLICIES, 'list policies at their current version (the built-in default first)')
  policy
    .command('show')
    .alias('get')
    .description('show a policy and its rules')
    .argument('<name>')
    .option('--version <n>', 'an earlier version', positiveInt)
    .action(
      adminAction(ctx, async (s, [name], opts) => {
        const version = num(opts, 'version')
        printPolicy(s, await s.call('GET', `${itemPath(POLICIES, name ?? '')}${version === undefined ? '' : `?version=${version}`}`))
      }),
    )
  ruleOptions(policy.command('update').description('a new version of a policy; secrets using it follow from the next request').argument('<name>')).action(
    adminAction(ctx, async (s, [name], opts) => printPolicy(s, await s.call('PUT', itemPath(POLICIES, name ?? ''), await policyBody(opts)))),
  )
  policy
    .command('versions')
    .description('every version of a policy, newest first')
    .argument('<name>')
    .action(adminAction(ctx, async (s, [name]) => s.printList(await s.call('GET', `${itemPath(POLICIES, name ?? '')}/versions`), 'versions', [{ header: 'VERSION', value: 'version' }, { header: 'CREATED', value: 'createdAt' }, { header: 'BY', value: 'createdBy' }, { header: 'RULES', value: (r) => (Array.isArray(r['rules']) ? r['rules'].length : 0) }])))
  policy
    .command('explain')
    .description('dry run: each rule with its result and the values it read, against evidence or claims')
    .argument('<name>')
    .option('--evidence <file>', 'evidence JSON ({"type": …}, or an attest request body holding it); verified for real, the nonce binding is not checked')
    .option('--claims <file>', 'a claims document (JSON) instead of evidence')
    .option('--secret <name>', "use this secret's reference-value sets and state")
    .option('--reference-values <names>', 'appraise against these sets (comma-separated)', commaList)
    .option('--version <n>', 'explain this version of the policy', positiveInt)
    .action(
      adminAction(ctx, async (s, [name], opts) => {
        const evidencePath = str(opts, 'evidence')
        const claimsPath = str(opts, 'claims')
        if ((evidencePath === undefined) === (claimsPath === undefined)) throw new UsageError('give --evidence FILE or --claims FILE')
        const doc = async (path: string, what: string) => {
          try {
            return asRecord(JSON.parse(await readTextArg(path, what)))
          } catch (err) {
            if (err instanceof SyntaxError) throw new UsageError(`${what} ${path}: not JSON`)
            throw err
          }
        }
        let evidence = evidencePath === undefined ? undefined : await doc(evidencePath, '--evidence')
        // An attest request body holds the evidence under "evidence".
        if (evidence !== undefined && evidence['type'] === undefined && typeof evidence['evidence'] === 'object') evidence = asRecord(evidence['evidence'])
        const body = defined({
          evidence,
          claims: claimsPath === undefined ? undefined : await doc(claimsPath, '--claims'),
          secret: str(opts, 'secret'),
          referenceValues: list(opts, 'referenceValues'),
          version: num(opts, 'version'),
        })
        const answer = asRecord(await s.call('POST', `${itemPath(POLICIES, name ?? '')}/explain`, body))
        if (s.json) return s.ctx.out.stdout(formatJson(answer))
        const p = asRecord(answer['policy'])
        s.ctx.out.stdout(`policy ${cell(p['name'])} version ${cell(p['version'])}: ${answer['allowed'] === true ? 'ALLOWED' : 'DENIED'}\n`)
        s.ctx.out.stdout(
          formatTable(asRows(answer['rules']), [
            { header: 'RULE', value: 'rule' },
            { header: 'RESULT', value: (r) => (r['passed'] === true ? 'pass' : 'FAIL') },
            { header: 'REASON', value: (r) => r['error'] ?? r['reason'] },
            { header: 'VALUES', value: 'values' },
          ]),
        )
        const appraisal = asRecord(answer['appraisal'])
        if (appraisal['status'] !== undefined) s.ctx.out.stdout(`appraisal: ${cell(appraisal['status'])}\n`)
        return answer['allowed'] === true ? 0 : 1
      }),
    )
  addDelete(policy, ctx, POLICIES, 'delete a policy that guards no secret')
}
