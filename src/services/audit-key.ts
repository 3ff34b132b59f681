import { randomBytes } from 'node:crypto'
import { AUDIT_KEY_BYTES, auditKeyFromBytes, type AuditKey } from '../audit/index.js'
import { KeybrokerError } from '../errors.js'
import { openAtRest, sealAtRest, type KekRing } from '../secrets/index.js'
import { getAuditKeyRow, insertAuditKeyRow, rekeyAuditChain, type AuditRekeyResult, type Database } from '../storage/index.js'
import { notReady } from './readiness.js'
import { auditKeyAad } from './secret-aad.js'

/** The one audit key today; rotation would add rows and a key id per entry. */
const AUDIT_KEY_ID = 1

/**
 * The audit key of this database: opened from its KEK-sealed envelope in `audit_keys`, or
 * created (32 random bytes, sealed under the current KEK) on the first start. Replicas starting
 * at once race on an insert that only the first wins; all then open the same row.
 *
 * Why a random key sealed in the database rather than one derived from the KEK: the key must
 * outlive KEK rotation — after a re-wrap under a new KEK the chain still verifies, because the key
 * itself did not change, only its envelope.
 *
 * @throws KeybrokerError `internal` when the envelope does not open (unknown KEK, tampered row).
 */
export async function loadAuditKey(database: Database, keks: KekRing, now: Date): Promise<AuditKey> {
  let row = await getAuditKeyRow(database.db, AUDIT_KEY_ID)
  if (row === undefined) {
    const fresh = randomBytes(AUDIT_KEY_BYTES)
    try {
      await insertAuditKeyRow(database.db, {
        id: AUDIT_KEY_ID,
        kekId: keks.current.id,
        envelope: sealAtRest(keks.current, fresh, auditKeyAad(AUDIT_KEY_ID)),
        createdAt: now,
      })
    } finally {
      fresh.fill(0)
    }
    row = await getAuditKeyRow(database.db, AUDIT_KEY_ID)
    if (row === undefined) throw new KeybrokerError('internal', 'audit key row vanished')
  }
  let bytes: Uint8Array
  try {
    bytes = openAtRest(keks, row.envelope, auditKeyAad(AUDIT_KEY_ID))
  } catch (err) {
    throw new KeybrokerError('internal', `the audit key (sealed under KEK ${row.kekId}) does not open with the configured KEK`, { cause: err })
  }
  try {
    return auditKeyFromBytes(AUDIT_KEY_ID, bytes)
  } finally {
    bytes.fill(0)
  }
}

/**
 * Start-up step: re-keys a chain written before the audit key existed (format 1) and records the
 * conversion as an `audit.rekey` entry (entries converted, the old head hash). A broken format-1
 * chain is not converted: the start stops with the first bad entry named, so tampering that
 * happened before the upgrade is never covered by the new keyed chain.
 *
 * @throws KeybrokerError `internal` for a broken chain; `not-ready` / `internal` on database failure.
 */
export async function prepareAuditChain(database: Database, key: AuditKey, now: Date): Promise<AuditRekeyResult> {
  const result = await rekeyAuditChain(database.db, key, ({ entries, legacyHeadHash }) => ({
    at: now,
    actor: 'keybroker',
    action: 'audit.rekey',
    subject: 'audit-log',
    outcome: 'ok',
    detail: { entries, legacyHeadHash, format: 2, keyId: key.id },
  }))
  if (result.status === 'broken') {
    const v = result.verification
    throw new KeybrokerError(
      'internal',
      `the audit log (unkeyed format) is broken at entry ${v.firstBadId} (${v.reason}); it was not re-keyed. Inspect it (keybroker audit verify) before starting`,
    )
  }
  return result
}

/**
 * The audit key of a service that listens before its database is reachable (`keybroker serve`
 * on PostgreSQL): set by the start-up step once the database answers. Requests are refused with
 * 503 `not-ready` until then (the readiness gate); a read before it is set answers the same.
 */
export class DeferredAuditKey implements AuditKey {
  #key: AuditKey | undefined

  set(key: AuditKey): void {
    this.#key = key
  }

  get id(): number {
    return this.#loaded().id
  }

  get key(): Uint8Array {
    return this.#loaded().key
  }

  #loaded(): AuditKey {
    if (this.#key === undefined) throw notReady('starting: the audit key is not loaded yet')
    return this.#key
  }
}
