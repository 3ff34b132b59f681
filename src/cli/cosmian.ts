/**
 * `keybroker cosmian verify|provision`: the Cosmian VM owner's commands, run by a keybroker
 * service (it pulls from the agent, verifies, pushes), driven through its admin API
 * (KEYBROKER_URL, KEYBROKER_TOKEN with the admin role; KEYBROKER_CA or --ca for a self-signed
 * service certificate):
 *
 *   cosmian verify --agent https://HOST:5555 --snapshot NAME [--snapshot NAME]…
 *   cosmian provision --agent https://HOST:5555 --snapshot NAME --secret NAME
 *
 * `verify` prints the verification (passed, EAR, report) as JSON: exit 0 when it passed, 1 when
 * not. `provision` prints the result of the push: exit 0 when the secret went to the agent.
 * A problem answer is printed as JSON with exit 1; usage errors exit 2.
 */
import { KeybrokerClient, KeybrokerClientError } from '../clients/index.js'
import { parseFlags, readInputFile, requiredFlag, UsageError, type CliContext } from './io.js'

export const COSMIAN_USAGE = `cosmian verify --agent https://HOST:5555 --snapshot NAME [--snapshot NAME]… [--ca FILE]
  cosmian provision --agent https://HOST:5555 --snapshot NAME --secret NAME [--ca FILE]`

export async function cosmianCommand(sub: string, args: readonly string[], ctx: CliContext): Promise<number> {
  try {
    return await run(sub, args, ctx)
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.out.stderr(`keybroker: ${err.message}\nusage: keybroker ${COSMIAN_USAGE}\n`)
      return 2
    }
    throw err
  }
}

async function run(sub: string, args: readonly string[], ctx: CliContext): Promise<number> {
  if (sub !== 'verify' && sub !== 'provision') throw new UsageError(`unknown cosmian command ${sub}`)
  const { values } = parseFlags(args, {
    agent: { type: 'string' },
    snapshot: { type: 'string', multiple: true },
    secret: { type: 'string' },
    ca: { type: 'string' },
  })
  const agentUrl = requiredFlag(values.agent, '--agent')
  const referenceValues = values.snapshot ?? []
  if (referenceValues.length === 0) throw new UsageError('--snapshot NAME is required (the reference-value set an imported snapshot became)')
  const url = requiredFlag(ctx.env['KEYBROKER_URL'], 'KEYBROKER_URL')
  const token = requiredFlag(ctx.env['KEYBROKER_TOKEN'], 'KEYBROKER_TOKEN')
  const caPath = values.ca ?? ctx.env['KEYBROKER_CA']
  const ca = caPath === undefined || caPath === '' ? undefined : Buffer.from(await readInputFile(caPath, 256 * 1024)).toString('utf8')
  const client = new KeybrokerClient({ baseUrl: url, ...(ca === undefined ? {} : { ca }), timeoutMs: 120_000 })
  const body =
    sub === 'verify' ? { agentUrl, referenceValues } : { agentUrl, referenceValues, secret: requiredFlag(values.secret, '--secret') }
  let answer: Record<string, unknown>
  try {
    answer = await client.request('POST', sub === 'verify' ? '/admin/v1/cosmian/verifications' : '/admin/v1/cosmian/provisions', { token, json: body })
  } catch (err) {
    if (!(err instanceof KeybrokerClientError)) throw err
    ctx.out.stdout(`${JSON.stringify(err.problem)}\n`)
    return 1
  }
  ctx.out.stdout(`${JSON.stringify(answer)}\n`)
  const passed = answer['passed'] === true
  return passed ? 0 : 1
}
