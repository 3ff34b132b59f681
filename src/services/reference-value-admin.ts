import { KeybrokerError } from '../errors.js'
import {
  createReferenceValueSet,
  deleteReferenceValueSet,
  getReferenceValueSet,
  listReferenceValueSets,
  replaceReferenceValueSet,
  revokeMeasurement,
  type ReferenceValueSet as StoredReferenceValueSet,
} from '../storage/index.js'
import type { AdminPrincipal } from './admin-tokens.js'
import { auditAdminChange } from './audit.js'
import type { Services } from './services.js'

export interface ReferenceValueSetView {
  readonly name: string
  readonly version: number
  readonly allowDebug: boolean
  readonly measurements: { value: string; createdAt: string; revokedAt: string | null; revokeReason: string | null }[]
  readonly createdAt: string
  readonly updatedAt: string
}

export async function createReferenceValues(
  s: Services,
  input: { name: string; measurements: readonly string[]; allowDebug: boolean },
  by: AdminPrincipal,
): Promise<ReferenceValueSetView> {
  const measurements = unique(input.measurements)
  await s.database.db.transaction(async (tx) => {
    await createReferenceValueSet(tx, { name: input.name, measurements, allowDebug: input.allowDebug, at: s.now() })
    await auditAdminChange(tx, s, by, 'reference-values.create', input.name, { measurements, allowDebug: input.allowDebug })
  })
  return getReferenceValues(s, input.name)
}

export async function listReferenceValues(s: Services): Promise<ReferenceValueSetView[]> {
  return (await listReferenceValueSets(s.database.db)).map(toView)
}

export async function getReferenceValues(s: Services, name: string): Promise<ReferenceValueSetView> {
  const set = await getReferenceValueSet(s.database.db, name)
  if (set === undefined) throw new KeybrokerError('not-found', `no such reference-value set: ${name}`)
  return toView(set)
}

export async function replaceReferenceValues(
  s: Services,
  name: string,
  input: { measurements: readonly string[]; allowDebug: boolean },
  by: AdminPrincipal,
): Promise<ReferenceValueSetView> {
  const measurements = unique(input.measurements)
  await s.database.db.transaction(async (tx) => {
    await replaceReferenceValueSet(tx, name, { measurements, allowDebug: input.allowDebug, at: s.now() })
    await auditAdminChange(tx, s, by, 'reference-values.replace', name, { measurements, allowDebug: input.allowDebug })
  })
  return getReferenceValues(s, name)
}

export async function revokeReferenceValue(
  s: Services,
  name: string,
  input: { measurement: string; reason: string },
  by: AdminPrincipal,
): Promise<ReferenceValueSetView> {
  await s.database.db.transaction(async (tx) => {
    await revokeMeasurement(tx, name, input.measurement.toLowerCase(), input.reason, s.now())
    await auditAdminChange(tx, s, by, 'reference-values.revoke', name, { measurement: input.measurement, reason: input.reason })
  })
  return getReferenceValues(s, name)
}

export async function deleteReferenceValues(s: Services, name: string, by: AdminPrincipal): Promise<void> {
  await s.database.db.transaction(async (tx) => {
    if (!(await deleteReferenceValueSet(tx, name))) throw new KeybrokerError('not-found', `no such reference-value set: ${name}`)
    await auditAdminChange(tx, s, by, 'reference-values.delete', name, {})
  })
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values.map((v) => v.toLowerCase()))]
}

function toView(set: StoredReferenceValueSet): ReferenceValueSetView {
  return {
    name: set.name,
    version: set.version,
    allowDebug: set.allowDebug,
    measurements: set.measurements.map((m) => ({
      value: m.value,
      createdAt: m.createdAt.toISOString(),
      revokedAt: m.revokedAt === null ? null : m.revokedAt.toISOString(),
      revokeReason: m.revokeReason,
    })),
    createdAt: set.createdAt.toISOString(),
    updatedAt: set.updatedAt.toISOString(),
  }
}
