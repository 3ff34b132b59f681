/**
 * CoRIM (draft-ietf-rats-corim: Concise Reference Integrity Manifest, CBOR), unsigned
 * (`#6.501(unsigned-corim-map)`) or signed (`#6.18(COSE_Sign1)`, optionally inside `#6.502`), as
 * veraison/corim writes it and Cocos generates its policies with it (ultravioletrs/cocos
 * `pkg/attestation/corimgen/generator.go`).
 *
 * CBOR is decoded with cbor2 (duplicate map keys refused, nesting bounded, no tag interpreted
 * behind our back); the structure is then read field by field here. The COSE_Sign1 signature is
 * verified with node:crypto over `Sig_structure = ["Signature1", protected, h'', payload]`
 * (RFC 9052 §4.4) against the registered signers of format `corim`.
 *
 * Reference-value triples keybroker maps to typed sets (everything else is `bundle-malformed`
 * naming it, never dropped):
 *
 * - **Cocos** CoMIDs (tag id `snp-tag-…` / `tdx-tag-…`, as corimgen names them): one triple
 *   whose measurements are single digests in corimgen's order — SEV-SNP: the launch
 *   MEASUREMENT (the set's value), an `svn` (GUEST_SVN); TDX: MRTD (the value), MRSEAM, RTMR0-3;
 *   the environment instance, when present, is corimgen's name-based UUID of the SNP product;
 * - **TPM PCRs**: `integrity-registers` (mval 14) with PCR indices 0-23 as keys and digests of
 *   the sha-256 / sha-384 / sha-512 banks (named-information algorithm ids 1, 7, 8).
 */
import { constants, createHash, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { decode, encode, Tag } from 'cbor2'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/types.js'
import type { BundleSet } from './bundle-set.js'
import type { FieldMapping } from './go-policy.js'
import type { SignerKey } from './signer-key.js'

export const MAX_CORIM_BYTES = 512 * 1024
const DECODE = { ignoreGlobalTags: true, preferMap: true, rejectDuplicateKeys: true, maxDepth: 32, rejectUndefined: true } as const

const TAG = { cose: 18, signedCorim: 502, unsignedCorim: 501, comid: 506, uuid: 37, oid: 111, time: 1, svnMin: 552 } as const

/** COSE algorithms (RFC 9053) a `corim` signer's key can verify. */
const COSE_ALGS: Readonly<Record<number, { name: string; hash: string; keyType: 'ec' | 'rsa-pss' | 'ed25519'; curve?: string }>> = {
  [-7]: { name: 'ES256', hash: 'sha256', keyType: 'ec', curve: 'prime256v1' },
  [-35]: { name: 'ES384', hash: 'sha384', keyType: 'ec', curve: 'secp384r1' },
  [-36]: { name: 'ES512', hash: 'sha512', keyType: 'ec', curve: 'secp521r1' },
  [-37]: { name: 'PS256', hash: 'sha256', keyType: 'rsa-pss' },
  [-8]: { name: 'EdDSA', hash: '', keyType: 'ed25519' },
}

function malformed(detail: string, cause?: unknown): KeybrokerError {
  return new KeybrokerError('bundle-malformed', detail, cause === undefined ? undefined : { cause })
}

function cbor(bytes: Uint8Array, what: string): unknown {
  try {
    return decode(bytes, DECODE)
  } catch (cause) {
    throw malformed(`${what}: not well-formed CBOR`, cause)
  }
}

const isMap = (v: unknown): v is Map<unknown, unknown> => v instanceof Map
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Keys of `m` other than `known`: each is an unsupported field. */
function refuseOthers(m: Map<unknown, unknown>, known: readonly (number | string)[], where: string): void {
  for (const k of m.keys()) {
    if (!known.includes(k as number | string)) throw malformed(`${where}: key ${String(k).slice(0, 32)} is not supported`)
  }
}

function text(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.length > 1024) throw malformed(`${where}: a text string expected`)
  return v
}

/** A time of corim-meta / rim-validity: `#6.1(epoch seconds)`. */
function epoch(v: unknown, where: string): Date {
  if (!(v instanceof Tag) || Number(v.tag) !== TAG.time || (typeof v.contents !== 'number' && typeof v.contents !== 'bigint')) {
    throw malformed(`${where}: a #6.1 epoch time expected`)
  }
  const t = new Date(Number(v.contents) * 1000)
  if (!Number.isFinite(t.getTime())) throw malformed(`${where}: out of range`)
  return t
}

