/**
 * The KEK lifecycle over every stored envelope (src/storage/envelopes.ts lists the tables):
 * the start-up check that each envelope's KEK is configured, `keybroker kek status`, and
 * `keybroker kek rewrap`, which re-seals envelopes under the current KEK in batches so that an
 * earlier KEK can be dropped from `KEYBROKER_KEK_PREVIOUS`.
 */
import type { AuditKey } from '../audit/index.js'
import { ConfigError } from '../config/config.js'
import { KeybrokerError } from '../errors.js'
import { openAtRest, sealAtRest, type KekRing } from '../secrets/index.js'
import {
  appendAuditEntry,
  countEnvelopesByKek,
  ENVELOPE_KINDS,
  replaceEnvelope,
  selectEnvelopesNotUnder,
  type Database,
  type EnvelopeCursor,
  type EnvelopeKind,
  type StoredEnvelope,
} from '../storage/index.js'
import { caKeyAad } from './ca/ca-key-aad.js'
import { sealingKeyAad } from './sealing-keys.js'
import { auditKeyAad, secretAad } from './secret-aad.js'

interface EnvelopeDeps {
  readonly database: Database
  readonly keks: KekRing
  readonly now: () => Date
  /** The audit chain's key: each committed batch is audited. */
  readonly auditKey: AuditKey
}

/** The AAD an envelope was sealed with: it binds the envelope to its row (see each kind's writer). */
export function envelopeAad(row: Pick<StoredEnvelope, 'kind' | 'owner' | 'version' | 'keyId'>): string {
  switch (row.kind) {
    case 'secret-version':
      return secretAad(row.owner, row.version)
    case 'sealing-key-version':
      return sealingKeyAad(row.owner, row.version, row.keyId)
    case 'ca-key':
      return caKeyAad(row.owner, row.version, row.keyId)
    case 'audit-key':
      return auditKeyAad(row.version)
  }
}

export interface KekStatus {
  /** Id of the KEK that seals new envelopes. */
  readonly current: string
  /** Ids of the earlier KEKs configured. */
  readonly previous: readonly string[]
  /** Envelopes per kind and KEK id, and whether that KEK is configured. */
  readonly envelopes: readonly { kind: EnvelopeKind; kekId: string; count: number; known: boolean }[]
  /** Envelopes not yet under the current KEK (what `rewrap` would do). */
  readonly pending: number
  /** Configured earlier KEKs that no envelope needs any more: they can be removed. */
  readonly unused: readonly string[]
  /** KEK ids that envelopes need but that are not configured (start-up refuses these). */
  readonly unknown: readonly string[]
}

/** Counts the stored envelopes by kind and KEK. */
export async function kekStatus(s: Pick<EnvelopeDeps, 'database' | 'keks'>): Promise<KekStatus> {
  const counts = await countEnvelopesByKek(s.database.db)
  const current = s.keks.current.id
  const previous = s.keks.ids().filter((id) => id !== current)
  const used = new Set(counts.map((c) => c.kekId))
  return {
    current,
    previous,
    envelopes: counts.map((c) => ({ ...c, known: s.keks.get(c.kekId) !== undefined })),
    pending: counts.filter((c) => c.kekId !== current).reduce((n, c) => n + c.count, 0),
    unused: previous.filter((id) => !used.has(id)),
    unknown: [...used].filter((id) => s.keks.get(id) === undefined).sort(),
  }
}

/**
 * The start-up check: every stored envelope must be openable by a configured KEK. Starting
 * anyway would answer "ready" and then fail every release of those secrets.
 * @throws ConfigError naming KEYBROKER_KEK_PREVIOUS (and the KEK ids needed, never a key)
 */
