import type { JsonValue } from '../evidence/types.js'
import type { TrustClaimName } from './trust-vector.js'

/**
 * The catalogue of claims a reference-value set may expect, per evidence type. A set names
 * claims from this catalogue only; anything else is refused when the set is registered
 * (`claim-unknown`), never ignored at request time.
 *
 * Each entry says where the verified claims hold the value (`path` into the normalized
 * {@link AppraisalClaims}: `measurements`, `tcb`, `raw`, …), its type, which operators apply,
 * and which AR4SI trust claim a mismatch lowers. A new evidence type plugs in by adding its
 * entries here; its verifier only has to put the values at these paths.
 */
export type ClaimType = 'hex' | 'uint' | 'bool' | 'string' | 'files'
export type ClaimOperator = 'equals' | 'oneOf' | 'atLeast' | 'files'

export interface ClaimSpec {
  readonly name: string
  readonly type: ClaimType
  /** Exact size in bytes for `hex` claims, when the spec fixes one. */
  readonly bytes?: number
  readonly operators: readonly ClaimOperator[]
  /** Where the value sits in the claims; the first path that holds a value wins. */
  readonly paths: readonly (readonly string[])[]
  /** For values derived from several claims (boot events): used instead of `paths`. */
  readonly derive?: (claims: AppraisalClaims) => JsonValue | undefined
  /** The AR4SI claim that a mismatch of this claim lowers. */
  readonly trust: Exclude<TrustClaimName, 'instance-identity' | 'runtime-opaque' | 'storage-opaque' | 'sourced-data'>
  readonly description: string
}

/** The claims appraisal reads: a verifier's `Claims` without the report data, or a token's claims. */
export interface AppraisalClaims {
  readonly evidenceType?: string
  readonly platform?: string
  readonly measurement: string
  readonly debug: boolean
  readonly hardwareBacked: boolean
  readonly measurements?: Readonly<Record<string, string>>
  readonly tcb?: Readonly<Record<string, number | string>>
  readonly hostData?: string
  readonly instanceId?: string
  readonly raw?: Readonly<Record<string, JsonValue>>
  /** Composite evidence: what ties its TEE report to its TPM quote (src/evidence/types.ts `TeeTpmTie`). */
  readonly teeTpmTie?: string
}

const HEX_EQ: readonly ClaimOperator[] = ['equals', 'oneOf']
const SVN: readonly ClaimOperator[] = ['equals', 'oneOf', 'atLeast']
const BOOL: readonly ClaimOperator[] = ['equals']
const STR: readonly ClaimOperator[] = ['equals', 'oneOf']

const hex = (name: string, bytes: number | undefined, paths: readonly (readonly string[])[], trust: ClaimSpec['trust'], description: string): ClaimSpec => ({
  name,
  type: 'hex',
  ...(bytes === undefined ? {} : { bytes }),
  operators: HEX_EQ,
  paths,
  trust,
  description,
})
const uint = (name: string, paths: readonly (readonly string[])[], trust: ClaimSpec['trust'], description: string): ClaimSpec => ({
  name,
  type: 'uint',
  operators: SVN,
  paths,
  trust,
  description,
})
const flag = (name: string, paths: readonly (readonly string[])[], trust: ClaimSpec['trust'], description: string): ClaimSpec => ({
  name,
  type: 'bool',
  operators: BOOL,
  paths,
  trust,
  description,
})
const str = (name: string, paths: readonly (readonly string[])[], trust: ClaimSpec['trust'], description: string): ClaimSpec => ({
  name,
  type: 'string',
  operators: STR,
  paths,
  trust,
  description,
})

/** Claims every evidence type has (src/evidence/types.ts `Claims`). */
const COMMON: readonly ClaimSpec[] = [
  hex('measurement', undefined, [['measurement']], 'executables', 'the primary launch measurement (SNP MEASUREMENT, TDX MRTD, …)'),
  flag('debug', [['debug']], 'configuration', 'debug enabled'),
  flag('hardwareBacked', [['hardwareBacked']], 'hardware', 'evidence signed by hardware (false only for development evidence)'),
]

