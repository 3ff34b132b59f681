/**
 * `keybroker cosmian verify|provision`: the Cosmian VM owner's commands. The service does the
 * work (it connects to the agent, pins its certificate, sends a fresh nonce, verifies,
 * appraises, pushes); these commands call its admin API with the connection settings of
 * `keybroker admin` (src/cli/admin/session.ts: KEYBROKER_URL, KEYBROKER_TOKEN or
 * KEYBROKER_TOKEN_FILE, KEYBROKER_CACERT, KEYBROKER_PIN_SHA256, or the flags below):
 *
 *   cosmian verify --agent https://HOST:5555 --snapshot NAME [--snapshot NAME]…
 *   cosmian provision --agent https://HOST:5555 --snapshot NAME --secret NAME
 *
 * The answer is printed as JSON on stdout. `verify` exits 0 when the verification passed and 1
 * when it did not; `provision` 0 when the secret went to the agent. A refusal or an unreachable
 * service is exit 1 with the problem as JSON on stdout and its summary on stderr; usage errors 2.
 */
import { AdminApiError, AdminConnectionError, adminRequest } from './admin/http.js'
import { formatJson } from './admin/output.js'
import { connectionFor } from './admin/session.js'
import { parseFlags, requiredFlag, UsageError, type CliContext } from './io.js'

export const COSMIAN_USAGE = `cosmian verify --agent https://HOST:5555 --snapshot NAME [--snapshot NAME]… [--url URL] [--cacert FILE] [--pin-sha256 HEX] [--token-file FILE]
  cosmian provision --agent https://HOST:5555 --snapshot NAME --secret NAME [connection flags as above]`

export async function cosmianCommand(sub: string, args: readonly string[], ctx: CliContext): Promise<number> {
  try {
    return await run(sub, args, ctx)
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.out.stderr(`keybroker: ${err.message}\nusage: keybroker ${COSMIAN_USAGE}\n`)
      return 2
    }
    if (err instanceof AdminApiError) {
      ctx.out.stdout(formatJson({ status: err.status, ...err.problem }))
      ctx.out.stderr(`keybroker: ${err.message}\n`)
      return 1
    }
    if (err instanceof AdminConnectionError) {
      ctx.out.stderr(`keybroker: ${err.message}\n`)
      return 1
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
    url: { type: 'string' },
    cacert: { type: 'string' },
    'pin-sha256': { type: 'string' },
    'token-file': { type: 'string' },
  })
  const agentUrl = requiredFlag(values.agent, '--agent')
  const referenceValues = values.snapshot ?? []
  if (referenceValues.length === 0) throw new UsageError('--snapshot NAME is required (the reference-value set an imported snapshot became)')
  const body = sub === 'verify' ? { agentUrl, referenceValues } : { agentUrl, referenceValues, secret: requiredFlag(values.secret, '--secret') }
  const connection = await connectionFor(
    {
      ...(values.url === undefined ? {} : { url: values.url }),
      ...(values.cacert === undefined ? {} : { cacert: values.cacert }),
      ...(values['pin-sha256'] === undefined ? {} : { pinSha256: values['pin-sha256'] }),
      ...(values['token-file'] === undefined ? {} : { tokenFile: values['token-file'] }),
      // The service talks to the agent within its own bounds; leave it the time to.
      timeout: '120',
    },
    ctx.env,
  )
  const res = await adminRequest(connection, 'POST', sub === 'verify' ? '/admin/v1/cosmian/verifications' : '/admin/v1/cosmian/provisions', body)
  ctx.out.stdout(formatJson(res.body))
  const passed = typeof res.body === 'object' && res.body !== null && 'passed' in res.body && res.body.passed === true
  return passed ? 0 : 1
}
