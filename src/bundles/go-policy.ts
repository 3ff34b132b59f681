/**
 * Reference values from the policy configs of Google's verifier libraries, as Cocos
 * (ultravioletrs/cocos `scripts/attestation_policy/`) writes its attestation policies:
 *
 * - go-sev-guest `check.Config` (google/go-sev-guest `proto/check.proto`; semantics of
 *   `validate/validate.go` at af1c107a) in protojson, plus Cocos' `pcr_values`
 *   (`{"sha256": {"<index>": "<hex>"}, "sha384": …}`) for its vTPM;
 * - go-tdx-guest `checkconfig.Config` (google/go-tdx-guest `proto/checkconfig.proto`).
 *
 * The documents are decoded with @bufbuild/protobuf from the upstream schemas (field names in
 * snake_case or camelCase, bytes in base64, uint64 as numbers or strings, enums by name or
 * number). They arrive as text so that 64-bit numbers keep every digit. Every field maps to
 * typed expectations of the claim catalogue, or is a setting keybroker's verifier satisfies by
 * construction; anything else is `bundle-malformed` naming it — unless the importer names the
 * field in `ignore`, which the provenance then records. Nothing is dropped silently.
 */
import { createHash } from 'node:crypto'
import { fromJson, type JsonValue as ProtoJson } from '@bufbuild/protobuf'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/types.js'
import { decodeTcb, type TcbParts } from '../evidence/snp/tcb.js'
import { isSnpProduct, type SnpProduct } from '../evidence/snp/products.js'
import { ConfigSchema as SevConfigSchema, type Config as SevConfig } from '../proto-gen/check_pb.js'
import { ConfigSchema as TdxConfigSchema, type Config as TdxConfig } from '../proto-gen/checkconfig_pb.js'
import { SevProduct_SevProductName } from '../proto-gen/sevsnp_pb.js'
import type { BundleSet } from './bundle-set.js'
import { parsePythonJson, type PyJson } from './python-json.js'

export const GO_POLICY_FORMATS = ['gosevguest', 'gotdxguest'] as const
export type GoPolicyFormat = (typeof GO_POLICY_FORMATS)[number]
export const MAX_GO_POLICY_BYTES = 256 * 1024

export interface GoPolicyInput {
  /** The document's text (UTF-8 JSON). */
  readonly text: string | Uint8Array
  /** The reference-value set to create or replace. */
  readonly name: string
  /** Overrides the evidence type (default: `gotpm` with `pcr_values`, else `snp`; `tdx`). */
  readonly evidenceType?: string | undefined
  /** Dotted paths of fields the importer chooses to leave out (e.g. `policy.tdQuoteBodyPolicy.eat_validation`). */
  readonly ignore?: readonly string[] | undefined
}

/** One field of the document and what became of it (shown by the import and the CLI). */
export interface FieldMapping {
  readonly field: string
  /** The expectations it became, `value` (the set's measurement), `verifier` (a setting keybroker's verifier always meets) or `ignored`. */
  readonly to: readonly string[]
}

export interface GoPolicyMapping {
  readonly format: GoPolicyFormat
  readonly set: BundleSet
  /** SHA-256 of the document's bytes, lowercase hex: its identity in provenance. */
  readonly digest: string
  readonly fields: readonly FieldMapping[]
  readonly ignored: readonly string[]
}

function malformed(detail: string): KeybrokerError {
  return new KeybrokerError('bundle-malformed', detail)
}

/** PyJson (exact integers) to protojson input: integers beyond 2^53 as decimal strings, which protojson takes for 64-bit fields. */
function toProtoJson(v: PyJson): JsonValue {
  switch (v.kind) {
    case 'object':
      return Object.fromEntries([...v.entries].map(([k, x]) => [k, toProtoJson(x)]))
    case 'array':
      return v.items.map(toProtoJson)
    case 'int':
      return v.value >= BigInt(Number.MIN_SAFE_INTEGER) && v.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v.value) : v.value.toString()
    case 'float':
      return v.value
    case 'string':
      return v.value
    case 'bool':
      return v.value
    case 'null':
      return null
  }
}