const SNP_POLICY_FLAGS = ['smt', 'migrateMa', 'debug', 'singleSocket', 'cxlAllow', 'memAes256Xts', 'raplDis', 'ciphertextHiding', 'pageSwapDisable'] as const
const SNP_TCB = ['bootloader', 'tee', 'snp', 'microcode', 'fmc'] as const

/** AMD SEV-SNP (src/evidence/snp/to-claims.ts; ABI spec 56860 field names). */
const SNP: readonly ClaimSpec[] = [
  hex('hostData', 32, [['hostData']], 'configuration', 'HOST_DATA supplied by the host at launch'),
  hex('idKeyDigest', 48, [['measurements', 'idKeyDigest']], 'executables', 'SHA-384 of the ID block signing key'),
  hex('authorKeyDigest', 48, [['measurements', 'authorKeyDigest']], 'executables', 'SHA-384 of the ID key author key'),
  hex('familyId', 16, [['measurements', 'familyId']], 'executables', 'FAMILY_ID of the ID block'),
  hex('imageId', 16, [['measurements', 'imageId']], 'executables', 'IMAGE_ID of the ID block'),
  uint('guestSvn', [['raw', 'guestSvn']], 'executables', 'GUEST_SVN of the ID block (minimum guest SVN: atLeast)'),
  uint('vmpl', [['raw', 'vmpl']], 'configuration', 'VMPL the report was requested at'),
  uint('policy.abiMajor', [['raw', 'policyFlags', 'abiMajor']], 'configuration', 'guest policy ABI_MAJOR'),
  uint('policy.abiMinor', [['raw', 'policyFlags', 'abiMinor']], 'configuration', 'guest policy ABI_MINOR'),
  ...SNP_POLICY_FLAGS.map((f) => flag(`policy.${f}`, [['raw', 'policyFlags', f]], 'configuration', `guest policy flag ${f}`)),
  ...SNP_TCB.map((c) => uint(`tcb.${c}`, [['tcb', c]], 'hardware', `REPORTED_TCB ${c} SPL (minimum TCB: atLeast)`)),
  str('product', [['raw', 'product']], 'hardware', 'processor line: Milan, Genoa, Turin'),
  str('signingKey', [['raw', 'signingKey']], 'hardware', 'endorsement key kind: vcek or vlek'),
  hex('chipId', 64, [['raw', 'chipId']], 'hardware', 'CHIP_ID (zeros with MASK_CHIP_KEY or a VLEK)'),
  hex('reportId', 32, [['raw', 'reportId']], 'configuration', 'REPORT_ID of the guest'),
  hex('reportIdMa', 32, [['raw', 'reportIdMa']], 'configuration', 'REPORT_ID_MA: the migration agent (all ff: none)'),
  flag('authorKeyEn', [['raw', 'authorKeyEn']], 'executables', 'AUTHOR_KEY_EN: the ID block is signed by an author key'),
  ...SNP_TCB.map((c) => uint(`launchTcb.${c}`, [['raw', 'launchTcb', c]], 'hardware', `LAUNCH_TCB ${c} SPL (minimum launch TCB: atLeast)`)),
  uint('firmware.build', [['raw', 'currentVersion', 'build']], 'hardware', 'CURRENT_BUILD of the SNP firmware (minimum build: atLeast)'),
  {
    ...uint('firmware.version', [], 'hardware', 'CURRENT_MAJOR * 256 + CURRENT_MINOR of the SNP firmware (minimum version 1.55 = 311: atLeast)'),
    derive: (c) => versionNumber(childOf(c.raw, 'currentVersion')),
  },
  {
    ...flag('firmware.provisional', [], 'hardware', 'committed TCB, version or build differ from the current ones (provisional firmware)'),
    derive: (c) => provisional(c),
  },
  {
    ...uint('policy.abiVersion', [], 'configuration', 'guest policy ABI_MAJOR * 256 + ABI_MINOR (minimum ABI: atLeast)'),
    derive: (c) => {
      const flags = childOf(c.raw, 'policyFlags')
      const major = childOf(flags, 'abiMajor')
      const minor = childOf(flags, 'abiMinor')
      return typeof major === 'number' && typeof minor === 'number' ? major * 256 + minor : undefined
    },
  },
  str('crl', [['raw', 'crl']], 'hardware', 'CRL state of the endorsement chain: checked, stale, absent'),
]