export interface Validity {
  readonly notBefore?: Date
  readonly notAfter: Date
}

function validity(v: unknown, where: string): Validity {
  if (!isMap(v)) throw malformed(`${where}: a validity map expected`)
  refuseOthers(v, [0, 1], where)
  if (!v.has(1)) throw malformed(`${where}: not-after (1) is required`)
  return { ...(v.has(0) ? { notBefore: epoch(v.get(0), `${where}.not-before`) } : {}), notAfter: epoch(v.get(1), `${where}.not-after`) }
}

export interface Comid {
  /** tag-id: text, or a UUID as hex. */
  readonly tagId: string
  readonly referenceTriples: readonly (readonly [Map<unknown, unknown>, readonly Map<unknown, unknown>[]])[]
}

export interface ParsedCorim {
  readonly signed: boolean
  /** corim-id: text, or the UUID bytes in hex. */
  readonly id: string
  readonly comids: readonly Comid[]
  /** rim-validity of the unsigned map. */
  readonly validity: Validity | undefined
  /** The signature part of a signed CoRIM. */
  readonly cose?: {
    readonly alg: number
    readonly kid: string | undefined
    readonly signer: string | undefined
    readonly validity: Validity | undefined
    readonly toBeSigned: Uint8Array
    readonly signature: Uint8Array
  }
  /** SHA-256 of the whole input, lowercase hex: its identity in provenance. */
  readonly digest: string
}

function idOf(v: unknown, where: string): string {
  if (typeof v === 'string') return text(v, where)
  if (isBytes(v) && v.byteLength === 16) return hex(v)
  if (v instanceof Tag && Number(v.tag) === TAG.uuid && isBytes(v.contents) && v.contents.byteLength === 16) return hex(v.contents)
  throw malformed(`${where}: a text or UUID id expected`)
}

function parseComid(bytes: Uint8Array, where: string): Comid {
  const m = cbor(bytes, where)
  if (!isMap(m)) throw malformed(`${where}: a CoMID map expected`)
  // 0 language, 1 tag-identity, 2 entities (recorded, not needed), 4 triples; 3 linked-tags are not supported.
  refuseOthers(m, [0, 1, 2, 4], where)
  const identity = m.get(1)
  if (!isMap(identity)) throw malformed(`${where}.tag-identity: required`)
  refuseOthers(identity, [0, 1], `${where}.tag-identity`)
  const tagId = idOf(identity.get(0), `${where}.tag-identity.tag-id`)
  const triples = m.get(4)
  if (!isMap(triples)) throw malformed(`${where}.triples: required`)
  for (const k of triples.keys()) {
    if (k !== 0) throw malformed(`${where}.triples: ${TRIPLE_NAMES[String(k)] ?? `key ${String(k).slice(0, 16)}`} are not supported (reference-triples only)`)
  }
  const refs = triples.get(0)
  if (!Array.isArray(refs) || refs.length === 0 || refs.length > 64) throw malformed(`${where}.triples.reference-triples: 1 to 64 triples expected`)
  const referenceTriples = refs.map((t: unknown, i) => {
    const at = `${where}.reference-triples[${i}]`
    if (!Array.isArray(t) || t.length !== 2 || !isMap(t[0]) || !Array.isArray(t[1])) throw malformed(`${at}: [environment-map, [measurement-map…]] expected`)
    const ms: unknown[] = t[1]
    if (ms.length === 0 || ms.length > 64 || !ms.every(isMap)) throw malformed(`${at}: 1 to 64 measurement maps expected`)
    return [t[0], ms as Map<unknown, unknown>[]] as const
  })
  return { tagId, referenceTriples }
}

const TRIPLE_NAMES: Readonly<Record<string, string>> = {
  '1': 'endorsed-triples',
  '2': 'identity-triples',
  '3': 'attest-key-triples',
  '4': 'dependency-triples',
  '5': 'membership-triples',
  '6': 'coswid-triples',
  '8': 'conditional-endorsement-series-triples',
  '10': 'conditional-endorsement-triples',
}