export async function checkEnvelopeKeks(s: Pick<EnvelopeDeps, 'database' | 'keks'>): Promise<void> {
  const status = await kekStatus(s)
  if (status.unknown.length === 0) return
  const what = status.envelopes
    .filter((e) => !e.known)
    .map((e) => `${e.count} ${e.kind} under ${e.kekId}`)
    .join(', ')
  throw new ConfigError(
    'KEYBROKER_KEK_PREVIOUS',
    `stored envelopes are sealed under KEK id ${status.unknown.join(', ')} (${what}), which is neither KEYBROKER_KEK (id ${status.current}) nor in KEYBROKER_KEK_PREVIOUS: give that KEK as KEYBROKER_KEK or in KEYBROKER_KEK_PREVIOUS`,
  )
}

export interface RewrapOptions {
  /** Envelopes per transaction (and per audit entry); default 100. */
  readonly batchSize?: number
  /** Stop after this many batches (the rest is left for the next run); default: no limit. */
  readonly maxBatches?: number
  /** The audit actor; default `cli`. */
  readonly actor?: string
  /** Called after each committed batch. */
  readonly onBatch?: (batch: { kind: EnvelopeKind; rewrapped: number }) => void
}

export interface RewrapResult {
  readonly current: string
  readonly rewrapped: number
  readonly batches: number
  /** Envelopes that no configured KEK opens (left as they are). */
  readonly failed: readonly { kind: EnvelopeKind; owner: string; version: number; kekId: string }[]
  /** Envelopes still not under the current KEK when this run stopped. */
  readonly remaining: number
  /** True when every envelope is under the current KEK. */
  readonly complete: boolean
}

/**
 * Re-seals every envelope not under the current KEK, kind by kind, `batchSize` rows per
 * transaction. Each batch commits its rows together with one audit entry (`kek.rewrap`), so an
 * interrupted run loses nothing and the next run continues with what is left: the selection is
 * simply "rows not under the current KEK". Rows are locked while they are re-sealed and replaced
 * only if still under the KEK they were read under, so concurrent runs (or replicas) do not
 * collide. The plaintext of each envelope exists only between its open and its re-seal.
 */
export async function rewrapEnvelopes(s: EnvelopeDeps, options: RewrapOptions = {}): Promise<RewrapResult> {
  const batchSize = options.batchSize ?? 100
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw new KeybrokerError('bad-request', 'batch size must be 1..10000')
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY
  const current = s.keks.current
  const failed: { kind: EnvelopeKind; owner: string; version: number; kekId: string }[] = []
  let rewrapped = 0
  let batches = 0
  for (const kind of ENVELOPE_KINDS) {
    let cursor: EnvelopeCursor | undefined
    while (batches < maxBatches) {
      const done = await s.database.db.transaction(async (tx) => {
        const rows = await selectEnvelopesNotUnder(tx, kind, current.id, batchSize, cursor)
        if (rows.length === 0) return { seen: 0, rewrapped: 0 }
        const last = rows[rows.length - 1]!
        cursor = { owner: last.owner, version: last.version }
        const from: Record<string, number> = {}
        let n = 0
        for (const row of rows) {
          const aad = envelopeAad(row)
          let plaintext: Uint8Array
          try {
            plaintext = openAtRest(s.keks, row.envelope, aad)
          } catch {
            failed.push({ kind, owner: row.owner, version: row.version, kekId: row.kekId })
            continue
          }
          try {
            if (await replaceEnvelope(tx, row, current.id, sealAtRest(current, plaintext, aad))) {
              n += 1
              from[row.kekId] = (from[row.kekId] ?? 0) + 1
            }
          } finally {
            plaintext.fill(0)
          }
        }
        if (n > 0) {
          await appendAuditEntry(tx, s.auditKey, {
            at: s.now(),
            actor: options.actor ?? 'cli',
            action: 'kek.rewrap',
            subject: kind,
            outcome: 'ok',
            detail: { rewrapped: n, from, to: current.id },
          })
        }
        return { seen: rows.length, rewrapped: n }
      })
      if (done.seen === 0) break
      // Counted once the batch has committed.
      rewrapped += done.rewrapped
      batches += 1
      options.onBatch?.({ kind, rewrapped: done.rewrapped })
    }
  }
  const status = await kekStatus(s)
  return { current: current.id, rewrapped, batches, failed, remaining: status.pending, complete: status.pending === 0 }
}