function versionNumber(v: JsonValue | undefined): number | undefined {
  const major = childOf(v, 'major')
  const minor = childOf(v, 'minor')
  return typeof major === 'number' && typeof minor === 'number' ? major * 256 + minor : undefined
}

/** go-sev-guest's "provisional firmware": COMMITTED_TCB/version/build differ from CURRENT. */
function provisional(c: AppraisalClaims): boolean | undefined {
  const current = childOf(c.raw, 'currentVersion')
  const committed = childOf(c.raw, 'committedVersion')
  const currentTcb = childOf(childOf(c.raw, 'currentTcb'), 'raw')
  const committedTcb = childOf(childOf(c.raw, 'committedTcb'), 'raw')
  if (current === undefined || committed === undefined || currentTcb === undefined || committedTcb === undefined) return undefined
  const same = ['major', 'minor', 'build'].every((k) => childOf(current, k) === childOf(committed, k))
  return !(same && currentTcb === committedTcb)
}

const TDX_REGISTERS = ['mrTd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mrConfigId', 'mrOwner', 'mrOwnerConfig', 'mrSeam', 'mrSignerSeam'] as const

/**
 * Intel TDX (TD report body names of the DCAP quote spec, camelCase). The verifier puts the
 * registers in `measurements`, the TEE TCB SVN (16 bytes, hex) and the TCB status of the TCB
 * info collateral in `raw`.
 */
const TDX: readonly ClaimSpec[] = [
  hex('mrServiceTd', 48, [['measurements', 'mrServiceTd']], 'configuration', 'MRSERVICETD (TDX 1.5)'),
  uint('pceSvn', [['tcb', 'pceSvn'], ['raw', 'pceSvn']], 'hardware', 'PCE SVN of the PCK certificate (atLeast)'),
  uint('qeIsvSvn', [['raw', 'qeIsvSvn']], 'hardware', 'ISV SVN of the quoting enclave (atLeast)'),
  str('tdxModuleStatus', [['tcb', 'tdxModuleStatus'], ['raw', 'tdxModuleStatus']], 'hardware', 'TCB status of the TDX module (oneOf)'),
  ...TDX_REGISTERS.map((r) => hex(r, 48, [['measurements', r], ['raw', r]], r.startsWith('rtmr') || r === 'mrTd' ? 'executables' : 'configuration', `TD report ${r}`)),
  {
    name: 'teeTcbSvn',
    type: 'hex',
    bytes: 16,
    operators: ['equals', 'oneOf', 'atLeast'],
    paths: [['raw', 'teeTcbSvn']],
    trust: 'hardware',
    description: 'TEE_TCB_SVN; atLeast compares each of the 16 SVN bytes',
  },
  {
    name: 'teeTcbSvn2',
    type: 'hex',
    bytes: 16,
    operators: ['equals', 'oneOf', 'atLeast'],
    paths: [['raw', 'teeTcbSvn2']],
    trust: 'hardware',
    description: 'TEE_TCB_SVN_2 of TDX 1.5 bodies (quote v5, body type 3): the SVNs of the TDX module running now, after TD-preserving updates; absent on TDX 1.0 bodies, so any expectation on it fails there. atLeast compares each of the 16 bytes',
  },
  str('tdxVersion', [['raw', 'tdxVersion']], 'hardware', 'TD report body version: 1.0 (quote v4, v5 body type 2) or 1.5 (v5 body type 3) (oneOf)'),
  str('tcbStatus', [['raw', 'tcbStatus'], ['tcb', 'status']], 'hardware', 'TCB status from TCB info (UpToDate, SWHardeningNeeded, …): oneOf the accepted ones'),
  hex('qeVendorId', 16, [['raw', 'qeVendorId']], 'hardware', 'QE_VENDOR_ID of the quote header (Intel: 939a7233f79c4ca9940a0db3957f0607)'),
  hex('tdAttributes', 8, [['raw', 'tdAttributes']], 'configuration', 'TD_ATTRIBUTES as the quote holds them (little-endian bytes)'),
  hex('xfam', 8, [['raw', 'xfam']], 'configuration', 'XFAM as the quote holds it (little-endian bytes)'),
  str('crl', [['raw', 'crl']], 'hardware', 'CRL state of the PCK chain (Root CA and PCK CRLs): checked, stale, absent'),
]