function parseUnsigned(v: unknown, where: string): Pick<ParsedCorim, 'id' | 'comids' | 'validity'> {
  if (!(v instanceof Tag) || Number(v.tag) !== TAG.unsignedCorim || !isMap(v.contents)) throw malformed(`${where}: a #6.501 unsigned CoRIM expected`)
  const m = v.contents
  // 0 id, 1 tags, 3 profile and 5 entities are read or recorded; 2 dependent-rims are not supported.
  refuseOthers(m, [0, 1, 3, 4, 5], where)
  const id = idOf(m.get(0), `${where}.id`)
  const tags = m.get(1)
  if (!Array.isArray(tags) || tags.length === 0 || tags.length > 64) throw malformed(`${where}.tags: 1 to 64 tags expected`)
  const comids = tags.map((t: unknown, i) => {
    const at = `${where}.tags[${i}]`
    if (!(t instanceof Tag)) throw malformed(`${at}: a tagged concise tag expected`)
    if (Number(t.tag) !== TAG.comid) throw malformed(`${at}: tag ${String(t.tag)} is not supported (CoMID #6.506 only)`)
    if (!isBytes(t.contents)) throw malformed(`${at}: the CoMID must be a byte string`)
    return parseComid(t.contents, `${at} (CoMID)`)
  })
  return { id, comids, validity: m.has(4) ? validity(m.get(4), `${where}.rim-validity`) : undefined }
}

/**
 * Parses a CoRIM, signed or not. Nothing is trusted yet: a signed one still needs
 * `verifyCorimSignature` and `checkCorimValidity`.
 * @throws KeybrokerError `bundle-malformed`
 */
export function parseCorim(bytes: Uint8Array): ParsedCorim {
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_CORIM_BYTES) throw malformed(`corim: 1 to ${MAX_CORIM_BYTES} bytes expected`)
  const digest = createHash('sha256').update(bytes).digest('hex')
  let top = cbor(bytes, 'corim')
  if (top instanceof Tag && Number(top.tag) === TAG.signedCorim) top = top.contents
  if (!(top instanceof Tag) || Number(top.tag) !== TAG.cose) {
    return { signed: false, ...parseUnsigned(top, 'corim'), digest }
  }
  const parts = top.contents
  if (!Array.isArray(parts) || parts.length !== 4) throw malformed('corim: COSE_Sign1 is [protected, unprotected, payload, signature]')
  const [protectedBytes, unprotected, payload, signature] = parts as unknown[]
  if (!isBytes(protectedBytes) || !isMap(unprotected) || !isBytes(payload) || !isBytes(signature)) throw malformed('corim: COSE_Sign1 member types')
  if (unprotected.size > 0) throw malformed('corim: unprotected COSE header parameters are not supported')
  const header = cbor(protectedBytes, 'corim.protected')
  if (!isMap(header)) throw malformed('corim.protected: a header map expected')
  // 1 alg, 3 content type, 4 kid, 8 corim-meta (RFC 9052 labels; corim-meta of the CoRIM draft).
  refuseOthers(header, [1, 3, 4, 8], 'corim.protected')
  const alg = header.get(1)
  if (typeof alg !== 'number' || COSE_ALGS[alg] === undefined) throw malformed(`corim.protected.alg: ${String(alg).slice(0, 16)} is not supported (ES256, ES384, ES512, PS256, EdDSA)`)
  const contentType = header.get(3)
  if (contentType !== undefined && contentType !== 'application/rim+cbor') throw malformed('corim.protected.content-type: application/rim+cbor expected')
  const kidRaw = header.get(4)
  const kid = kidRaw === undefined ? undefined : isBytes(kidRaw) ? Buffer.from(kidRaw).toString('latin1') : undefined
  let signerName: string | undefined
  let metaValidity: Validity | undefined
  const metaBytes = header.get(8)
  if (metaBytes !== undefined) {
    if (!isBytes(metaBytes)) throw malformed('corim.protected.corim-meta: a byte string expected')
    const meta = cbor(metaBytes, 'corim-meta')
    if (!isMap(meta)) throw malformed('corim-meta: a map expected')
    refuseOthers(meta, [0, 1], 'corim-meta')
    const signer = meta.get(0)
    if (!isMap(signer)) throw malformed('corim-meta.signer: required')
    signerName = text(signer.get(0), 'corim-meta.signer.name')
    if (meta.has(1)) metaValidity = validity(meta.get(1), 'corim-meta.signature-validity')
  }
  const unsigned = parseUnsigned(cbor(payload, 'corim.payload'), 'corim.payload')
  // RFC 9052 §4.4: Sig_structure = ["Signature1", body_protected, external_aad, payload].
  const toBeSigned = encode(['Signature1', protectedBytes, new Uint8Array(0), payload])
  return { signed: true, ...unsigned, cose: { alg, kid, signer: signerName, validity: metaValidity, toBeSigned, signature }, digest }
}

