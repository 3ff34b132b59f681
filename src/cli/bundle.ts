/**
 * `keybroker bundle sign|verify|fingerprint`: the publisher's offline tools for signed
 * golden-measurement bundles (no configuration, no database, no network).
 *
 *   bundle sign --key PRIVATE.pem [--out FILE] BUNDLE.json      compact JWS on stdout (or FILE)
 *   bundle verify --pub SIGNER.pem [--at TIME] FILE             keybroker JWS bundle
 *   bundle verify --format automata --pub SIGNER.pem FILE       Automata json_sig_tool document
 *   bundle verify --format corim --pub KEY.pem [--at TIME] FILE  COSE_Sign1 CoRIM (signature, key, validity); unsigned: no --pub
 *   bundle verify --format gosevguest|gotdxguest [--ignore PATH]… [--evidence-type T] FILE
 *   bundle verify --format cosmian-snapshot FILE                 Cosmian VM snapshot JSON
 *                                                               go-sev-guest / go-tdx-guest policy (unsigned): the set it maps to
 *   bundle fingerprint KEY.pem                                  the signer fingerprint (hex SHA-256 of the SPKI)
 *
 * `verify` prints what it verified as JSON and exits 0, or the problem (code, type, detail) as
 * JSON and exits 1; usage errors exit 2. It checks the signature and validity; rollback needs
 * the service's record of earlier imports and is checked at import.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { parseExpectedClaims } from '../appraisal/index.js'
import { checkCorimValidity, mapCorim, parseCorim, verifyCorimSignature, mapGoSevGuestPolicy, mapGoTdxGuestPolicy, mapCosmianSnapshot, parseAutomataDocument, parseSignerKey, signBundle, verifyAutomataDocument, verifyBundle } from '../bundles/index.js'
import { KeybrokerError } from '../errors.js'
import { problemFor } from '../server/problem.js'
import { readInputFile, UsageError, type CliOutput } from './io.js'

export const BUNDLE_USAGE = `bundle sign --key PRIVATE.pem [--out FILE] BUNDLE.json
  bundle verify [--format keybroker|automata] --pub SIGNER.pem [--at TIME] FILE
  bundle verify --format corim --pub KEY.pem [--at TIME] FILE      (an unsigned CoRIM without --pub)
  bundle verify --format gosevguest|gotdxguest [--ignore PATH]… [--evidence-type TYPE] FILE
  bundle verify --format cosmian-snapshot FILE                    Cosmian VM snapshot (unsigned): what it maps to
  bundle fingerprint KEY.pem`

const MAX_FILE_BYTES = 1024 * 1024

async function readText(path: string): Promise<string> {
  return Buffer.from(await readInputFile(path, MAX_FILE_BYTES)).toString('utf8')
}

function one(positionals: readonly string[], what: string): string {
  const [path, ...more] = positionals
  if (path === undefined || more.length > 0) throw new UsageError(`give exactly one ${what}`)
  return path
}

export async function bundleCommand(sub: string | undefined, args: readonly string[], out: CliOutput): Promise<number> {
  try {
    switch (sub) {
      case 'sign':
        return await sign(args, out)
      case 'verify':
        return await verify(args, out)
      case 'fingerprint':
        return await fingerprint(args, out)
      default:
        throw new UsageError('unknown bundle command')
    }
  } catch (err) {
    if (err instanceof UsageError) {
      out.stderr(`keybroker: ${err.message}\nusage: keybroker ${BUNDLE_USAGE}\n`)
      return 2
    }
    if (err instanceof KeybrokerError) {
      out.stdout(`${JSON.stringify({ code: err.code, ...problemFor(err.code, err.detail, undefined) }, null, 2)}\n`)
      out.stderr(`keybroker: ${err.code}: ${err.detail}\n`)
      return 1
    }
    throw err
  }
}

async function sign(args: readonly string[], out: CliOutput): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], options: { key: { type: 'string' }, out: { type: 'string' } }, allowPositionals: true, strict: true })
  if (values.key === undefined) throw new UsageError('--key PRIVATE.pem is required')
  const payloadText = await readText(one(positionals, 'BUNDLE.json'))
  let payload: unknown
  try {
    payload = JSON.parse(payloadText)
  } catch (cause) {
    throw new KeybrokerError('bundle-malformed', 'the bundle file is not JSON', { cause })
  }
  let key: KeyObject
  try {
    key = createPrivateKey(await readText(values.key))
  } catch (cause) {
    if (cause instanceof UsageError) throw cause
    throw new KeybrokerError('bad-request', '--key: not a readable private key (PKCS#8 or SEC1/PKCS#1 PEM)', { cause })
  }
  const jws = await signBundle(payload, key)
  if (values.out !== undefined) {
    await writeFile(values.out, `${jws}\n`, { mode: 0o644 })
    out.stderr(`signed with ${parseSignerKey(createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString(), 'keybroker').fingerprint}; wrote ${values.out}\n`)
  } else out.stdout(`${jws}\n`)
  return 0
}

async function verify(args: readonly string[], out: CliOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      pub: { type: 'string' },
      at: { type: 'string' },
      format: { type: 'string', default: 'keybroker' },
      ignore: { type: 'string', multiple: true },
      'evidence-type': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  const format = values.format
  if (format === 'cosmian-snapshot') {
    // A snapshot lists every file of the guest: far larger than a signed bundle.
    const text = Buffer.from(await readInputFile(one(positionals, 'FILE'), 64 * 1024 * 1024)).toString('utf8')
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (cause) {
      throw new KeybrokerError('bundle-malformed', 'cosmianSnapshot: FILE is not JSON', { cause })
    }
    const mapping = mapCosmianSnapshot(json, 'snapshot')
    // The same catalogue check as an import.
    parseExpectedClaims([...mapping.set.expect], mapping.set.evidenceType)
    const expect = mapping.set.expect.map((e) => (typeof e === 'object' && e !== null && !Array.isArray(e) && 'files' in e ? { ...e, files: `${mapping.files} entries` } : e))
    out.stdout(
      `${JSON.stringify({ verified: true, format, signed: false, digest: mapping.digest, evidenceType: 'cosmian', cloudType: mapping.cloudType, values: mapping.set.values.map((v) => v.measurement), expect, fields: mapping.fields }, null, 2)}\n`,
    )
    return 0
  }
  if (format === 'gosevguest' || format === 'gotdxguest') {
    const text = await readText(one(positionals, 'FILE'))
    const input = { text, name: 'policy', evidenceType: values['evidence-type'], ignore: values.ignore }
    const mapping = format === 'gosevguest' ? mapGoSevGuestPolicy(input) : mapGoTdxGuestPolicy(input)
    // The same catalogue check as an import: a claim the evidence type lacks is claim-unknown.
    const type = mapping.set.evidenceType
    parseExpectedClaims([...mapping.set.expect], type)
    out.stdout(
      `${JSON.stringify({ verified: true, format, signed: false, digest: mapping.digest, evidenceType: type ?? null, values: mapping.set.values.map((v) => v.measurement), expect: mapping.set.expect, fields: mapping.fields, ignored: mapping.ignored }, null, 2)}\n`,
    )
    return 0
  }
  const now = values.at === undefined ? new Date() : new Date(Date.parse(values.at))
  if (!Number.isFinite(now.getTime())) throw new UsageError('--at takes an RFC 3339 time')
  if (format === 'corim') return verifyCorim(one(positionals, 'FILE'), values.pub, now, values['evidence-type'], out)
  if (values.pub === undefined) throw new UsageError('--pub SIGNER.pem is required')
  if (format !== 'keybroker' && format !== 'automata') throw new UsageError('--format is keybroker, automata, corim, gosevguest, gotdxguest or cosmian-snapshot')
  const signer = parseSignerKey(await readText(values.pub), format)
  const text = await readText(one(positionals, 'FILE'))
  if (format === 'automata') {
    const doc = parseAutomataDocument(text)
    verifyAutomataDocument(doc, [signer])
    out.stdout(`${JSON.stringify({ verified: true, format, signer: signer.fingerprint, digest: doc.digest, signedBytes: doc.signedBytes.byteLength }, null, 2)}\n`)
    return 0
  }
  const v = await verifyBundle(text.trim(), (fp) => (fp === signer.fingerprint ? signer : undefined), now)
  out.stdout(
    `${JSON.stringify(
      {
        verified: true,
        format,
        signer: signer.fingerprint,
        algorithm: signer.jwsAlg,
        digest: v.digest,
        name: v.payload.name,
        version: v.payload.version,
        issuedAt: v.payload.issuedAt,
        expiresAt: v.payload.expiresAt,
        referenceValues: v.sets.map((s) => ({ name: s.name, evidenceType: s.evidenceType ?? null, values: s.values.length, expect: s.expect.length })),
      },
      null,
      2,
    )}\n`,
  )
  return 0
}

/**
 * `bundle verify --format corim [--pub KEY.pem] [--at TIME] FILE`: a signed CoRIM must verify
 * with KEY.pem (given) and be inside its validity windows at TIME; an unsigned one is only parsed.
 * Prints what it found and the reference-value set keybroker would import (or why it would not).
 */