const TPM_BANKS = ['sha1', 'sha256', 'sha384', 'sha512'] as const
const TPM_BANK_BYTES: Readonly<Record<(typeof TPM_BANKS)[number], number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }

/**
 * TPM 2.0 (src/evidence/tpm/to-claims.ts): PCR values per bank (`raw.pcrs.<bank>.<index>`),
 * boot events of the replayed TCG event log (`raw.eventLog.events`, only events of PCRs the
 * quote covers) and the IMA list (`raw.ima.files`). Event claims are derived (SHA-256 bank):
 *
 * - `event.bootApplications`: every EV_EFI_BOOT_SERVICES_APPLICATION of PCR 4 (shim, grub, UKI…);
 * - `event.kernel`: the EV_IPL files of PCR 9 named like a kernel (vmlinuz, bzImage), as grub
 *   measures them; without those, the last boot application of PCR 4 (a UKI);
 * - `event.initrd`: the EV_IPL files of PCR 9 named like an initrd (initrd, initramfs);
 * - `event.cmdline`: grub's `kernel_cmdline: …` EV_IPL text of PCR 8, or the EV_IPL texts of
 *   PCR 12 (systemd-stub);
 * - `event.secureBoot`: the SecureBoot variable measured into PCR 7.
 *
 * List-valued claims pass `equals`/`oneOf` only when every entry does (`oneOf` is an allowlist).
 */
const TPM: readonly ClaimSpec[] = [
  ...TPM_BANKS.flatMap((bank) =>
    Array.from({ length: 24 }, (_, i) => hex(`pcr.${bank}.${i}`, TPM_BANK_BYTES[bank], [['raw', 'pcrs', bank, String(i)]], i === 7 ? 'configuration' : 'executables', `PCR ${i} of the ${bank} bank`)),
  ),
  { ...hex('event.bootApplications', 32, [], 'executables', 'SHA-256 digests of the UEFI boot applications (PCR 4)'), derive: (c) => bootApplications(c) },
  { ...hex('event.kernel', 32, [], 'executables', 'SHA-256 digest of the booted kernel (PCR 9 file, or the last PCR 4 boot application)'), derive: (c) => kernelDigests(c) },
  { ...hex('event.initrd', 32, [], 'executables', 'SHA-256 digest of the initrd (PCR 9 file)'), derive: (c) => ipl(c, 9, INITRD).map((e) => e.digest) },
  { ...str('event.cmdline', [], 'configuration', 'kernel command line'), derive: (c) => cmdlines(c) },
  flag('event.secureBoot', [['raw', 'eventLog', 'secureBoot']], 'configuration', 'UEFI SecureBoot enabled (PCR 7)'),
  {
    name: 'ima',
    type: 'files',
    operators: ['files'],
    paths: [],
    derive: (c) => imaFiles(c),
    trust: 'file-system',
    description: 'IMA measurement list: allowed digests per path or path pattern; unknown files deny or warn',
  },
]

/** Composite evidence (a TEE report and a vTPM quote): what ties the two (src/evidence/types.ts `TeeTpmTie`). */
const COMPOSITE: readonly ClaimSpec[] = [
  str('teeTpmTie', [['teeTpmTie']], 'hardware', 'what ties the TEE report to the vTPM quote: tee-report-data, azure-var-data, ak-certificate, registered-ak, none (oneOf)'),
]

/**
 * Cosmian VM (src/evidence/cosmian/): the TPM clock counters of the quote, which a Cosmian
 * snapshot pins (a reboot or TPM restart invalidates it).
 */
const COSMIAN: readonly ClaimSpec[] = [
  uint('tpm.resetCount', [['raw', 'quote', 'resetCount']], 'configuration', 'TPM clockInfo.resetCount: TPM resets (reboots) since the TPM was cleared (equals: no reboot since the snapshot)'),
  uint('tpm.restartCount', [['raw', 'quote', 'restartCount']], 'configuration', 'TPM clockInfo.restartCount: TPM restarts (hibernations) since the last reset'),
]

interface BootEvent {
  readonly pcr: number
  readonly type: string
  readonly digest: string | undefined
  readonly text: string | undefined
}

