import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose'
import { z } from 'zod'
import { KEYED_AUDIT_FORMAT } from '../audit/index.js'
import { KeybrokerError } from '../errors.js'
import {
  getAuditEntry,
  insertAuditCheckpoint,
  latestAuditCheckpoint,
  listAuditCheckpoints,
  readAuditHead,
  type AuditCheckpointRow,
  type AuditHeadRow,
  type Executor,
} from '../storage/index.js'
import type { KeySet } from '../tokens/index.js'
import type { Services } from './services.js'

/**
 * Signed checkpoints of the audit chain (README, "Reliability and security"): the head's id and
 * hash at a moment, in a compact JWS signed with the token key. A checkpoint kept outside the
 * database proves what the chain held up to that entry: a later truncation below it, or a
 * rewrite of any entry up to it, no longer matches — even when made by someone holding the
 * database (and the audit key), as long as they do not hold the token signing key.
 */

/** JWS `typ` of a checkpoint: never accepted as an EAR token, and no token passes as one. */
export const CHECKPOINT_TYP = 'keybroker-audit-checkpoint+jws'

const PayloadSchema = z.strictObject({
  iss: z.string(),
  headId: z.number().int().nonnegative(),
  headHash: z.string().regex(/^[0-9a-f]{64}$/),
  at: z.string().datetime(),
  format: z.literal(KEYED_AUDIT_FORMAT),
})
export type CheckpointPayload = z.infer<typeof PayloadSchema>

export interface CheckpointView {
  readonly id: string
  readonly headId: string
  readonly headHash: string
  readonly at: string
  readonly jws: string
}

function viewOf(row: AuditCheckpointRow): CheckpointView {
  return { id: String(row.id), headId: String(row.headId), headHash: row.headHash, at: row.at.toISOString(), jws: row.jws }
}

/**
 * Signs and stores a checkpoint of the current head. With `onlyIfMoved`, nothing is written when
 * the newest checkpoint already names this head (the periodic writer: an idle log adds nothing).
 * @throws KeybrokerError `internal` if the chain is not keyed; `not-ready` / `internal` on database failure.
 */
export async function writeAuditCheckpoint(
  s: Pick<Services, 'database' | 'keys' | 'config' | 'now'>,
  opts: { onlyIfMoved?: boolean; ex?: Executor } = {},
): Promise<CheckpointView | undefined> {
  const ex = opts.ex ?? s.database.db
  const head = await readAuditHead(ex)
  if (head === undefined || head.format !== KEYED_AUDIT_FORMAT) throw new KeybrokerError('internal', 'the audit chain is not keyed')
  if (opts.onlyIfMoved === true && (await latestAuditCheckpoint(ex))?.headId === head.lastId) return undefined
  const at = s.now()
  const payload: CheckpointPayload = { iss: s.config.issuer, headId: head.lastId, headHash: head.lastHash, at: at.toISOString(), format: KEYED_AUDIT_FORMAT }
  const signer = s.keys.current
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: CHECKPOINT_TYP })
    .sign(signer.privateKey)
  return viewOf(await insertAuditCheckpoint(ex, { headId: head.lastId, headHash: head.lastHash, at, jws }))
}

/** Stored checkpoints after `after`, oldest first; `next` is the cursor of the following page. */
export async function listCheckpoints(s: Pick<Services, 'database'>, after: number | undefined, limit: number): Promise<{ checkpoints: CheckpointView[]; next?: string }> {
  const rows = await listAuditCheckpoints(s.database.db, { ...(after === undefined ? {} : { after }), limit })
  const checkpoints = rows.map(viewOf)
  const last = checkpoints.at(-1)
  return checkpoints.length === limit && last !== undefined ? { checkpoints, next: last.id } : { checkpoints }
}

/**
 * Verifies a checkpoint's signature with one of `keys` (by `kid`) and returns its payload.
 * @throws KeybrokerError `signature-invalid` for anything that is not a checkpoint signed by one of them.
 */
export async function verifyCheckpointJws(jws: string, keys: KeySet): Promise<CheckpointPayload> {
  try {
    const header = decodeProtectedHeader(jws)
    if (header.typ !== CHECKPOINT_TYP) throw new Error(`typ ${String(header.typ)}`)
    const key = keys.verificationKeys.find((k) => k.kid === header.kid)
    if (key === undefined) throw new Error(`unknown kid ${String(header.kid)}`)
    const { payload } = await compactVerify(jws, key.key, { algorithms: [key.alg] })
    const parsed = PayloadSchema.safeParse(JSON.parse(new TextDecoder().decode(payload)))
    if (!parsed.success) throw new Error('payload is not a checkpoint')
    return parsed.data
  } catch (cause) {
    throw new KeybrokerError('signature-invalid', 'not an audit checkpoint signed by this service', { cause })
  }
}

export type CheckpointFailure = 'truncated' | 'checkpoint-mismatch' | 'checkpoint-invalid'

/**
 * Compares checkpoints with a chain that verified up to `head`: a checkpoint beyond the head
 * means entries were removed (`truncated`); an entry whose hash differs from the signed one means
 * the chain up to it was rewritten (`checkpoint-mismatch`). Because every link covers all entries
 * before it, one matching checkpoint vouches for every entry up to its id.
 */
export async function checkCheckpoints(
  ex: Executor,
  head: AuditHeadRow,
  checkpoints: readonly CheckpointPayload[],
): Promise<{ ok: true } | { ok: false; reason: CheckpointFailure; headId: number; at: string }> {
  for (const cp of [...checkpoints].sort((a, b) => b.headId - a.headId)) {
    if (cp.headId === 0) continue
    if (cp.headId > head.lastId) return { ok: false, reason: 'truncated', headId: cp.headId, at: cp.at }
    const entry = await getAuditEntry(ex, cp.headId)
    if (entry === undefined || entry.hash !== cp.headHash) return { ok: false, reason: 'checkpoint-mismatch', headId: cp.headId, at: cp.at }
  }
  return { ok: true }
}

/** Reads the newest stored checkpoint's payload (verified), if any. */
export async function latestStoredCheckpoint(s: Pick<Services, 'database' | 'keys'>): Promise<CheckpointPayload | { invalid: true; id: number } | undefined> {
  const row = await latestAuditCheckpoint(s.database.db)
  if (row === undefined) return undefined
  try {
    return await verifyCheckpointJws(row.jws, s.keys)
  } catch {
    return { invalid: true, id: row.id }
  }
}

/**
 * Extracts checkpoint JWSs from an exported file: the JSON of `GET /admin/v1/audit/checkpoints`
 * (`{"checkpoints": [{"jws": …}, …]}`), one such object, a JSON array of them, or JWS lines.
 * @throws KeybrokerError `bad-request` when nothing in it looks like a checkpoint.
 */
export function checkpointJwsFromFile(text: string): string[] {
  const trimmed = text.trim()
  const found: string[] = []
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      if (JWS.test(v)) found.push(v)
    } else if (Array.isArray(v)) {
      for (const x of v) visit(x)
    } else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>
      if ('checkpoints' in o) visit(o['checkpoints'])
      else if ('jws' in o) visit(o['jws'])
    }
  }
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(trimmed)
    } catch (cause) {
      throw new KeybrokerError('bad-request', 'checkpoint file is not valid JSON', { cause })
    }
    visit(parsed)
  } else {
    for (const line of trimmed.split(/\s+/)) visit(line)
  }
  if (found.length === 0) throw new KeybrokerError('bad-request', 'no checkpoint in the file')
  return found
}

const JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
