/** Named release policies and their versions (every change is a new version; old ones stay readable). */
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'
import type { Executor } from './db.js'
import { certificateProfiles, policies, policyVersions, sealingKeys, secrets } from './schema.js'
import { guard } from './storage-error.js'

export interface StoredRule {
  readonly name: string
  readonly expr: string
  readonly description?: string
}

export interface PolicyVersion {
  readonly name: string
  readonly version: number
  readonly description: string
  readonly rules: readonly StoredRule[]
  readonly createdAt: Date
  readonly createdBy: string
}

export interface PolicyMeta {
  readonly name: string
  readonly currentVersion: number
  readonly createdAt: Date
  readonly updatedAt: Date
}

export interface NewPolicyVersion {
  readonly description: string
  readonly rules: readonly StoredRule[]
  readonly at: Date
  readonly by: string
}

/**
 * Creates policy `name` at version 1.
 * @throws KeybrokerError `conflict` when it exists (ON CONFLICT DO NOTHING: the caller's
 *   transaction stays usable); `not-ready` / `internal` on database failure.
 */
export function createPolicy(ex: Executor, name: string, input: NewPolicyVersion): Promise<PolicyVersion> {
  return guard('createPolicy', () =>
    ex.transaction(async (tx) => {
      const created = await tx
        .insert(policies)
        .values({ name, currentVersion: 1, createdAt: input.at, updatedAt: input.at })
        .onConflictDoNothing({ target: policies.name })
        .returning({ name: policies.name })
      if (created.length === 0) throw new KeybrokerError('conflict', `policy ${name} already exists`)
      return insertVersion(tx, name, 1, input)
    }),
  )
}

/**
 * Stores a new version of policy `name` and makes it current (row lock of the UPDATE: concurrent
 * updates get consecutive versions).
 * @throws KeybrokerError `not-found` when the policy does not exist; `not-ready` / `internal`.
 */
export function addPolicyVersion(ex: Executor, name: string, input: NewPolicyVersion): Promise<PolicyVersion> {
  return guard('addPolicyVersion', () =>
    ex.transaction(async (tx) => {
      const rows = await tx
        .update(policies)
        .set({ currentVersion: sql`${policies.currentVersion} + 1`, updatedAt: input.at })
        .where(eq(policies.name, name))
        .returning({ version: policies.currentVersion })
      const row = rows[0]
      if (row === undefined) throw new KeybrokerError('not-found', `policy ${name} does not exist`)
      return insertVersion(tx, name, row.version, input)
    }),
  )
}

async function insertVersion(ex: Executor, name: string, version: number, input: NewPolicyVersion): Promise<PolicyVersion> {
  const rules = input.rules.map((r) => ({ name: r.name, expr: r.expr, ...(r.description === undefined ? {} : { description: r.description }) }))
  await ex.insert(policyVersions).values({ name, version, description: input.description, rules, createdAt: input.at, createdBy: input.by })
  return { name, version, description: input.description, rules, createdAt: input.at, createdBy: input.by }
}

/**
 * The current version of policy `name`, or `undefined`.
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getCurrentPolicy(ex: Executor, name: string): Promise<PolicyVersion | undefined> {
  return guard('getCurrentPolicy', async () => (await selectCurrent(ex, [name]))[0])
}

/**
 * The current versions of the policies among `names`, keyed by name, in one query (hot path).
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getCurrentPolicies(ex: Executor, names: readonly string[]): Promise<Map<string, PolicyVersion>> {
  return guard('getCurrentPolicies', async () => {
    const map = new Map<string, PolicyVersion>()
    if (names.length === 0) return map
    for (const p of await selectCurrent(ex, [...new Set(names)])) map.set(p.name, p)
    return map
  })
}

async function selectCurrent(ex: Executor, names: readonly string[] | undefined): Promise<PolicyVersion[]> {
  return ex
    .select({
      name: policyVersions.name,
      version: policyVersions.version,
      description: policyVersions.description,
      rules: policyVersions.rules,
      createdAt: policyVersions.createdAt,
      createdBy: policyVersions.createdBy,
    })
    .from(policies)
    .innerJoin(policyVersions, and(eq(policyVersions.name, policies.name), eq(policyVersions.version, policies.currentVersion)))
    .where(names === undefined ? undefined : inArray(policies.name, [...names]))
    .orderBy(asc(sql`${policies.name} collate "C"`))
}

/**
 * Every policy at its current version, ordered by name.
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function listPolicies(ex: Executor): Promise<PolicyVersion[]> {
  return guard('listPolicies', () => selectCurrent(ex, undefined))
}

/**
 * Every version of policy `name`, newest first; `[]` when it does not exist.
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function listPolicyVersions(ex: Executor, name: string): Promise<PolicyVersion[]> {
  return guard('listPolicyVersions', () =>
    ex.select().from(policyVersions).where(eq(policyVersions.name, name)).orderBy(desc(policyVersions.version)),
  )
}

/**
 * Version `version` of policy `name`, or `undefined`.
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function getPolicyVersion(ex: Executor, name: string, version: number): Promise<PolicyVersion | undefined> {
  return guard('getPolicyVersion', async () => {
    const rows = await ex.select().from(policyVersions).where(and(eq(policyVersions.name, name), eq(policyVersions.version, version)))
    return rows[0]
  })
}

/**
 * Deletes policy `name` with its versions. Returns `false` when it did not exist.
 * @throws KeybrokerError `conflict` while a secret or a sealing key is guarded by it; `not-ready` / `internal`.
 */
export function deletePolicy(ex: Executor, name: string): Promise<boolean> {
  return guard('deletePolicy', () =>
    ex.transaction(async (tx) => {
      // Lock the policy row first so that no secret is attached between the check and the delete.
      const locked = await tx.select({ name: policies.name }).from(policies).where(eq(policies.name, name)).for('update')
      if (locked.length === 0) return false
      const users = await tx.select({ name: secrets.name }).from(secrets).where(eq(secrets.policy, name)).limit(5)
      if (users.length > 0) {
        throw new KeybrokerError('conflict', `policy ${name} guards secret(s) ${users.map((u) => u.name).join(', ')}; detach it first`)
      }
      const keys = await tx.select({ name: sealingKeys.name }).from(sealingKeys).where(eq(sealingKeys.policy, name)).limit(5)
      if (keys.length > 0) {
        throw new KeybrokerError('conflict', `policy ${name} gates sealing key(s) ${keys.map((k) => k.name).join(', ')}; detach it first`)
      }
      const profiles = await tx.select({ name: certificateProfiles.name }).from(certificateProfiles).where(eq(certificateProfiles.policy, name)).limit(5)
      if (profiles.length > 0) {
        throw new KeybrokerError('conflict', `policy ${name} gates certificate profile(s) ${profiles.map((p) => p.name).join(', ')}; detach it first`)
      }
      await tx.delete(policies).where(eq(policies.name, name))
      return true
    }),
  )
}

/**
 * True when policy `name` exists; with `lock`, its row stays locked until the transaction ends
 * (attaching a policy to a secret races with deleting the policy otherwise).
 * @throws KeybrokerError `not-ready` / `internal` on database failure.
 */
export function policyExists(ex: Executor, name: string, lock = false): Promise<boolean> {
  return guard('policyExists', async () => {
    const q = ex.select({ name: policies.name }).from(policies).where(eq(policies.name, name))
    return (await (lock ? q.for('share') : q)).length === 1
  })
}