interface Prepared {
  readonly doc: Map<string, JsonValue>
  readonly digest: string
  readonly ignored: string[]
}

/** Parses the text, removes the ignored paths (each must exist), returns the top-level members. */
function prepare(text: string | Uint8Array, ignore: readonly string[]): Prepared {
  const size = typeof text === 'string' ? Buffer.byteLength(text) : text.byteLength
  if (size > MAX_GO_POLICY_BYTES) throw malformed(`document larger than ${MAX_GO_POLICY_BYTES} bytes`)
  const parsed = toProtoJson(parsePythonJson(text))
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw malformed('document: a JSON object expected')
  const root = structuredClone(parsed) as Record<string, JsonValue>
  for (const path of ignore) {
    const keys = path.split('.')
    let node: JsonValue | undefined = root
    for (const k of keys.slice(0, -1)) node = node !== null && typeof node === 'object' && !Array.isArray(node) && Object.hasOwn(node, k) ? (node as Record<string, JsonValue>)[k] : undefined
    const last = keys[keys.length - 1] ?? ''
    if (node === null || node === undefined || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, last)) {
      throw malformed(`ignore: the document has no field ${path.slice(0, 200)}`)
    }
    delete (node as Record<string, JsonValue>)[last]
  }
  const digest = createHash('sha256').update(typeof text === 'string' ? Buffer.from(text, 'utf8') : text).digest('hex')
  return { doc: new Map(Object.entries(root)), digest, ignored: [...ignore] }
}

