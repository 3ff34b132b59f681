/**
 * `keybroker evidence verify --type TYPE FILE [--at ISO-TIME] [--collateral DIR] [--certs FILE…] [--nonce HEX]`:
 * offline inspection for admins. Verifies evidence with the verifiers the service builds from
 * the same configuration (trust anchors, SNP settings) and prints the claims as JSON (binary
 * values as hex), exit 0; or the problem (code, detail) as JSON, exit 1; usage errors exit 2.
 * Everything is checked except the nonce binding, unless `--nonce` gives the nonce the report
 * data must hold (exactly, or zero-padded to its length). Collateral comes from the evidence and
 * the cache directory (`--collateral`, default KEYBROKER_COLLATERAL_DIR); the admin store and the
 * network are not consulted. For `gotpm`, `--certs` files (PEM or DER) are AK CAs trusted for
 * this run, as if registered (`POST /admin/v1/tpm/cas {"purpose": "ak"}`).
 */
import { X509Certificate } from 'node:crypto'
import { parseArgs } from 'node:util'
import type { Config } from '../config/config.js'
import { KeybrokerError } from '../errors.js'
import { equalBytes, toHex } from '../evidence/reader.js'
import type { Claims, CollateralLookup } from '../evidence/index.js'
import { TPM_COLLATERAL_KINDS } from '../evidence/tpm/index.js'
import { createLogger } from '../log/logger.js'
import { problemFor } from '../server/problem.js'
import { describeZodError } from '../server/validation.js'
import { createCollateralService } from '../services/collateral.js'
import { SNP_KDS_LAYOUT } from '../services/snp-kds.js'
import { TDX_PCS_LAYOUT } from '../services/tdx-pcs.js'
import { TPM_DIRECTORY_LAYOUT } from '../services/tpm-trust.js'
import { createVerifiers } from '../services/verifiers.js'
import { readInputFile, UsageError, type CliOutput } from './io.js'

export const EVIDENCE_VERIFY_USAGE = 'evidence verify --type TYPE FILE [--at ISO-TIME] [--collateral DIR] [--certs FILE]… [--nonce HEX]'

/** Evidence files are a few KiB (SNP report 1184 bytes, a TDX quote ~8 KiB, event logs more). */
const MAX_FILE_BYTES = 16 * 1024 * 1024
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/

const readInput = (path: string): Promise<Uint8Array> => readInputFile(path, MAX_FILE_BYTES)