function verifyWith(key: KeyObject, alg: number, data: Uint8Array, signature: Uint8Array): boolean {
  const a = COSE_ALGS[alg]
  if (a === undefined) return false
  const type = key.asymmetricKeyType
  if (a.keyType === 'ec') {
    if (type !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== a.curve) return false
    return cryptoVerify(a.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature)
  }
  if (a.keyType === 'rsa-pss') {
    if (type !== 'rsa') return false
    return cryptoVerify(a.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)
  }
  return type === 'ed25519' && cryptoVerify(null, data, key, signature)
}

/**
 * Verifies a signed CoRIM against the registered `corim` signers (the first whose key verifies).
 * @throws KeybrokerError `bundle-malformed` (unsigned), `bundle-signer-unknown` (no signer),
 *   `bundle-signature-invalid`
 */
export function verifyCorimSignature(corim: ParsedCorim, signers: readonly SignerKey[]): SignerKey {
  if (corim.cose === undefined) throw malformed('corim: not signed')
  if (signers.length === 0) throw new KeybrokerError('bundle-signer-unknown', 'no corim signer is registered (POST /admin/v1/signers {"format": "corim"})')
  const { alg, toBeSigned, signature } = corim.cose
  const signer = signers.find((s) => verifyWith(s.key, alg, toBeSigned, signature))
  if (signer === undefined) throw new KeybrokerError('bundle-signature-invalid', 'the COSE_Sign1 signature does not verify with any registered corim signer')
  return signer
}

/** Both validity windows (signature validity of corim-meta, rim-validity) hold at `now`. @throws `bundle-expired` */
export function checkCorimValidity(corim: ParsedCorim, now: Date): void {
  for (const [what, v] of [['corim-meta signature validity', corim.cose?.validity], ['rim-validity', corim.validity]] as const) {
    if (v === undefined) continue
    if (v.notBefore !== undefined && now.getTime() < v.notBefore.getTime()) throw new KeybrokerError('bundle-expired', `corim: not valid yet (${what})`)
    if (now.getTime() > v.notAfter.getTime()) throw new KeybrokerError('bundle-expired', `corim: expired (${what})`)
  }
}

/** When the CoRIM stops being valid (the earlier not-after), for the values' `notAfter`. */
export function corimNotAfter(corim: ParsedCorim): Date | undefined {
  const ends = [corim.cose?.validity?.notAfter, corim.validity?.notAfter].filter((d): d is Date => d !== undefined)
  return ends.length === 0 ? undefined : new Date(Math.min(...ends.map((d) => d.getTime())))
}

// --- mapping to typed reference values ---------------------------------------------------------

/** RFC 4122 name-based UUID (v5, SHA-1) of `name` in the OID namespace: what corimgen writes as the SNP product instance. */
function uuidV5Oid(name: string): string {
  const ns = Buffer.from('6ba7b8129dad11d180b400c04fd430c8', 'hex')
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16)
  h[6] = (h[6]! & 0x0f) | 0x50
  h[8] = (h[8]! & 0x3f) | 0x80
  return h.toString('hex')
}
const PRODUCT_BY_UUID: ReadonlyMap<string, string> = new Map(['Milan', 'Genoa', 'Turin'].map((p) => [uuidV5Oid(p), p]))

/** named-information hash algorithm ids (IANA registry) of the PCR banks. */
const NI_BANKS: Readonly<Record<number, { bank: string; size: number }>> = { 1: { bank: 'sha256', size: 32 }, 7: { bank: 'sha384', size: 48 }, 8: { bank: 'sha512', size: 64 } }

