/**
 * Reference values from a Cosmian VM snapshot (`CosmianVmSnapshot`, Cosmian/cosmian_vm
 * `crate/client/src/snapshot.rs`; the policies of Cosmian/tee-tools `crate/{sev_quote,tdx_quote,
 * tpm_quote}/src/policy.rs`), the JSON the agent's `GET /snapshot` returns:
 *
 * ```json
 * {"cloud_type": "GCP" | "AWS" | "Azure" | null,
 *  "tee_policy": {"Sev": {…}} | {"Tdx": {"header": {…}, "body": {…}}},
 *  "tpm_policy": {"reset_count": u32 | null, "restart_count": u32 | null} | null,
 *  "filehashes": [["<path>", "<hex>"], …] | null}
 * ```
 *
 * It becomes one `cosmian` reference-value set: the SEV measurement (TDX MR_TD) is the set's
 * value; every other TEE field keybroker can check becomes an expected claim — Cosmian's CLI
 * compares only `measurement` and `report_data` of an SEV policy — except the volatile
 * `report_data`, `report_id` and `report_id_ma`; `tpm_policy` becomes equality on the TPM's
 * reset and restart counters (a reboot invalidates the snapshot, as upstream); `filehashes`
 * becomes the `ima` allow-list (unknown files deny), `boot_aggregate` included. Upstream's
 * lenient exceptions (any all-zero or empty-file digest, spaces read as `_`) are not applied.
 *
 * `null` is accepted wherever upstream allows it (not checked); hex in either case; any key
 * upstream does not define is `bundle-malformed` naming it.
 */
import { createHash } from 'node:crypto'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/types.js'
import type { FieldMapping } from './go-policy.js'
import type { BundleSet } from './bundle-set.js'

export const COSMIAN_SNAPSHOT_FORMAT = 'cosmian-snapshot'
/** A snapshot lists every file of the guest's `/`: tens of thousands of entries. */
export const MAX_COSMIAN_SNAPSHOT_FILES = 200_000

export interface CosmianSnapshotMapping {
  readonly format: typeof COSMIAN_SNAPSHOT_FORMAT
  readonly set: BundleSet
  /** SHA-256 of the snapshot's canonical JSON (keys as given, no white space). */
  readonly digest: string
  readonly fields: readonly FieldMapping[]
  readonly cloudType: string | null
  readonly files: number
}

type Obj = { readonly [k: string]: unknown }

function malformed(detail: string): KeybrokerError {
  return new KeybrokerError('bundle-malformed', `cosmianSnapshot: ${detail}`)
}

function objectAt(v: unknown, where: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed(`${where}: an object expected`)
  return Object.fromEntries(Object.entries(v))
}

function onlyKeys(o: Obj, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw malformed(`${where}.${k.slice(0, 64)}: unknown field (upstream defines ${allowed.join(', ')})`)
}

const HEX = /^[0-9a-fA-F]*$/

/** Fixed-size hex (serde_hex Strict upstream; either case here), lowercased; `null` is undefined. */
function hexAt(o: Obj, key: string, bytes: number, where: string): string | undefined {
  const v = o[key]
  if (v === null || v === undefined) return undefined
  if (typeof v !== 'string' || !HEX.test(v) || v.length !== bytes * 2) throw malformed(`${where}.${key}: ${bytes * 2} hex digits expected`)
  return v.toLowerCase()
}

