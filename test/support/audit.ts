import { listAuditEntries, type AuditEntry } from '../../src/storage/index.js'
import type { TestKeybroker } from './keybroker.js'

/** Every audit entry, oldest first, read straight from the database (tests only). */
export async function allAuditEntries(kb: Pick<TestKeybroker, 'services'>): Promise<AuditEntry[]> {
  const out: AuditEntry[] = []
  for (;;) {
    const page = await listAuditEntries(kb.services.database.db, { after: out.at(-1)?.id ?? 0, limit: 1000 })
    out.push(...page)
    if (page.length < 1000) return out
  }
}

/**
 * The rule names of the newest denied `release` of `secret` through a token: `GET /v1/secrets`
 * answers every refusal alike (no rule names), the audit entry names them.
 */
export async function lastTokenDenialRules(kb: Pick<TestKeybroker, 'services'>, secret: string): Promise<string[]> {
  const entry = (await allAuditEntries(kb)).filter((e) => e.action === 'release' && e.subject === secret && e.outcome === 'denied').at(-1)
  const rules = entry?.detail['failedRules']
  if (!Array.isArray(rules)) throw new Error(`no denied release of ${secret} with failed rules in the audit log`)
  return rules.map((r) => String(r).slice(secret.length + 1))
}
