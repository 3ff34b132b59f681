import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClientError, generateAttestationKey, reportDataFor } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { lastTokenDenialRules } from '../support/audit.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const GOOD = 'c1'.repeat(48)
const OTHER = 'c2'.repeat(48)
const sample = (measurement: string, debug = false) => (reportData: Uint8Array) => ({ type: 'sample', measurement, reportData: toBase64Url(reportData), debug })

async function problemOf(p: Promise<unknown>): Promise<KeybrokerClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof KeybrokerClientError)) throw new Error(`expected a problem, got ${String(err)}`)
  return err
}

/** Ten rules that all hold for GOOD sample evidence: the benchmark's policy, in test form. */
export const TEN_RULES = [
  { name: 'affirming', expr: 'ear.status == "affirming"' },
  { name: 'matched', expr: 'size(ear.matched) > 0 && size(ear.revoked) == 0' },
  { name: 'debug-off', expr: '!claims.debug' },
  { name: 'type-sample', expr: 'claims.evidenceType in ["sample", "snp", "tdx"]' },
  { name: 'measurement-hex', expr: 'claims.measurement.matches("^[0-9a-f]{96}$")' },
  { name: 'executables', expr: 'ear.trustVector["executables"] <= 3' },
  { name: 'configuration', expr: 'ear.trustVector.configuration == 2' },
  { name: 'via', expr: 'request.via == "attest" || request.via == "token"' },
  { name: 'recent', expr: 'request.time > timestamp("2020-01-01T00:00:00Z")' },
  { name: 'set-named', expr: 'ear.referenceValues.exists(r, r.startsWith("img"))' },
]