interface Collected {
  readonly expect: JsonValue[]
  readonly values: string[]
  readonly fields: FieldMapping[]
  kinds: Set<'snp' | 'tdx' | 'tpm'>
}

/** A Cocos measurement: `{0: 37(uuid), 1: {2: [[alg, digest]], 1?: svn}}` → the digest and the svn. */
function cocosMeasurement(m: Map<unknown, unknown>, where: string): { digest: string; svn: { op: 'equals' | 'atLeast'; value: number } | undefined } {
  refuseOthers(m, [0, 1], where)
  const mval = m.get(1)
  if (!isMap(mval)) throw malformed(`${where}.mval: required`)
  refuseOthers(mval, [1, 2], `${where}.mval`)
  const digests = mval.get(2)
  if (!Array.isArray(digests) || digests.length !== 1) throw malformed(`${where}.mval.digests: exactly one digest expected`)
  const d: unknown = digests[0]
  if (!Array.isArray(d) || d.length !== 2 || !isBytes(d[1])) throw malformed(`${where}.mval.digests[0]: [alg, digest] expected`)
  let svn: { op: 'equals' | 'atLeast'; value: number } | undefined
  const s = mval.get(1)
  if (s !== undefined) {
    const inner = s instanceof Tag && Number(s.tag) === TAG.svnMin ? s.contents : s
    if (typeof inner !== 'number' || !Number.isSafeInteger(inner) || inner < 0) throw malformed(`${where}.mval.svn: an unsigned integer expected`)
    svn = { op: s instanceof Tag ? 'atLeast' : 'equals', value: inner }
  }
  return { digest: hex(d[1]), svn }
}

function mapCocosTriple(kind: 'snp' | 'tdx', env: Map<unknown, unknown>, ms: readonly Map<unknown, unknown>[], where: string, out: Collected): void {
  refuseOthers(env, [0, 1], `${where}.environment`)
  const instance = env.get(1)
  const measurements = ms.map((m, i) => cocosMeasurement(m, `${where}.measurements[${i}]`))
  const first = measurements[0]!
  if (first.digest.length !== 96) throw malformed(`${where}.measurements[0]: a 48-byte launch measurement expected`)
  out.values.push(first.digest)
  out.fields.push({ field: `${where}.measurements[0]`, to: ['value'] })
  if (kind === 'snp') {
    if (measurements.length > 1) throw malformed(`${where}: an SEV-SNP triple of corimgen has one measurement`)
    if (first.svn !== undefined) {
      out.expect.push({ claim: 'guestSvn', [first.svn.op]: first.svn.value })
      out.fields.push({ field: `${where}.measurements[0].svn`, to: ['guestSvn'] })
    }
    if (instance !== undefined) {
      const uuid = instance instanceof Tag && Number(instance.tag) === TAG.uuid && isBytes(instance.contents) ? hex(instance.contents) : undefined
      const product = uuid === undefined ? undefined : PRODUCT_BY_UUID.get(uuid)
      if (product === undefined) throw malformed(`${where}.environment.instance: not corimgen's UUID of Milan, Genoa or Turin`)
      out.expect.push({ claim: 'product', equals: product })
      out.fields.push({ field: `${where}.environment.instance`, to: ['product'] })
    }
  } else {
    if (instance !== undefined) throw malformed(`${where}.environment.instance: not supported for TDX`)
    if (measurements.length > 6) throw malformed(`${where}: a TDX triple of corimgen has MRTD, MRSEAM and four RTMRs at most`)
    const names = ['mrTd', 'mrSeam', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3']
    measurements.forEach((m, i) => {
      if (m.svn !== undefined) throw malformed(`${where}.measurements[${i}].svn: not supported for TDX`)
      if (i === 0) return
      if (m.digest.length !== 96) throw malformed(`${where}.measurements[${i}]: 48 bytes expected`)
      out.expect.push({ claim: names[i]!, equals: m.digest })
      out.fields.push({ field: `${where}.measurements[${i}]`, to: [names[i]!] })
    })
  }
  out.kinds.add(kind)
}

function mapIntegrityRegisters(ms: readonly Map<unknown, unknown>[], where: string, out: Collected): void {
  ms.forEach((m, i) => {
    const at = `${where}.measurements[${i}]`
    refuseOthers(m, [1], at)
    const mval = m.get(1)
    if (!isMap(mval)) throw malformed(`${at}.mval: required`)
    refuseOthers(mval, [14], `${at}.mval`)
    const regs = mval.get(14)
    if (!isMap(regs)) throw malformed(`${at}.mval.integrity-registers: a map expected`)
    for (const [key, digests] of regs) {
      if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key > 23) throw malformed(`${at}.integrity-registers: register ${String(key).slice(0, 16)} is not a PCR index 0-23`)
      if (!Array.isArray(digests) || digests.length === 0) throw malformed(`${at}.integrity-registers.${key}: digests expected`)
      for (const d of digests as unknown[]) {
        if (!Array.isArray(d) || d.length !== 2 || !isBytes(d[1])) throw malformed(`${at}.integrity-registers.${key}: [alg, digest] expected`)
        const bank = typeof d[0] === 'number' ? NI_BANKS[d[0]] : undefined
        if (bank === undefined) throw malformed(`${at}.integrity-registers.${key}: hash algorithm ${String(d[0]).slice(0, 16)} is not a PCR bank (1 sha-256, 7 sha-384, 8 sha-512)`)
        if (d[1].byteLength !== bank.size) throw malformed(`${at}.integrity-registers.${key}: ${bank.bank} digests are ${bank.size} bytes`)
        out.expect.push({ claim: `pcr.${bank.bank}.${key}`, equals: hex(d[1]) })
        out.fields.push({ field: `${at}.integrity-registers.${key}`, to: [`pcr.${bank.bank}.${key}`] })
      }
    }
  })
  out.kinds.add('tpm')
}

