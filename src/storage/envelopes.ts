/**
 * Every envelope sealed at rest under a KEK, across the tables that hold one: secret versions,
 * sealing-key versions, CA keys and the audit chain's HMAC key. Each row carries its envelope and, beside it, the id of the
 * KEK that wraps it (the same id the envelope header names), so the KEKs in use are known without
 * opening anything. A new table with a KEK envelope is added to {@link ENVELOPE_TABLES} and nowhere
 * else: the start-up check, `keybroker kek status` and `keybroker kek rewrap` all read this list.
 */
import { and, asc, count, eq, gt, ne, or, sql, type SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import type { Executor } from './db.js'
import { auditKeys, caVersions, sealingKeyVersions, secretVersions } from './schema.js'
import { guard } from './storage-error.js'

export const ENVELOPE_KINDS = ['secret-version', 'sealing-key-version', 'ca-key', 'audit-key'] as const
export type EnvelopeKind = (typeof ENVELOPE_KINDS)[number]

/** One stored envelope and the row it belongs to. */
export interface StoredEnvelope {
  readonly kind: EnvelopeKind
  /** Secret, sealing key or CA name; `''` for the audit key. */
  readonly owner: string
  /** The version; the key id for the audit key. */
  readonly version: number
  /** What else the envelope's AAD binds: the sealing key's `kid`, the CA key id; `''` for secrets. */
  readonly keyId: string
  readonly kekId: string
  readonly envelope: Uint8Array
}

interface EnvelopeTable {
  readonly table: PgTable
  /** Absent where the version alone names the row (the audit key). */
  readonly owner: PgColumn | undefined
  readonly version: PgColumn
  readonly keyId: PgColumn | undefined
  readonly kekId: PgColumn
  readonly envelope: PgColumn
}

const ENVELOPE_TABLES: Readonly<Record<EnvelopeKind, EnvelopeTable>> = {
  'secret-version': {
    table: secretVersions,
    owner: secretVersions.secretName,
    version: secretVersions.version,
    keyId: undefined,
    kekId: secretVersions.kekId,
    envelope: secretVersions.envelope,
  },
  'sealing-key-version': {
    table: sealingKeyVersions,
    owner: sealingKeyVersions.sealingKeyName,
    version: sealingKeyVersions.version,
    keyId: sealingKeyVersions.kid,
    kekId: sealingKeyVersions.kekId,
    envelope: sealingKeyVersions.envelope,
  },
  'ca-key': {
    table: caVersions,
    owner: caVersions.caName,
    version: caVersions.version,
    keyId: caVersions.keyId,
    kekId: caVersions.kekId,
    envelope: caVersions.envelope,
  },
  'audit-key': {
    table: auditKeys,
    owner: undefined,
    version: auditKeys.id,
    keyId: undefined,
    kekId: auditKeys.kekId,
    envelope: auditKeys.envelope,
  },
}

export interface EnvelopeCount {
  readonly kind: EnvelopeKind
  readonly kekId: string
  readonly count: number
}

/**
 * How many envelopes each KEK wraps, per kind (kinds and KEKs without envelopes are absent).
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function countEnvelopesByKek(ex: Executor): Promise<EnvelopeCount[]> {
  return guard('countEnvelopesByKek', async () => {
    const out: EnvelopeCount[] = []
    for (const kind of ENVELOPE_KINDS) {
      const t = ENVELOPE_TABLES[kind]
      const rows = await ex.select({ kekId: t.kekId, n: count() }).from(t.table).groupBy(t.kekId).orderBy(asc(t.kekId))
      for (const r of rows) out.push({ kind, kekId: String(r.kekId), count: Number(r.n) })
    }
    return out
  })
}

/** Where a scan of one kind stands: the last row handed out (rows are ordered by owner, version). */
export interface EnvelopeCursor {
  readonly owner: string
  readonly version: number
}

/**
 * Up to `limit` envelopes of `kind` not wrapped by `kekId`, after `cursor`, ordered by owner and
 * version, locked (`FOR UPDATE`) when `ex` is a transaction so that a concurrent rewrap of the
 * same rows waits instead of doing the work twice.
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function selectEnvelopesNotUnder(
  ex: Executor,
  kind: EnvelopeKind,
  kekId: string,
  limit: number,
  cursor?: EnvelopeCursor,
): Promise<StoredEnvelope[]> {
  return guard('selectEnvelopesNotUnder', async () => {
    const t = ENVELOPE_TABLES[kind]
    const conditions: SQL[] = [ne(t.kekId, kekId)]
    if (cursor !== undefined) {
      const after = t.owner === undefined ? gt(t.version, cursor.version) : or(gt(t.owner, cursor.owner), and(eq(t.owner, cursor.owner), gt(t.version, cursor.version)))
      if (after !== undefined) conditions.push(after)
    }
    const rows = await ex
      .select({ owner: t.owner ?? sql<string>`''`, version: t.version, keyId: t.keyId ?? sql<string>`''`, kekId: t.kekId, envelope: t.envelope })
      .from(t.table)
      .where(and(...conditions))
      .orderBy(...(t.owner === undefined ? [asc(t.version)] : [asc(t.owner), asc(t.version)]))
      .limit(limit)
      .for('update')
    return rows.map((r) => {
      if (!(r.envelope instanceof Uint8Array)) throw new TypeError(`${kind} envelope did not decode to bytes`)
      return {
        kind,
        owner: String(r.owner),
        version: Number(r.version),
        keyId: t.keyId === undefined ? '' : String(r.keyId),
        kekId: String(r.kekId),
        envelope: r.envelope,
      }
    })
  })
}

/**
 * Replaces the envelope of `row` by `envelope` under `kekId`, provided the row is still wrapped
 * by `row.kekId` (compare-and-set: a concurrent rewrap that got there first wins, no double work).
 * @returns whether the row was replaced.
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function replaceEnvelope(ex: Executor, row: StoredEnvelope, kekId: string, envelope: Uint8Array): Promise<boolean> {
  return guard('replaceEnvelope', async () => {
    const t = ENVELOPE_TABLES[row.kind]
    const where = and(...(t.owner === undefined ? [] : [eq(t.owner, row.owner)]), eq(t.version, row.version), eq(t.kekId, row.kekId))
    // Every envelope table names these two columns alike; one statement per table keeps drizzle's types exact.
    const set = { kekId, envelope }
    const updated =
      row.kind === 'secret-version'
        ? await ex.update(secretVersions).set(set).where(where).returning({ v: secretVersions.version })
        : row.kind === 'sealing-key-version'
          ? await ex.update(sealingKeyVersions).set(set).where(where).returning({ v: sealingKeyVersions.version })
          : row.kind === 'ca-key'
            ? await ex.update(caVersions).set(set).where(where).returning({ v: caVersions.version })
            : await ex.update(auditKeys).set(set).where(where).returning({ v: auditKeys.id })
    return updated.length === 1
  })
}
