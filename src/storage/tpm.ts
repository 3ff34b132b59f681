/**
 * The TPM trust registry: attestation keys (registered or enrolled) and the CAs that certify EKs
 * and AKs. Checking that a key or certificate is what it claims is the caller's job
 * (`src/services/tpm-trust.ts`); these functions store and return it.
 */
import { asc, eq } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { Executor } from './db.js'
import { tpmAks, tpmCas, type TpmAkSource, type TpmCaPurpose } from './schema.js'
import { guard } from './storage-error.js'

export interface TpmAk {
  readonly id: string
  readonly name: string
  readonly source: TpmAkSource
  readonly spki: Uint8Array
  readonly tpmPublic: Uint8Array | null
  readonly ekCertificateSha256: string | null
  readonly createdAt: Date
  readonly createdBy: string
}

export interface TpmCa {
  readonly name: string
  readonly purpose: TpmCaPurpose
  readonly certificate: Uint8Array
  readonly sha256: string
  readonly subject: string
  readonly notAfter: Date
  readonly createdAt: Date
  readonly createdBy: string
}

/**
 * Inserts an AK. An AK already present stays as it is (an enrollment repeated with a replayed
 * activation changes nothing); `inserted` says which happened.
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function insertTpmAk(ex: Executor, ak: TpmAk): Promise<{ inserted: boolean; ak: TpmAk }> {
  return guard('insertTpmAk', async () => {
    const rows = await ex.insert(tpmAks).values(ak).onConflictDoNothing({ target: tpmAks.id }).returning()
    if (rows[0] !== undefined) return { inserted: true, ak: rows[0] }
    const existing = await ex.select().from(tpmAks).where(eq(tpmAks.id, ak.id))
    if (existing[0] === undefined) throw new KeybrokerError('internal', 'AK vanished between insert and select')
    return { inserted: false, ak: existing[0] }
  })
}

/** @throws KeybrokerError `not-ready` / `internal` on database failure. */
export function getTpmAk(ex: Executor, id: string): Promise<TpmAk | undefined> {
  return guard('getTpmAk', async () => (await ex.select().from(tpmAks).where(eq(tpmAks.id, id)))[0])
}

/** Every AK, by id. @throws KeybrokerError `not-ready` / `internal` on database failure. */
export function listTpmAks(ex: Executor): Promise<TpmAk[]> {
  return guard('listTpmAks', () => ex.select().from(tpmAks).orderBy(asc(tpmAks.id)))
}

/** @returns whether a row was deleted. @throws KeybrokerError `not-ready` / `internal` on database failure. */
export function deleteTpmAk(ex: Executor, id: string): Promise<boolean> {
  return guard('deleteTpmAk', async () => (await ex.delete(tpmAks).where(eq(tpmAks.id, id)).returning({ id: tpmAks.id })).length > 0)
}

/**
 * Registers a CA under `name`.
 * @throws KeybrokerError `conflict` when the name is taken; `not-ready` / `internal` on database failure.
 */
export function insertTpmCa(ex: Executor, ca: TpmCa): Promise<TpmCa> {
  return guard('insertTpmCa', async () => {
    const rows = await ex.insert(tpmCas).values(ca).onConflictDoNothing({ target: tpmCas.name }).returning()
    if (rows[0] === undefined) throw new KeybrokerError('conflict', `a TPM CA named ${ca.name} exists`)
    return rows[0]
  })
}

/** The CAs of `purpose` (all when undefined), by name. @throws KeybrokerError `not-ready` / `internal` */
export function listTpmCas(ex: Executor, purpose?: TpmCaPurpose): Promise<TpmCa[]> {
  return guard('listTpmCas', () => {
    const q = ex.select().from(tpmCas)
    return (purpose === undefined ? q : q.where(eq(tpmCas.purpose, purpose))).orderBy(asc(tpmCas.name))
  })
}

/** @returns whether a row was deleted. @throws KeybrokerError `not-ready` / `internal` on database failure. */
export function deleteTpmCa(ex: Executor, name: string): Promise<boolean> {
  return guard('deleteTpmCa', async () => (await ex.delete(tpmCas).where(eq(tpmCas.name, name)).returning({ name: tpmCas.name })).length > 0)
}
