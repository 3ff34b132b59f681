/**
 * `keybroker aleph …`: drive an aleph.im compute node (CRN) with keybroker as the guest owner of
 * a confidential VM (README, "AMD SEV guest owner").
 *
 *   aleph launch --crn URL --vm REF --secret NAME --key FILE --delegation FILE
 *                [--policy N] [--format aleph|sevctl] [--keybroker URL] [--ca FILE]
 *                [--measurement-attempts N] [--timeout-seconds N]
 *       runs the whole launch (src/clients/aleph/launch.ts); progress on stderr, the result as JSON
 *       on stdout; exit 0, or 1 with the reason.
 *   aleph delegation --key FILE --address ADDR --domain HOST [--chain ETH|SOL] [--hours N]
 *       prints the payload (hex) the wallet must sign to delegate to the ES256 key in FILE;
 *   aleph delegation --payload HEX --signature SIG
 *       prints the signed delegation: the X-SignedPubKey header value to keep in a file.
 *
 * keybroker's URL comes from --keybroker or KEYBROKER_URL, its CA (a PEM file, for a self-signed
 * development certificate) from --ca or KEYBROKER_CA. Usage errors exit 2.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { KeybrokerClient, KeybrokerClientError } from '@keybroker/client'
import { AlephCrnClient, AlephCrnError } from '../clients/aleph/crn-client.js'
import { launchAlephVm } from '../clients/aleph/launch.js'
import { delegationHeader, delegationPayloadHex, parseDelegation } from '../clients/aleph/operator-auth.js'
import { KeybrokerError } from '../errors.js'
import { integerFlag, parseFlags, readInputFile, requiredFlag, UsageError, type CliOutput } from './io.js'

export const ALEPH_USAGE = `aleph launch --crn URL --vm REF --secret NAME --key ES256.pem --delegation FILE [--policy N] [--format aleph|sevctl] [--keybroker URL] [--ca FILE]
  aleph delegation --key ES256.pem --address ADDR --domain HOST [--chain ETH|SOL] [--hours N]
  aleph delegation --payload HEX --signature SIG`

export async function alephCommand(sub: string | undefined, args: readonly string[], out: CliOutput, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  try {
    switch (sub) {
      case 'launch':
        return await launch(args, out, env)
      case 'delegation':
        return await delegation(args, out)
      default:
        throw new UsageError('unknown aleph command')
    }
  } catch (err) {
    if (err instanceof UsageError) {
      out.stderr(`keybroker: ${err.message}\nusage: keybroker ${ALEPH_USAGE}\n`)
      return 2
    }
    if (err instanceof KeybrokerError) {
      out.stderr(`keybroker: ${err.code}: ${err.detail}\n`)
      return 1
    }
    if (err instanceof KeybrokerClientError) {
      out.stderr(`keybroker: keybroker refused: ${err.code} (${err.status}): ${err.problem.detail ?? ''}\n`)
      return 1
    }
    if (err instanceof AlephCrnError) {
      out.stderr(`keybroker: CRN: ${err.message}\n`)
      return 1
    }
    throw err
  }
}

async function readKey(path: string): Promise<KeyObject> {
  const text = Buffer.from(await readInputFile(path, 64 * 1024)).toString('utf8')
  try {
    return text.trim().startsWith('{') ? createPrivateKey({ key: JSON.parse(text), format: 'jwk' }) : createPrivateKey(text)
  } catch (cause) {
    throw new KeybrokerError('bad-request', '--key: not a readable private key (PKCS#8/SEC1 PEM or a private JWK)', { cause })
  }
}

async function launch(args: readonly string[], out: CliOutput, env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const { values } = parseFlags(args, {
    crn: { type: 'string' },
    vm: { type: 'string' },
    secret: { type: 'string' },
    key: { type: 'string' },
    delegation: { type: 'string' },
    policy: { type: 'string' },
    format: { type: 'string' },
    keybroker: { type: 'string' },
    ca: { type: 'string' },
    'measurement-attempts': { type: 'string' },
    'measurement-interval-ms': { type: 'string' },
    'timeout-seconds': { type: 'string' },
  })
  const format = values.format
  if (format !== undefined && format !== 'aleph' && format !== 'sevctl') throw new UsageError('--format: aleph or sevctl')
  const keybrokerUrl = values.keybroker ?? env['KEYBROKER_URL']
  if (keybrokerUrl === undefined || keybrokerUrl === '') throw new UsageError('--keybroker URL (or KEYBROKER_URL) is required')
  const caPath = values.ca ?? env['KEYBROKER_CA']
  const ca = caPath === undefined || caPath === '' ? undefined : Buffer.from(await readInputFile(caPath, 256 * 1024)).toString('utf8')
  const key = await readKey(requiredFlag(values.key, '--key'))
  const delegation = parseDelegation(Buffer.from(await readInputFile(requiredFlag(values.delegation, '--delegation'), 64 * 1024)).toString('utf8'), key, new Date())
  const timeoutMs = integerFlag(values['timeout-seconds'], '--timeout-seconds', 600, 30) * 1000
  let crn: AlephCrnClient
  try {
    crn = new AlephCrnClient({ url: requiredFlag(values.crn, '--crn'), key, delegation, timeoutMs })
  } catch (err) {
    if (err instanceof TypeError || err instanceof AlephCrnError) throw new UsageError(`--crn: ${err.message}`)
    throw err
  }
  const result = await launchAlephVm({
    crn,
    keybroker: new KeybrokerClient({ baseUrl: keybrokerUrl, ...(ca === undefined ? {} : { ca }), timeoutMs }),
    vm: requiredFlag(values.vm, '--vm'),
    secret: requiredFlag(values.secret, '--secret'),
    policy: integerFlag(values.policy, '--policy', 0xffff_ffff, 1),
    format,
    measurementAttempts: integerFlag(values['measurement-attempts'], '--measurement-attempts', 1000, 30),
    measurementIntervalMs: integerFlag(values['measurement-interval-ms'], '--measurement-interval-ms', 60_000, 2000),
    log: (line) => out.stderr(`keybroker: ${line}\n`),
  })
  out.stdout(`${JSON.stringify(result)}\n`)
  return 0
}

async function delegation(args: readonly string[], out: CliOutput): Promise<number> {
  const { values } = parseFlags(args, {
    key: { type: 'string' },
    address: { type: 'string' },
    domain: { type: 'string' },
    chain: { type: 'string', default: 'ETH' },
    hours: { type: 'string' },
    payload: { type: 'string' },
    signature: { type: 'string' },
  })
  if (values.payload !== undefined || values.signature !== undefined) {
    out.stdout(`${delegationHeader(requiredFlag(values.payload, '--payload'), requiredFlag(values.signature, '--signature'))}\n`)
    return 0
  }
  const chain = values.chain
  if (chain !== 'ETH' && chain !== 'SOL') throw new UsageError('--chain: ETH or SOL')
  const hours = integerFlag(values.hours, '--hours', 24 * 365, 24)
  const payload = delegationPayloadHex({
    key: await readKey(requiredFlag(values.key, '--key')),
    address: requiredFlag(values.address, '--address'),
    domain: requiredFlag(values.domain, '--domain'),
    chain,
    expires: new Date(Date.now() + hours * 3600_000),
  })
  out.stdout(`${payload}\n`)
  out.stderr(
    chain === 'ETH'
      ? 'keybroker: sign the hex-decoded payload with your wallet (EIP-191 personal_sign, e.g. MetaMask personal_sign of 0x<payload>), then run\n  keybroker aleph delegation --payload <payload> --signature <0x…> > delegation.json\n'
      : 'keybroker: sign the payload hex text (UTF-8) with your Solana wallet (Ed25519), then run\n  keybroker aleph delegation --payload <payload> --signature <hex> > delegation.json\n',
  )
  return 0
}