function uintAt(o: Obj, key: string, where: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = o[key]
  if (v === null || v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw malformed(`${where}.${key}: an unsigned integer expected`)
  return v
}

class Mapper {
  readonly expect: JsonValue[] = []
  readonly fields: FieldMapping[] = []

  claim(field: string, claim: string, op: 'equals' | 'atLeast', value: string | number | boolean | undefined): void {
    if (value === undefined) {
      this.fields.push({ field, to: ['unchecked (null)'] })
      return
    }
    this.expect.push({ claim, [op]: value })
    this.fields.push({ field, to: [`${claim} ${op}`] })
  }

  note(field: string, to: string): void {
    this.fields.push({ field, to: [to] })
  }
}

const SEV_KEYS = ['measurement', 'report_data', 'family_id', 'image_id', 'guest_svn', 'id_key_digest', 'author_key_digest', 'policy', 'report_id', 'report_id_ma'] as const

/** SNP guest policy bits (AMD ABI spec 56860, GUEST_POLICY) as the `snp` claims name them. */
const POLICY_FLAGS: readonly [string, number][] = [
  ['smt', 16],
  ['migrateMa', 18],
  ['debug', 19],
  ['singleSocket', 20],
  ['cxlAllow', 21],
  ['memAes256Xts', 22],
  ['raplDis', 23],
  ['ciphertextHiding', 24],
  ['pageSwapDisable', 25],
]

function mapSev(sev: Obj, m: Mapper): string {
  const w = 'tee_policy.Sev'
  onlyKeys(sev, SEV_KEYS, w)
  const measurement = hexAt(sev, 'measurement', 48, w)
  if (measurement === undefined) throw malformed(`${w}.measurement: keybroker finds reference values by measurement; null is not accepted`)
  m.note(`${w}.measurement`, 'value')
  hexAt(sev, 'report_data', 64, w)
  hexAt(sev, 'report_id', 32, w)
  hexAt(sev, 'report_id_ma', 32, w)
  for (const k of ['report_data', 'report_id', 'report_id_ma']) m.note(`${w}.${k}`, 'volatile (not expected)')
  m.claim(`${w}.family_id`, 'familyId', 'equals', hexAt(sev, 'family_id', 16, w))
  m.claim(`${w}.image_id`, 'imageId', 'equals', hexAt(sev, 'image_id', 16, w))
  m.claim(`${w}.guest_svn`, 'guestSvn', 'equals', uintAt(sev, 'guest_svn', w, 0xffff_ffff))
  m.claim(`${w}.id_key_digest`, 'idKeyDigest', 'equals', hexAt(sev, 'id_key_digest', 48, w))
  m.claim(`${w}.author_key_digest`, 'authorKeyDigest', 'equals', hexAt(sev, 'author_key_digest', 48, w))
  const policy = uintAt(sev, 'policy', w)
  if (policy === undefined) m.note(`${w}.policy`, 'unchecked (null)')
  else {
    const p = BigInt(policy)
    const bit = (n: number): boolean => ((p >> BigInt(n)) & 1n) === 1n
    m.claim(`${w}.policy`, 'policy.abiMinor', 'equals', Number(p & 0xffn))
    m.claim(`${w}.policy`, 'policy.abiMajor', 'equals', Number((p >> 8n) & 0xffn))
    for (const [name, n] of POLICY_FLAGS) m.claim(`${w}.policy`, `policy.${name}`, 'equals', bit(n))
  }
  return measurement
}

function mapTdx(tdx: Obj, m: Mapper): string {
  const w = 'tee_policy.Tdx'
  onlyKeys(tdx, ['header', 'body'], w)
  const header = tdx['header'] === null || tdx['header'] === undefined ? {} : objectAt(tdx['header'], `${w}.header`)
  const body = tdx['body'] === null || tdx['body'] === undefined ? {} : objectAt(tdx['body'], `${w}.body`)
  const wh = `${w}.header`
  const wb = `${w}.body`
  onlyKeys(header, ['minimum_qe_svn', 'minimum_pce_svn', 'qe_vendor_id'], wh)
  onlyKeys(body, ['minimum_tee_tcb_svn', 'mr_seam', 'td_attributes', 'xfam', 'mr_td', 'mr_config_id', 'mr_owner', 'mr_owner_config', 'report_data'], wb)
  m.claim(`${wh}.minimum_qe_svn`, 'qeIsvSvn', 'atLeast', uintAt(header, 'minimum_qe_svn', wh, 0xffff))
  m.claim(`${wh}.minimum_pce_svn`, 'pceSvn', 'atLeast', uintAt(header, 'minimum_pce_svn', wh, 0xffff))
  m.claim(`${wh}.qe_vendor_id`, 'qeVendorId', 'equals', hexAt(header, 'qe_vendor_id', 16, wh))
  const mrTd = hexAt(body, 'mr_td', 48, wb)
  if (mrTd === undefined) throw malformed(`${wb}.mr_td: keybroker finds reference values by measurement; null is not accepted`)
  m.note(`${wb}.mr_td`, 'value')
  m.claim(`${wb}.minimum_tee_tcb_svn`, 'teeTcbSvn', 'atLeast', hexAt(body, 'minimum_tee_tcb_svn', 16, wb))
  m.claim(`${wb}.mr_seam`, 'mrSeam', 'equals', hexAt(body, 'mr_seam', 48, wb))
  m.claim(`${wb}.td_attributes`, 'tdAttributes', 'equals', hexAt(body, 'td_attributes', 8, wb))
  const xfam = uintAt(body, 'xfam', wb)
  // The quote holds XFAM as 8 little-endian bytes, which is how the `xfam` claim reads it.
  const xfamHex = xfam === undefined ? undefined : Buffer.from(new BigUint64Array([BigInt(xfam)]).buffer).toString('hex')
  m.claim(`${wb}.xfam`, 'xfam', 'equals', xfamHex)
  m.claim(`${wb}.mr_config_id`, 'mrConfigId', 'equals', hexAt(body, 'mr_config_id', 48, wb))
  m.claim(`${wb}.mr_owner`, 'mrOwner', 'equals', hexAt(body, 'mr_owner', 48, wb))
  m.claim(`${wb}.mr_owner_config`, 'mrOwnerConfig', 'equals', hexAt(body, 'mr_owner_config', 48, wb))
  hexAt(body, 'report_data', 64, wb)
  m.note(`${wb}.report_data`, 'volatile (not expected)')
  return mrTd
}

function mapFiles(v: unknown, m: Mapper): number {
  if (v === null || v === undefined) {
    m.note('filehashes', 'unchecked (null: no TPM)')
    return 0
  }
  if (!Array.isArray(v)) throw malformed('filehashes: an array of [path, hex] pairs expected')
  if (v.length > MAX_COSMIAN_SNAPSHOT_FILES) throw malformed(`filehashes: more than ${MAX_COSMIAN_SNAPSHOT_FILES} entries`)
  const byPath = new Map<string, Set<string>>()
  v.forEach((pair: unknown, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw malformed(`filehashes[${i}]: a [path, hex] pair expected`)
    const [path, digest] = pair as unknown[]
    if (typeof path !== 'string' || path.length === 0 || path.length > 4096) throw malformed(`filehashes[${i}][0]: a path expected`)
    if (typeof digest !== 'string' || !HEX.test(digest) || ![40, 64, 96, 128].includes(digest.length)) throw malformed(`filehashes[${i}][1]: a SHA-1/256/384/512 hex digest expected`)
    if (!path.startsWith('/') && path !== 'boot_aggregate') throw malformed(`filehashes[${i}][0]: an absolute path or boot_aggregate expected`)
    const set = byPath.get(path) ?? new Set<string>()
    set.add(digest.toLowerCase())
    byPath.set(path, set)
  })
  const files: JsonValue[] = [...byPath].map(([path, digests]) => ({ path, digests: [...digests] }))
  m.expect.push({ claim: 'ima', files, unknownFiles: 'deny' })
  m.fields.push({ field: 'filehashes', to: [`ima files (${byPath.size} paths, unknown files deny)`] })
  return v.length
}

/**
 * Maps a snapshot object to a `cosmian` reference-value set named `name`.
 * @throws KeybrokerError `bundle-malformed` naming the field (unknown key, wrong type or size,
 *   an SGX policy, a null measurement)
 */
export function mapCosmianSnapshot(snapshot: unknown, name: string): CosmianSnapshotMapping {
  const root = objectAt(snapshot, 'snapshot')
  onlyKeys(root, ['cloud_type', 'tee_policy', 'tpm_policy', 'filehashes'], 'snapshot')
  const m = new Mapper()
  const cloud = root['cloud_type']
  if (cloud !== null && cloud !== undefined && cloud !== 'AWS' && cloud !== 'Azure' && cloud !== 'GCP') throw malformed('cloud_type: "AWS", "Azure", "GCP" or null expected')
  const cloudType = typeof cloud === 'string' ? cloud : null
  m.note('cloud_type', 'provenance')

  const tee = objectAt(root['tee_policy'], 'tee_policy')
  const kinds = Object.keys(tee)
  if (kinds.length !== 1) throw malformed('tee_policy: exactly one of Sev, Tdx expected')
  let measurement: string
  if (kinds[0] === 'Sev') measurement = mapSev(objectAt(tee['Sev'], 'tee_policy.Sev'), m)
  else if (kinds[0] === 'Tdx') measurement = mapTdx(objectAt(tee['Tdx'], 'tee_policy.Tdx'), m)
  else if (kinds[0] === 'Sgx') throw malformed('tee_policy.Sgx: SGX is not supported')
  else throw malformed(`tee_policy.${String(kinds[0]).slice(0, 64)}: unknown field (upstream defines Sev, Tdx, Sgx)`)

  const tpm = root['tpm_policy']
  if (tpm === null || tpm === undefined) m.note('tpm_policy', 'unchecked (null: no TPM)')
  else {
    const t = objectAt(tpm, 'tpm_policy')
    onlyKeys(t, ['reset_count', 'restart_count'], 'tpm_policy')
    m.claim('tpm_policy.reset_count', 'tpm.resetCount', 'equals', uintAt(t, 'reset_count', 'tpm_policy', 0xffff_ffff))
    m.claim('tpm_policy.restart_count', 'tpm.restartCount', 'equals', uintAt(t, 'restart_count', 'tpm_policy', 0xffff_ffff))
  }
  const files = mapFiles(root['filehashes'], m)
  const digest = createHash('sha256').update(JSON.stringify(snapshot)).digest('hex')
  return {
    format: COSMIAN_SNAPSHOT_FORMAT,
    set: { name, evidenceType: 'cosmian', allowDebug: false, expect: m.expect, values: [{ measurement }] },
    digest,
    fields: m.fields,
    cloudType,
    files,
  }
}