/** Decodes with the generated schema; the decoder's message names an unknown or ill-typed field. */
function decode<T>(what: string, run: () => T): T {
  try {
    return run()
  } catch (cause) {
    const message = cause instanceof Error ? cause.message.slice(0, 300) : 'not protojson'
    throw new KeybrokerError('bundle-malformed', `${what}: ${message}`, { cause })
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

class Mapper {
  readonly expect: JsonValue[] = []
  readonly values: string[] = []
  readonly fields: FieldMapping[] = []
  equals(field: string, claim: string, value: string | number | boolean): void {
    this.expect.push({ claim, equals: value })
    this.fields.push({ field, to: [claim] })
  }
  atLeast(field: string, claim: string, value: number | string): void {
    this.expect.push({ claim, atLeast: value })
    this.fields.push({ field, to: [claim] })
  }
  oneOf(field: string, claim: string, values: readonly (string | number)[]): void {
    this.expect.push({ claim, oneOf: [...values] })
    this.fields.push({ field, to: [claim] })
  }
  value(field: string, measurement: string): void {
    this.values.push(measurement)
    this.fields.push({ field, to: ['value'] })
  }
  verifier(field: string): void {
    this.fields.push({ field, to: ['verifier'] })
  }
  group(field: string, claims: readonly string[]): void {
    this.fields.push({ field, to: claims })
  }
}

const PRODUCT_NAMES: ReadonlyMap<SevProduct_SevProductName, SnpProduct> = new Map([
  [SevProduct_SevProductName.SEV_PRODUCT_MILAN, 'Milan'],
  [SevProduct_SevProductName.SEV_PRODUCT_GENOA, 'Genoa'],
  [SevProduct_SevProductName.SEV_PRODUCT_TURIN, 'Turin'],
])

/** GUEST_POLICY bits as go-sev-guest `validatePolicy` reads a required policy (ABI spec 56860, Table 9). */
const PERMISSIONS = [
  // [bit, claim, a set bit permits (true) or requires (false)]
  [16, 'policy.smt', true],
  [18, 'policy.migrateMa', true],
  [19, 'policy.debug', true],
  [20, 'policy.singleSocket', false],
  [21, 'policy.cxlAllow', true],
  [22, 'policy.memAes256Xts', false],
  [23, 'policy.raplDis', false],
  [24, 'policy.ciphertextHiding', false],
  [25, 'policy.pageSwapDisable', false],
] as const

function tcbExpectations(m: Mapper, field: string, prefix: 'tcb' | 'launchTcb', raw: bigint, product: SnpProduct | undefined): void {
  if (raw === 0n) return
  if (product === undefined) throw malformed(`policy.${field}: needs the product (policy.product or root_of_trust.product_line) to split the TCB into components`)
  const parts: TcbParts = decodeTcb(raw, product)
  const claims: string[] = []
  for (const [c, v] of Object.entries(parts)) {
    if (v === undefined) continue
    m.expect.push({ claim: `${prefix}.${c}`, atLeast: v })
    claims.push(`${prefix}.${c}`)
  }
  m.group(`policy.${field}`, claims)
}

/**
 * Maps a go-sev-guest `check.Config` (with Cocos `pcr_values`) to a reference-value set.
 * @throws KeybrokerError `bundle-malformed` naming an unsupported or malformed field
 */
export function mapGoSevGuestPolicy(input: GoPolicyInput): GoPolicyMapping {
  const { doc, digest, ignored } = prepare(input.text, input.ignore ?? [])
  const pcrValues = doc.get('pcr_values') ?? doc.get('pcrValues')
  doc.delete('pcr_values')
  doc.delete('pcrValues')
  const config: SevConfig = decode('check.Config', () => fromJson(SevConfigSchema, Object.fromEntries(doc) as ProtoJson, { ignoreUnknownFields: false }))
  const m = new Mapper()
  const p = config.policy
  const rot = config.rootOfTrust
  let product: SnpProduct | undefined
  if (p?.product !== undefined) {
    if (p.product.machineStepping !== undefined) throw malformed('policy.product.machine_stepping: not supported')
    product = PRODUCT_NAMES.get(p.product.name)
    if (product === undefined) throw malformed('policy.product.name: not a known product (Milan, Genoa, Turin)')
    m.equals('policy.product', 'product', product)
  }
  const line = rot?.productLine !== '' ? rot?.productLine : rot?.product
  if (rot !== undefined && line !== undefined && line !== '') {
    const name = line.split('-')[0] ?? ''
    if (!isSnpProduct(name)) throw malformed(`root_of_trust.product_line: ${JSON.stringify(line.slice(0, 32))} is not Milan, Genoa or Turin`)
    if (product !== undefined && product !== name) throw malformed('root_of_trust.product_line: another product than policy.product')
    if (product === undefined) m.equals('root_of_trust.product_line', 'product', name)
    else m.group('root_of_trust.product_line', ['product'])
    product = name
  }
  if (rot !== undefined) {
    if (rot.cabundlePaths.length > 0 || rot.cabundles.length > 0) {
      throw malformed('root_of_trust.cabundles / cabundle_paths: not supported (keybroker pins AMD\'s roots; register extra roots as collateral)')
    }
    if (rot.checkCrl) m.equals('root_of_trust.check_crl', 'crl', 'checked')
    // Collateral is never fetched while verifying (KDS fetching is a separate, opt-in service feature).
    m.verifier('root_of_trust.disallow_network')
  }
  if (p !== undefined) {
    if (p.minimumGuestSvn > 0) m.atLeast('policy.minimum_guest_svn', 'guestSvn', p.minimumGuestSvn)
    if (p.policy !== 0n) {
      const bits = p.policy
      if ((bits & (1n << 17n)) === 0n) throw malformed('policy.policy: bit 17 must be set (ABI spec, guest policy)')
      if (bits >> 26n !== 0n) throw malformed('policy.policy: bits above 25 are not supported')
      const abi = Number((bits >> 8n) & 0xffn) * 256 + Number(bits & 0xffn)
      const claims: string[] = []
      if (abi > 0) {
        m.expect.push({ claim: 'policy.abiVersion', atLeast: abi })
        claims.push('policy.abiVersion')
      }
      for (const [bit, claim, permits] of PERMISSIONS) {
        const set = (bits & (1n << BigInt(bit))) !== 0n
        // A permission bit that is clear forbids the feature; a requirement bit that is set requires it.
        if (permits && !set) m.expect.push({ claim, equals: false })
        else if (!permits && set) m.expect.push({ claim, equals: true })
        else continue
        claims.push(claim)
      }
      m.group('policy.policy', claims)
    }
    const bytesField = (field: string, claim: string, b: Uint8Array, size: number): void => {
      if (b.byteLength === 0) return
      if (b.byteLength !== size) throw malformed(`policy.${field}: ${size} bytes expected`)
      m.equals(`policy.${field}`, claim, hex(b))
    }
    bytesField('family_id', 'familyId', p.familyId, 16)
    bytesField('image_id', 'imageId', p.imageId, 16)
    if (p.vmpl !== undefined) {
      if (p.vmpl > 3) throw malformed('policy.vmpl: 0 to 3')
      m.equals('policy.vmpl', 'vmpl', p.vmpl)
    }
    tcbExpectations(m, 'minimum_tcb', 'tcb', p.minimumTcb, product)
    tcbExpectations(m, 'minimum_launch_tcb', 'launchTcb', p.minimumLaunchTcb, product)
    if (p.platformInfo !== undefined) throw malformed('policy.platform_info: not supported')
    if (p.reportData.byteLength > 0) throw malformed('policy.report_data: not supported (keybroker binds the report data to its nonce and the client key)')
    if (p.measurement.byteLength > 0) {
      if (p.measurement.byteLength !== 48) throw malformed('policy.measurement: 48 bytes expected')
      m.value('policy.measurement', hex(p.measurement))
    }
    bytesField('host_data', 'hostData', p.hostData, 32)
    bytesField('report_id', 'reportId', p.reportId, 32)
    bytesField('report_id_ma', 'reportIdMa', p.reportIdMa, 32)
    bytesField('chip_id', 'chipId', p.chipId, 64)
    if (p.minimumBuild > 255) throw malformed('policy.minimum_build: 0 to 255')
    if (p.minimumBuild > 0) m.atLeast('policy.minimum_build', 'firmware.build', p.minimumBuild)
    if (p.minimumVersion !== '') {
      const v = /^(\d{1,3})\.(\d{1,3})$/.exec(p.minimumVersion)
      const major = Number(v?.[1] ?? 256)
      const minor = Number(v?.[2] ?? 256)
      if (major > 255 || minor > 255) throw malformed('policy.minimum_version: "major.minor", each 0 to 255')
      m.atLeast('policy.minimum_version', 'firmware.version', major * 256 + minor)
    }
    // go-sev-guest: without permit_provisional_firmware the committed TCB, version and build must
    // equal the current ones; with it, keybroker checks nothing more (its floors apply to both).
    if (!p.permitProvisionalFirmware) m.equals('policy.permit_provisional_firmware', 'firmware.provisional', false)
    else m.verifier('policy.permit_provisional_firmware')
    const sha384 = (b: Uint8Array): string => createHash('sha384').update(b).digest('hex')
    const hashes = (field: string, list: readonly Uint8Array[]): string[] =>
      list.map((h) => {
        if (h.byteLength !== 48) throw malformed(`policy.${field}: SHA-384 digests of 48 bytes expected`)
        return hex(h)
      })
    const idKeys = [...p.trustedIdKeys.map(sha384), ...hashes('trusted_id_key_hashes', p.trustedIdKeyHashes)]
    const authorKeys = [...p.trustedAuthorKeys.map(sha384), ...hashes('trusted_author_key_hashes', p.trustedAuthorKeyHashes)]
    if (p.requireAuthorKey) {
      if (authorKeys.length === 0) throw malformed('policy.require_author_key: needs trusted_author_keys or trusted_author_key_hashes')
      m.equals('policy.require_author_key', 'authorKeyEn', true)
      m.oneOf('policy.trusted_author_key(_hashe)s', 'authorKeyDigest', authorKeys)
    } else if (authorKeys.length > 0) {
      throw malformed('policy.trusted_author_keys: only with require_author_key')
    }
    if (p.requireIdBlock || p.requireAuthorKey) {
      if (idKeys.length === 0) throw malformed('policy.require_id_block: needs trusted_id_keys or trusted_id_key_hashes')
      m.oneOf('policy.trusted_id_key(_hashe)s', 'idKeyDigest', idKeys)
    } else if (idKeys.length > 0) {
      throw malformed('policy.trusted_id_keys: only with require_id_block')
    }
  }
  if (pcrValues !== undefined) pcrExpectations(m, pcrValues)
  if (m.values.length === 0 && m.expect.length === 0) throw malformed('document: no expectation found (no policy, pcr_values)')
  const evidenceType = input.evidenceType ?? (pcrValues !== undefined ? 'gotpm' : 'snp')
  return {
    format: 'gosevguest',
    digest,
    ignored,
    fields: m.fields,
    set: { name: input.name, evidenceType, allowDebug: false, expect: m.expect, values: m.values.map((measurement) => ({ measurement })) },
  }
}

const PCR_BANKS: Readonly<Record<string, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }

/** Cocos `pcr_values`: `{bank: {"<index>": "<hex>"} | null}` → `pcr.<bank>.<index>` equals. */
function pcrExpectations(m: Mapper, v: JsonValue): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw malformed('pcr_values: an object of banks expected')
  for (const [bank, values] of Object.entries(v)) {
    const size = PCR_BANKS[bank]
    if (size === undefined) throw malformed(`pcr_values.${bank.slice(0, 16)}: not a PCR bank (sha1, sha256, sha384, sha512)`)
    if (values === null) continue
    if (typeof values !== 'object' || Array.isArray(values)) throw malformed(`pcr_values.${bank}: an object of PCR values expected`)
    const claims: string[] = []
    for (const [index, value] of Object.entries(values)) {
      if (!/^(?:[0-9]|1[0-9]|2[0-3])$/.test(index)) throw malformed(`pcr_values.${bank}: PCR index ${index.slice(0, 8)} is not 0-23`)
      if (typeof value !== 'string' || !/^[0-9a-fA-F]*$/.test(value) || value.length !== size * 2) {
        throw malformed(`pcr_values.${bank}.${index}: ${size} bytes of hex expected`)
      }
      m.expect.push({ claim: `pcr.${bank}.${index}`, equals: value.toLowerCase() })
      claims.push(`pcr.${bank}.${index}`)
    }
    m.group(`pcr_values.${bank}`, claims)
  }
}

