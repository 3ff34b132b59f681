import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/types.js'
import {
  childOf,
  claimNames,
  claimSpec,
  isJsonArray,
  readClaim,
  type AppraisalClaims,
  type ClaimOperator,
  type ClaimSpec,
} from './claim-catalogue.js'

/**
 * Expected claims of a reference-value set, as admins and bundles write them (one operator per
 * entry):
 *
 * ```json
 * {"claim": "hostData", "equals": "<hex>"}
 * {"claim": "tcbStatus", "oneOf": ["UpToDate", "SWHardeningNeeded"]}
 * {"claim": "tcb.snp", "atLeast": 22}
 * {"claim": "ima", "files": [{"path": "/usr/bin/app", "digests": ["<hex>"]},
 *                            {"pattern": "/opt/app/**", "digests": ["<hex>", …]}],
 *  "unknownFiles": "deny" | "warn"}
 * ```
 *
 * Parsing checks every name against the claim catalogue of the set's evidence type and every
 * value against the claim's type, so that a typo is a 400 at registration, not a silent no-op.
 */
export type ExpectedClaim =
  | { readonly claim: string; readonly spec: ClaimSpec; readonly op: 'equals'; readonly value: string | number | boolean }
  | { readonly claim: string; readonly spec: ClaimSpec; readonly op: 'oneOf'; readonly values: readonly (string | number)[] }
  | { readonly claim: string; readonly spec: ClaimSpec; readonly op: 'atLeast'; readonly value: number | string }
  | {
      readonly claim: string
      readonly spec: ClaimSpec
      readonly op: 'files'
      readonly files: readonly FileRule[]
      readonly unknownFiles: 'deny' | 'warn'
    }

export interface FileRule {
  /** Exactly one of `path` (exact) and `pattern` (`*` within a path segment, `**` across, `?` one character). */
  readonly path?: string
  readonly pattern?: string
  readonly digests: readonly string[]
  readonly matcher: RegExp | undefined
}

/** One expected claim judged against the evidence. `actual` is `null` when the evidence lacks it. */
export interface ClaimResult {
  readonly claim: string
  readonly op: ClaimOperator
  readonly expected: JsonValue
  readonly actual: JsonValue
  readonly passed: boolean
  /** True when the claim passed only with a warning (IMA: unknown files with `unknownFiles: warn`). */
  readonly warning?: boolean
  /** The AR4SI claim it speaks for. */
  readonly trust: ClaimSpec['trust']
  /** Not written in the set: the service's default (the global maximum VMPL). */
  readonly implicit?: boolean
}

const MAX_ONE_OF = 256
/** A Cosmian snapshot lists every file of the guest's `/` (src/bundles/cosmian-snapshot.ts). */
const MAX_FILE_RULES = 200_000
const MAX_PATTERN_WILDCARDS = 8
const MAX_STRING = 4096
/** Paths reported per IMA result: enough to act on, bounded in size. */
const MAX_REPORTED_FILES = 10

function unknown(detail: string): KeybrokerError {
  return new KeybrokerError('claim-unknown', detail)
}

/**
 * Parses the expected claims of a set for `evidenceType` (`undefined`: any type; only the
 * common claims). `where` prefixes error details (e.g. `expect[2]`).
 *
 * @throws KeybrokerError `claim-unknown` for a name outside the catalogue or an operator the
 *   claim does not have; `bad-request` for a value of the wrong type or size.
 */
export function parseExpectedClaims(input: readonly JsonValue[], evidenceType: string | undefined, where = 'expect'): ExpectedClaim[] {
  const seen = new Set<string>()
  return input.map((entry, i) => {
    const parsed = parseExpectedClaim(entry, evidenceType, `${where}[${i}]`)
    if (seen.has(parsed.claim)) throw new KeybrokerError('bad-request', `${where}[${i}]: claim ${parsed.claim} is expected twice`)
    seen.add(parsed.claim)
    return parsed
  })
}