describe.each(testDatabases())('release policies on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'img-a', measurements: [GOOD] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'img-b', measurements: [OTHER], allowDebug: true })).status).toBe(201)
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('refuses a rule that does not compile with 400 policy-invalid naming the rule and position', async () => {
    const cases: [string, string, number, number][] = [
      ['syntax', 'claims.debug ==', 1, 14],
      ['unknown-field', 'claims.debgu == false', 1, 7],
      ['undeclared', 'secrets.all == 1', 1, 1],
      ['no-overload', 'claims.debug + 1 == 2', 1, 14],
      ['not-bool', 'claims.measurement', 1, 7],
      ['unknown-fn', 'frobnicate(claims.measurement)', 1, 1],
      ['multi-line', 'claims.debug == false &&\n  ear.stats == "affirming"', 2, 6],
    ]
    for (const [rule, expr, line, column] of cases) {
      const res = await adminCall(kb, 'POST', '/admin/v1/policies', { name: `bad-${rule}`, rules: [{ name: 'ok', expr: 'true' }, { name: rule, expr }] })
      expect(res.status, rule).toBe(400)
      expect(res.body.type).toBe('https://keybroker.dev/problems/policy-invalid')
      expect(res.body.errors[0], rule).toMatchObject({ rule, line, column })
    }
    const dup = await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'dup', rules: [{ name: 'a', expr: 'true' }, { name: 'a', expr: 'true' }] })
    expect(dup.body.type).toBe('https://keybroker.dev/problems/policy-invalid')
    expect((await adminCall(kb, 'GET', '/admin/v1/policies/bad-syntax')).status).toBe(404)
  })

  it('creates, versions, reads, lists and deletes policies; only admins write', async () => {
    const body = { name: 'p1', description: 'first', rules: [{ name: 'not-debug', expr: '!claims.debug', description: 'debug off' }] }
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', body, kb.tokens.registrar)).status).toBe(403)
    const created = await adminCall(kb, 'POST', '/admin/v1/policies', body)
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ name: 'p1', version: 1, description: 'first', rules: body.rules, secrets: [] })
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', body)).status).toBe(409)
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', { ...body, name: 'default' })).status).toBe(409)

    const v2 = await adminCall(kb, 'PUT', '/admin/v1/policies/p1', { rules: [{ name: 'status', expr: 'ear.status == "affirming"' }] })
    expect(v2.body).toMatchObject({ version: 2, rules: [{ name: 'status' }] })
    expect((await adminCall(kb, 'GET', '/admin/v1/policies/p1?version=1', undefined, kb.tokens.auditor)).body.rules[0].name).toBe('not-debug')
    expect((await adminCall(kb, 'GET', '/admin/v1/policies/p1', undefined, kb.tokens.auditor)).body.version).toBe(2)
    expect((await adminCall(kb, 'GET', '/admin/v1/policies/p1/versions')).body.versions.map((v: { version: number }) => v.version)).toEqual([2, 1])
    const list = await adminCall(kb, 'GET', '/admin/v1/policies', undefined, kb.tokens.auditor)
    expect(list.body.policies.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['default', 'p1']))
    expect((await adminCall(kb, 'GET', '/admin/v1/policies/default')).body.rules.map((r: { name: string }) => r.name)).toEqual([
      'measurement-in-reference-values',
      'debug-disabled',
      'ear-status-affirming',
    ])
    expect((await adminCall(kb, 'PUT', '/admin/v1/policies/nope', { rules: [{ name: 'a', expr: 'true' }] })).status).toBe(404)
    expect((await adminCall(kb, 'DELETE', '/admin/v1/policies/p1')).status).toBe(204)
    expect((await adminCall(kb, 'DELETE', '/admin/v1/policies/p1')).status).toBe(404)
  })

  it('guards a secret with its policy: releases when every rule holds, names the rules that fail', async () => {
    const rules = [
      { name: 'affirming', expr: 'ear.status == "affirming"' },
      { name: 'matched', expr: 'size(ear.matched) > 0' },
      { name: 'sample-only', expr: 'claims.evidenceType == "sample"' },
      { name: 'not-debug', expr: '!claims.debug' },
    ]
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'guard', rules })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 's-guarded', generate: { bytes: 32 }, referenceValues: ['img-a', 'img-b'], policy: 'guard' })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 's-bad-policy', generate: { bytes: 32 }, referenceValues: [], policy: 'nope' })).status).toBe(400)

    const ok = await kb.client.attestAndOpen(sample(GOOD), ['s-guarded'])
    expect(ok.secrets['s-guarded']?.byteLength).toBe(32)

    // img-b allows debug, so the default rules would release; this policy says no.
    const denied = await problemOf(kb.client.attestAndOpen(sample(OTHER, true), ['s-guarded']))
    expect({ status: denied.status, code: denied.code }).toEqual({ status: 403, code: 'policy-denied' })
    const failed = (denied.problem.failedRules as { secret: string; rule: string }[]).map((r) => `${r.secret}:${r.rule}`)
    expect(failed).toEqual(['s-guarded:not-debug'])
    expect(JSON.stringify(denied.problem)).not.toContain(OTHER)

    // The audit entry records the full trace: every rule, the values it read, the appraisal.
    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const entry = (audit.body.entries as { action: string; outcome: string; detail: { trace?: unknown[] } }[]).filter((e) => e.action === 'attest' && e.outcome === 'denied').at(-1)
    expect(entry?.detail.trace).toEqual([
      expect.objectContaining({
        secret: 's-guarded',
        policy: 'guard',
        policyVersion: 1,
        allowed: false,
        rules: expect.arrayContaining([expect.objectContaining({ rule: 'not-debug', passed: false, values: { 'claims.debug': true } })]),
        appraisal: expect.objectContaining({ matched: ['img-b'] }),
      }),
    ])
  })

  it('fails a rule closed when it errors at runtime, with its name in the trace', async () => {
    const rules = [{ name: 'needs-raw', expr: 'claims.raw.guestSvn >= 3' }]
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'erroring', rules })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 's-erroring', generate: { bytes: 16 }, referenceValues: ['img-a'], policy: 'erroring' })).status).toBe(201)
    const denied = await problemOf(kb.client.attestAndOpen(sample(GOOD), ['s-erroring']))
    expect(denied.code).toBe('policy-denied')
    expect(denied.problem.failedRules).toEqual([expect.objectContaining({ secret: 's-erroring', rule: 'needs-raw', passed: false, error: expect.any(String) })])
  })

  it('attaches and detaches a policy without a new secret version; the token path follows it', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 's-attach', generate: { bytes: 16 }, referenceValues: ['img-a'] })).status).toBe(201)
    const { token, key } = await kb.client.attestAndOpen(sample(GOOD), ['s-attach'])
    expect((await kb.client.secret('s-attach', { token, key })).version).toBe(1)

    expect((await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'token-only-never', rules: [{ name: 'via-attest', expr: 'request.via == "attest"' }] })).status).toBe(201)
    const attached = await adminCall(kb, 'POST', '/admin/v1/secrets/s-attach/policy', { policy: 'token-only-never' })
    expect(attached.body).toMatchObject({ policy: 'token-only-never', version: 1 })
    const denied = await problemOf(kb.client.secret('s-attach', { token, key }))
    expect({ status: denied.status, code: denied.code, failedRules: denied.problem.failedRules }).toEqual({ status: 403, code: 'policy-denied', failedRules: undefined })
    expect(await lastTokenDenialRules(kb, 's-attach')).toEqual(['via-attest'])
    expect((await adminCall(kb, 'DELETE', '/admin/v1/policies/token-only-never')).status).toBe(409)

    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/s-attach/policy', { policy: null })).body.policy).toBeNull()
    expect((await kb.client.secret('s-attach', { token, key })).name).toBe('s-attach')
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/s-attach/policy', { policy: 'nope' })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/nope/policy', { policy: null })).status).toBe(404)
    expect((await adminCall(kb, 'DELETE', '/admin/v1/policies/token-only-never')).status).toBe(204)

    // Created again under the same name: version 1 again, with other rules, and those decide.
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'token-only-never', rules: [{ name: 'reborn', expr: 'request.via == "nowhere"' }] })).body.version).toBe(1)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/s-attach/policy', { policy: 'token-only-never' })).status).toBe(200)
    expect((await problemOf(kb.client.secret('s-attach', { token, key }))).code).toBe('policy-denied')
    expect(await lastTokenDenialRules(kb, 's-attach')).toEqual(['reborn'])
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/s-attach/policy', { policy: 'default' })).body.policy).toBeNull()
  })

  it('releases under a ten-rule policy, and the token carries the provenance of the matched value', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'ten', rules: TEN_RULES })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 's-ten', generate: { bytes: 16 }, referenceValues: ['img-a'], policy: 'ten' })).status).toBe(201)
    const { token, key, secrets } = await kb.client.attestAndOpen(sample(GOOD), ['s-ten'])
    expect(secrets['s-ten']?.byteLength).toBe(16)
    expect((await kb.client.secret('s-ten', { token, key })).name).toBe('s-ten')
    const claims = decodeJwt(token) as { submods: Record<string, { 'ear.appraisal-policy-id': string; 'ear.veraison.annotated-evidence': { referenceValueProvenance: unknown[] } }> }
    expect(claims.submods['sample']?.['ear.appraisal-policy-id']).toBe('https://keybroker.dev/appraisal/reference-values/v1')
    expect(claims.submods['sample']?.['ear.veraison.annotated-evidence'].referenceValueProvenance).toEqual([
      expect.objectContaining({ set: 'img-a', version: 1, source: 'admin', by: expect.any(String) }),
    ])
  })

  it('explains a policy against a claims document: every rule, its values, the appraisal per claim', async () => {
    const allow = await adminCall(kb, 'POST', '/admin/v1/policies/ten/explain', {
      claims: { evidenceType: 'sample', measurement: GOOD, debug: false, hardwareBacked: false },
      referenceValues: ['img-a'],
    }, kb.tokens.registrar)
    expect(allow.status).toBe(200)
    expect(allow.body).toMatchObject({ policy: { name: 'ten', version: 1 }, allowed: true })
    expect(allow.body.rules).toHaveLength(11)
    expect(allow.body.rules[0]).toMatchObject({ rule: 'secret-enabled', passed: true })
    expect(allow.body.rules.find((r: { rule: string }) => r.rule === 'affirming')).toMatchObject({ passed: true, values: { 'ear.status': 'affirming' } })
    expect(allow.body.appraisal.sets[0]).toMatchObject({ set: 'img-a', matched: true, value: { measurement: GOOD, state: 'active', provenance: { source: 'admin' } } })

    const deny = await adminCall(kb, 'POST', '/admin/v1/policies/ten/explain', {
      claims: { evidenceType: 'sample', measurement: OTHER, debug: true, hardwareBacked: false },
      secret: 's-ten',
    })
    expect(deny.body.allowed).toBe(false)
    const failed = (deny.body.rules as { rule: string; passed: boolean }[]).filter((r) => !r.passed).map((r) => r.rule)
    expect(failed).toEqual(['affirming', 'matched', 'debug-off', 'executables', 'configuration'])
    expect(deny.body.rules.find((r: { rule: string }) => r.rule === 'debug-off').values).toEqual({ 'claims.debug': true })
    expect(deny.body.appraisal).toMatchObject({ status: 'warning', matched: [], sets: [{ set: 'img-a', matched: false, value: { state: 'absent' } }] })

    const byDefault = await adminCall(kb, 'POST', '/admin/v1/policies/default/explain', {
      claims: { evidenceType: 'sample', measurement: OTHER, debug: true, hardwareBacked: false },
      referenceValues: ['img-b'],
    })
    expect(byDefault.body).toMatchObject({ policy: { name: 'default', version: 1 }, allowed: true })
  })

  it('explains against evidence verified for real (the nonce binding is skipped)', async () => {
    const key = await generateAttestationKey()
    const evidence = sample(GOOD)(await reportDataFor('not-a-real-nonce', key))
    const res = await adminCall(kb, 'POST', '/admin/v1/policies/guard/explain', { evidence, referenceValues: ['img-a'], request: { clientIp: '10.0.0.1' } })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ allowed: true, claims: { evidenceType: 'sample', measurement: GOOD }, request: { clientIp: '10.0.0.1', via: 'attest' } })
    const bad = await adminCall(kb, 'POST', '/admin/v1/policies/guard/explain', { evidence: { type: 'sample', measurement: 'zz' }, referenceValues: [] })
    expect(bad.status).toBe(400)
    expect(bad.body.type).toBe('https://keybroker.dev/problems/evidence-malformed')
  })

  it('refuses malformed explain requests with 400/404, never 500', async () => {
    const claims = { evidenceType: 'sample', measurement: GOOD, debug: false }
    for (const [body, status] of [
      [{}, 400],
      [{ claims, evidence: { type: 'sample' } }, 400],
      [{ claims: { ...claims, measurement: 'xyz' } }, 400],
      [{ claims, referenceValues: ['no-such-set'] }, 404],
      [{ claims, secret: 'no-such-secret' }, 404],
      [{ claims, version: 99 }, 404],
      [{ claims, request: { time: 'yesterday' } }, 400],
    ] as const) {
      const res = await adminCall(kb, 'POST', '/admin/v1/policies/guard/explain', body)
      expect(res.status, JSON.stringify(body)).toBe(status)
    }
    expect((await adminCall(kb, 'POST', '/admin/v1/policies/nope/explain', { claims })).status).toBe(404)
    expect((await adminCall(kb, 'POST', '/admin/v1/policies/guard/explain', { claims }, kb.tokens.auditor)).status).toBe(403)
  })
})
