/**
 * `keybroker sev …`: the SEV (pre-SNP) guest owner's offline tools, usable like sevctl (no
 * configuration, no database, no network). The flags of `verify-chain`, `measure` and
 * `package-secret` are a stable interface.
 *
 *   sev verify-chain FILE [--products naples,rome,…]
 *       FILE: the platform chain as `sevctl export` (or aleph-vm /about/certificates) gives it.
 *       Exit 0 and a JSON summary when it verifies to a pinned AMD root; 1 and the reason on stderr.
 *   sev measure --tik HEX --api MAJOR.MINOR --build N --policy N (--firmware-digest HEX | --firmware FILE …)
 *               (--mnonce B64 | --launch-measure B64)
 *       MEASURE (32 bytes, standard base64) on stdout; with --launch-measure, checks the 48-byte
 *       blob instead: exit 0 match, 1 mismatch.
 *   sev launch-digest --firmware FILE [--kernel FILE --initrd FILE --cmdline TEXT]
 *                     [--vmsa-cpu0 FILE --vmsa-cpu1 FILE --num-cpus N]
 *       GCTX.LD in hex: the value to register in a reference-value set of type `sev`.
 *   sev package-secret --tik HEX --tek HEX --launch-measure B64 [--iv HEX] (--secret TEXT | --secret-file FILE)
 *                      [--format aleph|sevctl]
 *       {"packet_header": "<b64>", "secret": "<b64>"}: the body of aleph-vm's inject_secret.
 *
 * Usage errors exit 2.
 */
import { randomBytes } from 'node:crypto'
import { KeybrokerError } from '../errors.js'
import { fromBase64 } from '../evidence/reader.js'
import {
  DISK_PASSPHRASE_GUID,
  MAX_PLATFORM_CHAIN_BYTES,
  SEV_PRODUCTS,
  buildSecretTable,
  builtinSevRoots,
  computeMeasure,
  launchDigest,
  matchLaunchMeasure,
  packageLaunchSecret,
  parseLaunchMeasure,
  parsePlatformChain,
  verifyPlatformChain,
  type LaunchDigestInput,
  type SevProduct,
} from '../sev/index.js'
import { integerFlag, parseFlags, readInputFile, requiredFlag, UsageError, type CliOutput } from './io.js'

export const SEV_USAGE = `sev verify-chain FILE [--products naples,rome,milan,genoa,turin]
  sev measure --tik HEX --api MAJOR.MINOR --build N --policy N (--firmware-digest HEX | --firmware FILE […]) (--mnonce B64 | --launch-measure B64)
  sev launch-digest --firmware FILE [--kernel FILE --initrd FILE --cmdline TEXT] [--vmsa-cpu0 FILE --vmsa-cpu1 FILE --num-cpus N]
  sev package-secret --tik HEX --tek HEX --launch-measure B64 [--iv HEX] (--secret TEXT | --secret-file FILE) [--format aleph|sevctl]`

/** Firmware images are a few MiB (aleph's OVMF.fd with GRUB: 4 MiB); kernels and initrds more. */
const MAX_IMAGE_BYTES = 512 * 1024 * 1024