const COCOS_TAG = /^(snp|tdx)-tag-/

/**
 * Maps the reference triples of a parsed CoRIM to one reference-value set (see the module comment).
 * @throws KeybrokerError `bundle-malformed` naming the first unsupported triple or field
 */
export function mapCorim(corim: ParsedCorim, name: string, evidenceType?: string): { set: BundleSet; fields: FieldMapping[] } {
  const out: Collected = { expect: [], values: [], fields: [], kinds: new Set() }
  corim.comids.forEach((c, ci) => {
    c.referenceTriples.forEach(([env, ms], ti) => {
      const where = `corim.tags[${ci}].reference-triples[${ti}]`
      const cocos = COCOS_TAG.exec(c.tagId)
      if (ms.every((m) => isMap(m.get(1)) && (m.get(1) as Map<unknown, unknown>).has(14))) {
        mapIntegrityRegisters(ms, where, out)
      } else if (cocos !== null) {
        mapCocosTriple(cocos[1] === 'snp' ? 'snp' : 'tdx', env, ms, where, out)
      } else {
        throw malformed(`${where}: not supported (keybroker maps Cocos snp/tdx CoMIDs and TPM integrity registers; this triple's environment is ${describeEnvironment(env)})`)
      }
    })
  })
  const kinds = out.kinds
  let type: string
  if (kinds.has('snp') && kinds.has('tdx')) throw malformed('corim: SEV-SNP and TDX reference values in one CoRIM (import them as two sets)')
  else if (kinds.has('snp')) type = kinds.has('tpm') ? 'gotpm' : 'snp'
  else if (kinds.has('tdx')) {
    if (kinds.has('tpm')) throw malformed('corim: TDX and TPM reference values in one CoRIM are not supported')
    type = 'tdx'
  } else type = 'tpm'
  const values = [...new Set(out.values)].map((measurement) => ({ measurement }))
  return { set: { name, evidenceType: evidenceType ?? type, allowDebug: false, expect: out.expect, values }, fields: out.fields }
}

function describeEnvironment(env: Map<unknown, unknown>): string {
  const cls = env.get(0)
  if (!isMap(cls)) return 'without a class'
  const vendor = cls.get(1)
  const model = cls.get(2)
  return `class ${typeof vendor === 'string' ? JSON.stringify(vendor.slice(0, 40)) : '?'} / ${typeof model === 'string' ? JSON.stringify(model.slice(0, 40)) : '?'}`
}