function bootEvents(c: AppraisalClaims): BootEvent[] | undefined {
  const events = childOf(childOf(c.raw, 'eventLog'), 'events')
  if (events === undefined || events === null || !isJsonArray(events)) return undefined
  return events.map((e) => {
    const pcr = childOf(e, 'pcr')
    const type = childOf(e, 'type')
    const digest = childOf(childOf(e, 'digests'), 'sha256')
    const text = childOf(childOf(e, 'details'), 'text')
    return {
      pcr: typeof pcr === 'number' ? pcr : -1,
      type: typeof type === 'string' ? type : '',
      digest: typeof digest === 'string' ? digest : undefined,
      text: typeof text === 'string' ? text : undefined,
    }
  })
}

const KERNEL = /vmlinu[xz]|bzimage/i
const INITRD = /initrd|initramfs/i

function ipl(c: AppraisalClaims, pcr: number, name: RegExp): { digest: string }[] {
  return (bootEvents(c) ?? []).flatMap((e) =>
    e.pcr === pcr && e.type === 'EV_IPL' && e.digest !== undefined && e.text !== undefined && name.test(e.text) ? [{ digest: e.digest }] : [],
  )
}

function bootApplications(c: AppraisalClaims): JsonValue | undefined {
  const events = bootEvents(c)
  if (events === undefined) return undefined
  return events.flatMap((e) => (e.pcr === 4 && e.type === 'EV_EFI_BOOT_SERVICES_APPLICATION' && e.digest !== undefined ? [e.digest] : []))
}

function kernelDigests(c: AppraisalClaims): JsonValue | undefined {
  if (bootEvents(c) === undefined) return undefined
  const files = ipl(c, 9, KERNEL).map((e) => e.digest)
  if (files.length > 0) return files
  const apps = bootApplications(c)
  return apps !== undefined && apps !== null && isJsonArray(apps) && apps.length > 0 ? [apps[apps.length - 1] ?? null] : undefined
}

function cmdlines(c: AppraisalClaims): JsonValue | undefined {
  const events = bootEvents(c)
  if (events === undefined) return undefined
  const grub = events.flatMap((e) => (e.pcr === 8 && e.type === 'EV_IPL' && e.text?.startsWith('kernel_cmdline: ') ? [e.text.slice('kernel_cmdline: '.length)] : []))
  if (grub.length > 0) return grub
  const stub = events.flatMap((e) => (e.pcr === 12 && e.type === 'EV_IPL' && e.text !== undefined ? [e.text] : []))
  return stub.length > 0 ? stub : undefined
}

/** IMA files as `{path, digest}` (the hex after IMA's `<algo>:` prefix). */
function imaFiles(c: AppraisalClaims): JsonValue | undefined {
  const files = childOf(childOf(c.raw, 'ima'), 'files')
  if (files === undefined || files === null || !isJsonArray(files)) return undefined
  return files.map((f) => {
    const path = childOf(f, 'path')
    const hash = childOf(f, 'fileHash')
    const digest = typeof hash === 'string' ? hash.slice(hash.indexOf(':') + 1) : null
    return { path: typeof path === 'string' ? path : null, digest }
  })
}

/**
 * AMD SEV (pre-SNP) launches with keybroker as the guest owner (src/services/sev-launch.ts): the
 * launch digest GCTX.LD that the PSP's MEASURE was computed over (registered as the set's
 * measurements), and the platform facts MEASURE authenticates (SEV API spec 55766, §6.5.2).
 */
const SEV: readonly ClaimSpec[] = [
  hex('firmwareDigest', 32, [['measurements', 'firmwareDigest']], 'executables', 'GCTX.LD: SHA-256 of OVMF.fd (aleph: with GRUB), plus the kernel-hashes table and SEV-ES VMSAs when used'),
  {
    name: 'policy',
    type: 'uint',
    operators: ['equals', 'oneOf'],
    paths: [['raw', 'policy']],
    trust: 'configuration',
    description: 'guest policy (u32: bit 0 NODBG, 1 NOKS, 2 ES, 3 NOSEND, 4 DOMAIN, 5 SEV, 16-31 minimum API)',
  },
  str('apiVersion', [['raw', 'apiVersion']], 'hardware', 'SEV firmware API version "major.minor" the PSP measured with (oneOf the accepted ones)'),
  uint('build', [['raw', 'build']], 'hardware', 'SEV firmware build id the PSP measured with (minimum build: atLeast)'),
  str('product', [['raw', 'product']], 'hardware', 'processor line whose AMD root signed the platform chain: Naples, Rome, Milan, Genoa, Turin'),
]