export async function sevCommand(sub: string | undefined, args: readonly string[], out: CliOutput): Promise<number> {
  try {
    switch (sub) {
      case 'verify-chain':
        return await verifyChain(args, out)
      case 'measure':
        return await measure(args, out)
      case 'launch-digest':
        return await digest(args, out)
      case 'package-secret':
        return await packageSecret(args, out)
      default:
        throw new UsageError('unknown sev command')
    }
  } catch (err) {
    if (err instanceof UsageError) {
      out.stderr(`keybroker: ${err.message}\nusage: keybroker ${SEV_USAGE}\n`)
      return 2
    }
    if (err instanceof KeybrokerError) {
      out.stderr(`keybroker: ${err.code}: ${err.detail}\n`)
      return 1
    }
    throw err
  }
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/

function hexArg(value: string | undefined, flag: string, bytes: number): Uint8Array {
  const text = requiredFlag(value, flag).replace(/^0x/i, '')
  if (!HEX.test(text) || text.length !== 2 * bytes) throw new UsageError(`${flag}: ${bytes} bytes in hex expected`)
  return new Uint8Array(Buffer.from(text, 'hex'))
}

function base64Arg(value: string | undefined, flag: string, bytes: number): Uint8Array {
  let decoded: Uint8Array
  try {
    decoded = fromBase64(requiredFlag(value, flag), flag)
  } catch (err) {
    if (err instanceof KeybrokerError) throw new UsageError(`${flag}: not base64`)
    throw err
  }
  if (decoded.byteLength !== bytes) throw new UsageError(`${flag}: ${bytes} bytes expected, got ${decoded.byteLength}`)
  return decoded
}

async function verifyChain(args: readonly string[], out: CliOutput): Promise<number> {
  const { values, positionals } = parseFlags(args, { products: { type: 'string' } }, true)
  const [path, ...more] = positionals
  if (path === undefined || more.length > 0) throw new UsageError('give exactly one FILE')
  const names = (values.products ?? SEV_PRODUCTS.join(',')).split(',').map((s) => s.trim().toLowerCase())
  const products = names.map((n) => SEV_PRODUCTS.find((p) => p.toLowerCase() === n))
  if (products.some((p) => p === undefined)) throw new UsageError(`--products: a comma-separated list of ${SEV_PRODUCTS.join(', ').toLowerCase()}`)
  let bytes = await readInputFile(path, 2 * MAX_PLATFORM_CHAIN_BYTES)
  // A chain saved as base64 text (e.g. from a JSON request) is accepted too; the binary form has NUL bytes.
  const text = Buffer.from(bytes).toString('latin1').trim()
  if (/^[A-Za-z0-9+/=_-]+$/.test(text)) bytes = fromBase64(text, 'FILE')
  const chain = verifyPlatformChain(parsePlatformChain(bytes), builtinSevRoots(products as SevProduct[]))
  out.stdout(`${JSON.stringify({ verified: true, product: chain.product, chipId: chain.chipId, pdhSha256: chain.pdhSha256 })}\n`)
  return 0
}

const DIGEST_OPTIONS = {
  firmware: { type: 'string' },
  kernel: { type: 'string' },
  initrd: { type: 'string' },
  cmdline: { type: 'string' },
  'vmsa-cpu0': { type: 'string' },
  'vmsa-cpu1': { type: 'string' },
  'num-cpus': { type: 'string' },
} as const

type DigestValues = { [K in keyof typeof DIGEST_OPTIONS]?: string | undefined }

/** GCTX.LD from the files, as sevctl `measurement build --firmware … [--kernel …] [--vmsa-cpu0 …]`. */
async function launchDigestOf(v: DigestValues): Promise<Uint8Array> {
  const read = (p: string) => readInputFile(p, MAX_IMAGE_BYTES)
  const input: { -readonly [K in keyof LaunchDigestInput]: LaunchDigestInput[K] } = { firmware: await read(requiredFlag(v.firmware, '--firmware')) }
  const kernel = [v.kernel, v.initrd, v.cmdline]
  if (kernel.some((x) => x !== undefined)) {
    if (kernel.some((x) => x === undefined)) throw new UsageError('--kernel, --initrd and --cmdline go together')
    input.kernel = { kernel: await read(v.kernel!), initrd: await read(v.initrd!), cmdline: v.cmdline! }
  }
  const vmsa = [v['vmsa-cpu0'], v['vmsa-cpu1'], v['num-cpus']]
  if (vmsa.some((x) => x !== undefined)) {
    if (vmsa.some((x) => x === undefined)) throw new UsageError('--vmsa-cpu0, --vmsa-cpu1 and --num-cpus go together (SEV-ES)')
    input.vmsa = { cpu0: await read(v['vmsa-cpu0']!), cpu1: await read(v['vmsa-cpu1']!), cpus: integerFlag(v['num-cpus'], '--num-cpus', 4096) }
  }
  return launchDigest(input)
}

async function digest(args: readonly string[], out: CliOutput): Promise<number> {
  const { values } = parseFlags(args, DIGEST_OPTIONS)
  out.stdout(`${Buffer.from(await launchDigestOf(values)).toString('hex')}\n`)
  return 0
}

async function measure(args: readonly string[], out: CliOutput): Promise<number> {
  const { values } = parseFlags(args, {
    tik: { type: 'string' },
    api: { type: 'string' },
    build: { type: 'string' },
    policy: { type: 'string' },
    'firmware-digest': { type: 'string' },
    mnonce: { type: 'string' },
    'launch-measure': { type: 'string' },
    ...DIGEST_OPTIONS,
  })
  const tik = hexArg(values.tik, '--tik', 16)
  const api = /^(\d{1,3})\.(\d{1,3})$/.exec(requiredFlag(values.api, '--api'))
  if (api === null || Number(api[1]) > 255 || Number(api[2]) > 255) throw new UsageError('--api: MAJOR.MINOR, e.g. 1.55')
  const info = { apiMajor: Number(api[1]), apiMinor: Number(api[2]), build: integerFlag(values.build, '--build', 255), policy: integerFlag(values.policy, '--policy', 0xffff_ffff) }
  if ((values['firmware-digest'] === undefined) === (values.firmware === undefined)) throw new UsageError('give --firmware-digest HEX or --firmware FILE')
  const ld = values['firmware-digest'] !== undefined ? hexArg(values['firmware-digest'], '--firmware-digest', 32) : await launchDigestOf(values)
  if ((values.mnonce === undefined) === (values['launch-measure'] === undefined)) throw new UsageError('give --mnonce B64 or --launch-measure B64')
  if (values['launch-measure'] !== undefined) {
    const blob = parseLaunchMeasure(base64Arg(values['launch-measure'], '--launch-measure', 48))
    if (matchLaunchMeasure(tik, info, blob, [ld]) === 0) {
      out.stderr('keybroker: the launch measurement matches\n')
      return 0
    }
    out.stderr('keybroker: the launch measurement does not match (another firmware, TIK, platform version, build or policy)\n')
    return 1
  }
  out.stdout(`${Buffer.from(computeMeasure(tik, info, ld, base64Arg(values.mnonce, '--mnonce', 16))).toString('base64')}\n`)
  return 0
}

async function packageSecret(args: readonly string[], out: CliOutput): Promise<number> {
  const { values } = parseFlags(args, {
    tik: { type: 'string' },
    tek: { type: 'string' },
    'launch-measure': { type: 'string' },
    iv: { type: 'string' },
    secret: { type: 'string' },
    'secret-file': { type: 'string' },
    format: { type: 'string', default: 'aleph' },
  })
  const format = values.format
  if (format !== 'aleph' && format !== 'sevctl') throw new UsageError('--format: aleph or sevctl')
  if ((values.secret === undefined) === (values['secret-file'] === undefined)) throw new UsageError('give --secret TEXT or --secret-file FILE')
  const secret = values.secret !== undefined ? new Uint8Array(Buffer.from(values.secret, 'utf8')) : await readInputFile(values['secret-file']!, 16 * 1024)
  if (format === 'aleph' && secret.includes(0)) throw new UsageError('the secret holds a NUL byte, which ends it in the aleph format; use --format sevctl')
  const table = buildSecretTable([{ guid: DISK_PASSPHRASE_GUID, data: secret }], format)
  const packet = packageLaunchSecret({
    tek: hexArg(values.tek, '--tek', 16),
    tik: hexArg(values.tik, '--tik', 16),
    iv: values.iv === undefined ? new Uint8Array(randomBytes(16)) : hexArg(values.iv, '--iv', 16),
    table,
    measure: parseLaunchMeasure(base64Arg(values['launch-measure'], '--launch-measure', 48)).measure,
  })
  table.fill(0)
  out.stdout(`${JSON.stringify({ packet_header: Buffer.from(packet.header).toString('base64'), secret: Buffer.from(packet.ciphertext).toString('base64') })}\n`)
  return 0
}