function parseExpectedClaim(entry: JsonValue, evidenceType: string | undefined, where: string): ExpectedClaim {
  const claim = childOf(entry, 'claim')
  if (typeof claim !== 'string') throw new KeybrokerError('bad-request', `${where}: "claim" must be a string`)
  const spec = claimSpec(evidenceType, claim)
  if (spec === undefined) {
    const scope = evidenceType === undefined ? 'a set without evidenceType (set evidenceType for type-specific claims)' : `evidence type ${evidenceType}`
    throw unknown(`${where}: unknown claim ${JSON.stringify(claim.slice(0, 64))} for ${scope}; known: ${claimNames(evidenceType).slice(0, 40).join(', ')}`)
  }
  const keys = entry !== null && typeof entry === 'object' && !isJsonArray(entry) ? Object.keys(entry) : []
  const ops = keys.filter((k) => k !== 'claim' && k !== 'unknownFiles')
  const [op, ...more] = ops
  if (op === undefined || more.length > 0) throw new KeybrokerError('bad-request', `${where}: give exactly one operator (${spec.operators.join(', ')})`)
  if (!isOperator(op) || !spec.operators.includes(op)) {
    throw unknown(`${where}: claim ${claim} has no operator ${JSON.stringify(op.slice(0, 32))}; use ${spec.operators.join(', ')}`)
  }
  if (keys.includes('unknownFiles') && op !== 'files') throw new KeybrokerError('bad-request', `${where}: unknownFiles applies to the files operator only`)
  const raw = childOf(entry, op) ?? null
  switch (op) {
    case 'equals':
      return { claim, spec, op, value: scalarOf(spec, raw, `${where}.equals`) }
    case 'oneOf': {
      if (raw === null || !isJsonArray(raw) || raw.length === 0 || raw.length > MAX_ONE_OF) {
        throw new KeybrokerError('bad-request', `${where}.oneOf: a list of 1 to ${MAX_ONE_OF} values`)
      }
      const values = raw.map((v, i) => scalarOf(spec, v, `${where}.oneOf[${i}]`))
      if (values.some((v) => typeof v === 'boolean')) throw new KeybrokerError('bad-request', `${where}.oneOf: not for booleans`)
      return { claim, spec, op, values: values.filter((v): v is string | number => typeof v !== 'boolean') }
    }
    case 'atLeast': {
      const value = scalarOf(spec, raw, `${where}.atLeast`)
      if (typeof value === 'boolean') throw new KeybrokerError('bad-request', `${where}.atLeast: a number`)
      return { claim, spec, op, value }
    }
    case 'files':
      return { claim, spec, op, files: fileRules(raw, `${where}.files`), unknownFiles: unknownFilesOf(childOf(entry, 'unknownFiles'), where) }
  }
}