const CATALOGUE: ReadonlyMap<string, ReadonlyMap<string, ClaimSpec>> = new Map(
  (
    [
      ['sample', COMMON],
      ['snp', [...COMMON, ...SNP]],
      ['tdx', [...COMMON, ...TDX]],
      ['tpm', [...COMMON, ...TPM]],
      ['az-snp-vtpm', [...COMMON, ...SNP, ...TPM]],
      ['az-tdx-vtpm', [...COMMON, ...TDX, ...TPM]],
      // Automata's cvm-agent collaterals: the TEE report and the TPM quote of one VM.
      ['automata', [...COMMON, ...SNP, ...TDX, ...TPM, ...COMPOSITE]],
      ['sev', [...COMMON, ...SEV]],
      // go-tpm-tools attestations: the vTPM quotes and, when embedded, the SEV-SNP report or TD quote.
      ['gotpm', [...COMMON, ...SNP, ...TDX, ...TPM]],
      // Cosmian VM agents: the TEE quote (SEV-SNP or TDX), the TPM quote and the IMA list of one VM.
      ['cosmian', [...COMMON, ...SNP, ...TDX, ...TPM, ...COMPOSITE, ...COSMIAN]],
    ] as const
  ).map(([type, specs]) => [type, new Map(specs.map((s) => [s.name, s]))]),
)
const COMMON_BY_NAME: ReadonlyMap<string, ClaimSpec> = new Map(COMMON.map((s) => [s.name, s]))

/** Evidence types with a claim catalogue. */
export const CATALOGUED_EVIDENCE_TYPES: readonly string[] = [...CATALOGUE.keys()]

/**
 * The spec of claim `name` for sets of `evidenceType` (`undefined`: a set for any evidence type,
 * which may only expect the common claims). `undefined` when the name is not in the catalogue.
 */
export function claimSpec(evidenceType: string | undefined, name: string): ClaimSpec | undefined {
  if (evidenceType === undefined) return COMMON_BY_NAME.get(name)
  return CATALOGUE.get(evidenceType)?.get(name)
}

/** Every claim name a set of `evidenceType` may expect, for error messages and documentation. */
export function claimNames(evidenceType: string | undefined): readonly string[] {
  return [...(evidenceType === undefined ? COMMON_BY_NAME : CATALOGUE.get(evidenceType) ?? new Map<string, ClaimSpec>()).keys()]
}

/** Reads the value of `spec` from `claims`, or `undefined` when the evidence does not carry it. */
export function readClaim(spec: ClaimSpec, claims: AppraisalClaims): JsonValue | undefined {
  if (spec.derive !== undefined) return spec.derive(claims)
  const root: JsonValue = claimsRoot(claims)
  for (const path of spec.paths) {
    let node: JsonValue | undefined = root
    for (const key of path) node = childOf(node, key)
    if (node !== undefined) return node
  }
  return undefined
}

/** `node[key]` for a JSON object holding `key` as its own member; otherwise `undefined`. */
export function childOf(node: JsonValue | undefined, key: string): JsonValue | undefined {
  if (node === undefined || node === null || typeof node !== 'object' || isJsonArray(node)) return undefined
  return Object.hasOwn(node, key) ? node[key] : undefined
}

export function isJsonArray(v: JsonValue): v is readonly JsonValue[] {
  return Array.isArray(v)
}

function claimsRoot(c: AppraisalClaims): { readonly [k: string]: JsonValue } {
  return {
    measurement: c.measurement,
    debug: c.debug,
    hardwareBacked: c.hardwareBacked,
    measurements: c.measurements ?? {},
    tcb: c.tcb ?? {},
    raw: c.raw ?? {},
    ...(c.hostData === undefined ? {} : { hostData: c.hostData }),
    ...(c.teeTpmTie === undefined ? {} : { teeTpmTie: c.teeTpmTie }),
  }
}