/**
 * Maps a go-tdx-guest `checkconfig.Config` to a reference-value set of type `tdx`.
 * @throws KeybrokerError `bundle-malformed` naming an unsupported or malformed field
 */
export function mapGoTdxGuestPolicy(input: GoPolicyInput): GoPolicyMapping {
  const { doc, digest, ignored } = prepare(input.text, input.ignore ?? [])
  const config: TdxConfig = decode('checkconfig.Config', () => fromJson(TdxConfigSchema, Object.fromEntries(doc) as ProtoJson, { ignoreUnknownFields: false }))
  const m = new Mapper()
  const bytesField = (field: string, claim: string, b: Uint8Array, size: number): void => {
    if (b.byteLength === 0) return
    if (b.byteLength !== size) throw malformed(`${field}: ${size} bytes expected`)
    m.equals(field, claim, hex(b))
  }
  const h = config.policy?.headerPolicy
  if (h !== undefined) {
    if (h.minimumQeSvn > 0xffff || h.minimumPceSvn > 0xffff) throw malformed('policy.headerPolicy: SVNs are 16-bit')
    // The header's QE_SVN / PCE_SVN are those of the QE report and the PCK certificate, which the tdx verifier checked.
    if (h.minimumQeSvn > 0) m.atLeast('policy.headerPolicy.minimumQeSvn', 'qeIsvSvn', h.minimumQeSvn)
    if (h.minimumPceSvn > 0) m.atLeast('policy.headerPolicy.minimumPceSvn', 'pceSvn', h.minimumPceSvn)
    bytesField('policy.headerPolicy.qeVendorId', 'qeVendorId', h.qeVendorId, 16)
  }
  const b = config.policy?.tdQuoteBodyPolicy
  if (b !== undefined) {
    if (b.minimumTeeTcbSvn.byteLength > 0) {
      if (b.minimumTeeTcbSvn.byteLength !== 16) throw malformed('policy.tdQuoteBodyPolicy.minimumTeeTcbSvn: 16 bytes expected')
      m.atLeast('policy.tdQuoteBodyPolicy.minimumTeeTcbSvn', 'teeTcbSvn', hex(b.minimumTeeTcbSvn))
    }
    bytesField('policy.tdQuoteBodyPolicy.mrSeam', 'mrSeam', b.mrSeam, 48)
    bytesField('policy.tdQuoteBodyPolicy.tdAttributes', 'tdAttributes', b.tdAttributes, 8)
    bytesField('policy.tdQuoteBodyPolicy.xfam', 'xfam', b.xfam, 8)
    bytesField('policy.tdQuoteBodyPolicy.mrConfigId', 'mrConfigId', b.mrConfigId, 48)
    bytesField('policy.tdQuoteBodyPolicy.mrOwner', 'mrOwner', b.mrOwner, 48)
    bytesField('policy.tdQuoteBodyPolicy.mrOwnerConfig', 'mrOwnerConfig', b.mrOwnerConfig, 48)
    if (b.rtmrs.length > 4) throw malformed('policy.tdQuoteBodyPolicy.rtmrs: at most 4')
    b.rtmrs.forEach((r, i) => bytesField(`policy.tdQuoteBodyPolicy.rtmrs[${i}]`, `rtmr${i}`, r, 48))
    if (b.reportData.byteLength > 0) throw malformed('policy.tdQuoteBodyPolicy.reportData: not supported (keybroker binds the report data to its nonce and the client key)')
    const anyMrTd = b.anyMrTd.map((x, i) => {
      if (x.byteLength !== 48) throw malformed(`policy.tdQuoteBodyPolicy.anyMrTd[${i}]: 48 bytes expected`)
      return hex(x)
    })
    if (b.mrTd.byteLength > 0) {
      if (b.mrTd.byteLength !== 48) throw malformed('policy.tdQuoteBodyPolicy.mrTd: 48 bytes expected')
      m.value('policy.tdQuoteBodyPolicy.mrTd', hex(b.mrTd))
      if (anyMrTd.length > 0) m.oneOf('policy.tdQuoteBodyPolicy.anyMrTd', 'mrTd', anyMrTd)
    } else {
      for (const v of anyMrTd) m.values.push(v)
      if (anyMrTd.length > 0) m.group('policy.tdQuoteBodyPolicy.anyMrTd', ['value'])
    }
    if (b.enableTdDebugCheck) m.equals('policy.tdQuoteBodyPolicy.enableTdDebugCheck', 'debug', false)
  }
  const rot = config.rootOfTrust
  if (rot !== undefined) {
    if (rot.cabundlePaths.length > 0 || rot.cabundles.length > 0) {
      throw malformed("rootOfTrust.cabundles / cabundlePaths: not supported (keybroker pins Intel's root; register extra roots as collateral)")
    }
    if (rot.checkCrl) m.equals('rootOfTrust.checkCrl', 'crl', 'checked')
    // TCB info and QE identity are always required: the tdx verifier never skips collateral.
    m.verifier('rootOfTrust.getCollateral')
  }
  if (m.values.length === 0 && m.expect.length === 0) throw malformed('document: no expectation found')
  return {
    format: 'gotdxguest',
    digest,
    ignored,
    fields: m.fields,
    set: { name: input.name, evidenceType: input.evidenceType ?? 'tdx', allowDebug: false, expect: m.expect, values: m.values.map((measurement) => ({ measurement })) },
  }
}