function isOperator(op: string): op is ClaimOperator {
  return op === 'equals' || op === 'oneOf' || op === 'atLeast' || op === 'files'
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/

function scalarOf(spec: ClaimSpec, v: JsonValue, where: string): string | number | boolean {
  switch (spec.type) {
    case 'hex': {
      if (typeof v !== 'string' || !HEX.test(v) || v.length > 2 * 1024) throw new KeybrokerError('bad-request', `${where}: hex bytes expected`)
      if (spec.bytes !== undefined && v.length !== 2 * spec.bytes) throw new KeybrokerError('bad-request', `${where}: ${spec.name} is ${spec.bytes} bytes`)
      return v.toLowerCase()
    }
    case 'uint':
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new KeybrokerError('bad-request', `${where}: a non-negative integer expected`)
      return v
    case 'bool':
      if (typeof v !== 'boolean') throw new KeybrokerError('bad-request', `${where}: true or false expected`)
      return v
    case 'string':
      if (typeof v !== 'string' || v.length > MAX_STRING) throw new KeybrokerError('bad-request', `${where}: a string expected`)
      return v
    case 'files':
      throw new KeybrokerError('bad-request', `${where}: ${spec.name} takes the files operator`)
  }
}

function unknownFilesOf(v: JsonValue | undefined, where: string): 'deny' | 'warn' {
  if (v === undefined || v === 'deny') return 'deny'
  if (v === 'warn') return 'warn'
  throw new KeybrokerError('bad-request', `${where}.unknownFiles: "deny" or "warn"`)
}

function fileRules(raw: JsonValue, where: string): FileRule[] {
  if (raw === null || !isJsonArray(raw) || raw.length > MAX_FILE_RULES) throw new KeybrokerError('bad-request', `${where}: a list of at most ${MAX_FILE_RULES} rules`)
  return raw.map((r, i) => {
    const path = childOf(r, 'path')
    const pattern = childOf(r, 'pattern')
    const digests = childOf(r, 'digests')
    const at = `${where}[${i}]`
    if ((path === undefined) === (pattern === undefined)) throw new KeybrokerError('bad-request', `${at}: exactly one of path and pattern`)
    const text = path ?? pattern
    // IMA names its first entry `boot_aggregate` (the digest of the boot PCRs), not a path.
    if (typeof text !== 'string' || !(text.startsWith('/') || (path !== undefined && text === 'boot_aggregate')) || text.length > MAX_STRING) {
      throw new KeybrokerError('bad-request', `${at}: an absolute path (or boot_aggregate)`)
    }
    if (digests === undefined || digests === null || !isJsonArray(digests) || digests.length === 0 || digests.length > MAX_ONE_OF) {
      throw new KeybrokerError('bad-request', `${at}.digests: a list of 1 to ${MAX_ONE_OF} hex digests`)
    }
    const hexDigests = digests.map((d, j) => {
      if (typeof d !== 'string' || !HEX.test(d) || d.length > 128) throw new KeybrokerError('bad-request', `${at}.digests[${j}]: hex digest expected`)
      return d.toLowerCase()
    })
    if (path !== undefined) return { path: text, digests: hexDigests, matcher: undefined }
    return { pattern: text, digests: hexDigests, matcher: globMatcher(text, at) }
  })
}

/** `**` any characters, `*` any within one path segment, `?` one non-slash character; anchored. */
export function globMatcher(pattern: string, where = 'pattern'): RegExp {
  const wildcards = (pattern.match(/\*+|\?/g) ?? []).length
  if (wildcards > MAX_PATTERN_WILDCARDS) throw new KeybrokerError('bad-request', `${where}: at most ${MAX_PATTERN_WILDCARDS} wildcards`)
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? ''
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*'
      while (pattern[i + 1] === '*') i++
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`, 's')
}

/** The JSON form of an expected claim, as stored and shown (the inverse of parsing). */
export function expectedClaimJson(e: ExpectedClaim): { readonly [k: string]: JsonValue } {
  switch (e.op) {
    case 'equals':
    case 'atLeast':
      return { claim: e.claim, [e.op]: e.value }
    case 'oneOf':
      return { claim: e.claim, oneOf: [...e.values] }
    case 'files':
      return {
        claim: e.claim,
        files: e.files.map((f): JsonValue =>
          f.path !== undefined ? { path: f.path, digests: [...f.digests] } : { pattern: f.pattern ?? '', digests: [...f.digests] },
        ),
        unknownFiles: e.unknownFiles,
      }
  }
}

/** Judges one expected claim against the claims. Pure; never throws for evidence content. */
export function evaluateExpectedClaim(e: ExpectedClaim, claims: AppraisalClaims): ClaimResult {
  const actual = readClaim(e.spec, claims)
  const base = { claim: e.claim, op: e.op, trust: e.spec.trust }
  const expected = expectedValueJson(e)
  if (actual === undefined) return { ...base, expected, actual: null, passed: false }
  if (e.op === 'files') return { ...base, ...judgeFiles(e, actual) }
  // A list-valued claim (several kernel loads, several command lines) passes when every entry does.
  const values = isJsonArray(actual) ? actual : [actual]
  const passed = values.length > 0 && values.every((v) => judgeScalar(e, v))
  return { ...base, expected, actual, passed }
}

function expectedValueJson(e: ExpectedClaim): JsonValue {
  switch (e.op) {
    case 'equals':
    case 'atLeast':
      return e.value
    case 'oneOf':
      return [...e.values]
    case 'files':
      return { rules: e.files.length, unknownFiles: e.unknownFiles }
  }
}

function judgeScalar(e: Exclude<ExpectedClaim, { op: 'files' }>, actual: JsonValue): boolean {
  const norm = typeof actual === 'string' && e.spec.type === 'hex' ? actual.toLowerCase() : actual
  switch (e.op) {
    case 'equals':
      return norm === e.value
    case 'oneOf':
      return (typeof norm === 'string' || typeof norm === 'number') && e.values.includes(norm)
    case 'atLeast':
      if (typeof e.value === 'number') return typeof norm === 'number' && norm >= e.value
      return typeof norm === 'string' && hexAtLeast(norm, e.value)
  }
}

/** Component-wise `actual[i] >= minimum[i]` over equally long hex byte strings (TDX TEE_TCB_SVN). */
function hexAtLeast(actual: string, minimum: string): boolean {
  if (actual.length !== minimum.length || !HEX.test(actual)) return false
  for (let i = 0; i < actual.length; i += 2) {
    if (parseInt(actual.slice(i, i + 2), 16) < parseInt(minimum.slice(i, i + 2), 16)) return false
  }
  return true
}

function judgeFiles(e: Extract<ExpectedClaim, { op: 'files' }>, actual: JsonValue): { expected: JsonValue; actual: JsonValue; passed: boolean; warning?: boolean } {
  const expected = expectedValueJson(e)
  if (!isJsonArray(actual)) return { expected, actual: { malformed: true }, passed: false }
  const exact = new Map<string, readonly string[]>()
  for (const f of e.files) if (f.path !== undefined) exact.set(f.path, [...(exact.get(f.path) ?? []), ...f.digests])
  const patterns = e.files.filter((f) => f.matcher !== undefined)
  const mismatched: string[] = []
  const unknownPaths: string[] = []
  let measured = 0
  for (const entry of actual) {
    const path = childOf(entry, 'path')
    const digest = childOf(entry, 'digest')
    if (typeof path !== 'string' || typeof digest !== 'string') {
      mismatched.push('(malformed entry)')
      continue
    }
    measured++
    const allowed = [...(exact.get(path) ?? []), ...patterns.filter((p) => p.matcher?.test(path)).flatMap((p) => p.digests)]
    if (allowed.length === 0) unknownPaths.push(path)
    else if (!allowed.includes(digest.toLowerCase())) mismatched.push(path)
  }
  const passed = mismatched.length === 0 && (unknownPaths.length === 0 || e.unknownFiles === 'warn')
  return {
    expected,
    actual: {
      measured,
      mismatched: mismatched.slice(0, MAX_REPORTED_FILES),
      mismatchedCount: mismatched.length,
      unknown: unknownPaths.slice(0, MAX_REPORTED_FILES),
      unknownCount: unknownPaths.length,
    },
    passed,
    ...(passed && unknownPaths.length > 0 ? { warning: true } : {}),
  }
}