async function verifyCorim(path: string, pub: string | undefined, now: Date, evidenceType: string | undefined, out: CliOutput): Promise<number> {
  const corim = parseCorim(await readInputFile(path, MAX_FILE_BYTES))
  let signer: string | null = null
  if (corim.signed) {
    if (pub === undefined) throw new UsageError('the CoRIM is signed: --pub SIGNER.pem is required')
    signer = verifyCorimSignature(corim, [parseSignerKey(await readText(pub), 'corim')]).fingerprint
    checkCorimValidity(corim, now)
  } else {
    if (pub !== undefined) throw new KeybrokerError('bundle-signature-invalid', 'the CoRIM is not signed')
    checkCorimValidity(corim, now)
  }
  let mapping: unknown
  try {
    const { set, fields } = mapCorim(corim, 'corim', evidenceType)
    parseExpectedClaims([...set.expect], set.evidenceType)
    mapping = { evidenceType: set.evidenceType ?? null, values: set.values.map((v) => v.measurement), expect: set.expect, fields }
  } catch (err) {
    if (!(err instanceof KeybrokerError)) throw err
    mapping = { importable: false, code: err.code, detail: err.detail }
  }
  const window = (v: { notBefore?: Date; notAfter: Date } | undefined) => (v === undefined ? null : { notBefore: v.notBefore?.toISOString() ?? null, notAfter: v.notAfter.toISOString() })
  out.stdout(
    `${JSON.stringify(
      {
        verified: true,
        format: 'corim',
        signed: corim.signed,
        signer,
        ...(corim.cose === undefined ? {} : { signerName: corim.cose.signer ?? null, signatureValidity: window(corim.cose.validity) }),
        rimValidity: window(corim.validity),
        digest: corim.digest,
        id: corim.id,
        comids: corim.comids.map((c) => ({ tagId: c.tagId, referenceTriples: c.referenceTriples.length })),
        mapping,
      },
      null,
      2,
    )}\n`,
  )
  return 0
}

async function fingerprint(args: readonly string[], out: CliOutput): Promise<number> {
  const { positionals } = parseArgs({ args: [...args], options: {}, allowPositionals: true, strict: true })
  const text = await readText(one(positionals, 'KEY.pem'))
  let pem = text
  if (text.includes('PRIVATE KEY')) {
    try {
      pem = createPublicKey(createPrivateKey(text)).export({ type: 'spki', format: 'pem' }).toString()
    } catch (cause) {
      throw new KeybrokerError('bad-request', 'not a readable private key', { cause })
    }
  }
  out.stdout(`${parseSignerKey(pem, 'keybroker').fingerprint}\n`)
  return 0
}