/** A JSON evidence object (or an attest request body holding one), or `undefined` for binary input. */
function jsonEvidence(bytes: Uint8Array): Record<string, unknown> | undefined {
  const text = Buffer.from(bytes).toString('utf8').trim()
  if (!text.startsWith('{')) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (cause) {
    throw new KeybrokerError('evidence-malformed', 'FILE starts with "{" but is not JSON', { cause })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
  const inner = 'type' in parsed ? parsed : 'evidence' in parsed ? parsed.evidence : parsed
  return typeof inner === 'object' && inner !== null && !Array.isArray(inner) ? Object.fromEntries(Object.entries(inner)) : undefined
}

/** Claims as JSON: `Uint8Array` as lowercase hex. */
function claimsJson(claims: Claims): string {
  return JSON.stringify(claims, (_key, value: unknown) => (value instanceof Uint8Array ? toHex(value) : value), 2)
}

export async function evidenceVerify(config: Config, args: readonly string[], out: CliOutput): Promise<number> {
  try {
    return await run(config, args, out)
  } catch (err) {
    if (err instanceof UsageError) {
      out.stderr(`keybroker: ${err.message}\nusage: keybroker ${EVIDENCE_VERIFY_USAGE}\n`)
      return 2
    }
    if (err instanceof KeybrokerError) {
      const detail = err.code === 'internal' ? 'internal error' : err.detail
      out.stdout(`${JSON.stringify({ code: err.code, ...problemFor(err.code, detail, undefined) }, null, 2)}\n`)
      out.stderr(`keybroker: ${err.code}: ${detail}\n`)
      return 1
    }
    throw err
  }
}

async function run(config: Config, args: readonly string[], out: CliOutput): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        type: { type: 'string' },
        at: { type: 'string' },
        collateral: { type: 'string' },
        certs: { type: 'string', multiple: true },
        nonce: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  const { values, positionals } = parsed
  if (values.type === undefined) throw new UsageError('--type is required')
  if (positionals.length !== 1 || positionals[0] === undefined) throw new UsageError('exactly one FILE is required')
  let now = new Date()
  if (values.at !== undefined) {
    now = new Date(values.at)
    if (!ISO_TIME.test(values.at) || Number.isNaN(now.getTime())) throw new UsageError(`--at: not an ISO 8601 time: ${values.at}`)
  }

  let nonce: Uint8Array | undefined
  if (values.nonce !== undefined) {
    if (!/^(?:[0-9a-fA-F]{2}){1,64}$/.test(values.nonce)) throw new UsageError('--nonce: 1 to 64 bytes in hex')
    nonce = new Uint8Array(Buffer.from(values.nonce, 'hex'))
  }
  const listed = createVerifiers(config).verifierFor(values.type)
  // The composite types load on first use; `fromFile` is on the loaded verifier.
  const verifier = (await listed.load?.()) ?? listed
  const bytes = await readInput(positionals[0])
  const certFiles = await Promise.all((values.certs ?? []).map(readInput))
  let evidence = jsonEvidence(bytes)
  // JSON without a `type` is a type's own container format (e.g. trustee's Azure evidence): its fromFile reads it.
  if (evidence !== undefined && evidence['type'] === undefined && verifier.fromFile !== undefined) evidence = verifier.fromFile(bytes, { certs: certFiles })
  else if (evidence !== undefined) {
    if (certFiles.length > 0 && values.type !== 'gotpm') throw new UsageError('--certs goes with a binary FILE; put certificates in the JSON evidence')
    if (evidence['type'] !== values.type) {
      throw new KeybrokerError('evidence-malformed', `the evidence is of type ${String(evidence['type'])}, not ${values.type}`)
    }
  } else {
    if (verifier.fromFile === undefined) {
      throw new KeybrokerError('evidence-unsupported', `type ${values.type} takes a JSON evidence FILE`)
    }
    evidence = verifier.fromFile(bytes, { certs: certFiles })
  }
  const checked = verifier.schema.safeParse(evidence)
  if (!checked.success) throw new KeybrokerError('evidence-malformed', describeZodError(checked.error, 'evidence'))

  const log = createLogger(config.logLevel === 'debug' ? 'debug' : 'warn', out.stderr)
  const collateral = createCollateralService({ directory: values.collateral ?? config.collateralDir, layouts: [SNP_KDS_LAYOUT, TDX_PCS_LAYOUT, TPM_DIRECTORY_LAYOUT], log })
  const lookup = values.type === 'gotpm' && certFiles.length > 0 ? withAkCas(collateral.lookup(), certFiles) : collateral.lookup()
  const claims = await verifier.verify(checked.data, { now, collateral: lookup })
  if (nonce !== undefined) checkNonce(claims.reportData, nonce)
  out.stdout(`${claimsJson(claims)}\n`)
  return 0
}

/** `--nonce`: the report data is the nonce, or the nonce zero-padded to the report data's length. */
function checkNonce(reportData: Uint8Array, nonce: Uint8Array): void {
  const padded = new Uint8Array(Math.max(reportData.byteLength, nonce.byteLength))
  padded.set(nonce)
  if (padded.byteLength !== reportData.byteLength || !equalBytes(padded, reportData)) {
    throw new KeybrokerError('binding-mismatch', 'the report data does not hold the --nonce value')
  }
}

/** The lookup with `files` (PEM or DER certificates) added to the registered AK CAs. */
function withAkCas(lookup: CollateralLookup, files: readonly Uint8Array[]): CollateralLookup {
  const pems = files.map((f, i) => {
    const text = Buffer.from(f).toString('latin1')
    if (text.includes('-----BEGIN CERTIFICATE-----')) return text
    try {
      return new X509Certificate(Buffer.from(f)).toString()
    } catch (cause) {
      throw new KeybrokerError('evidence-malformed', `--certs[${i}]: not a PEM or DER certificate`, { cause })
    }
  })
  return {
    get: async (kind, key) => {
      const base = await lookup.get(kind, key)
      if (kind !== TPM_COLLATERAL_KINDS.ca || key !== 'ak') return base
      return new Uint8Array(Buffer.from([base === undefined ? '' : Buffer.from(base).toString('latin1'), ...pems].join('\n')))
    },
  }
}
