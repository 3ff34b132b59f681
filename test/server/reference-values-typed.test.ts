import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClientError } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { lastTokenDenialRules } from '../support/audit.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const M1 = 'f1'.repeat(48)
const M2 = 'f2'.repeat(48)
const sample = (measurement: string, debug = false) => (reportData: Uint8Array) => ({ type: 'sample', measurement, reportData: toBase64Url(reportData), debug })

async function tokenDenial(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof KeybrokerClientError)) throw new Error(`expected a problem, got ${String(err)}`)
  return err.code
}

async function failedRules(p: Promise<unknown>): Promise<string[]> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof KeybrokerClientError)) throw new Error(`expected a problem, got ${String(err)}`)
  return (err.problem.failedRules as { rule: string }[]).map((r) => r.rule)
}

describe.each(testDatabases())('typed reference values on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('refuses unknown claim names, operators and evidence types at registration (400 claim-unknown)', async () => {
    const post = (body: Record<string, unknown>) => adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'typed', measurements: [M1], ...body })
    for (const body of [
      { evidenceType: 'snp', expect: [{ claim: 'tcb.snpp', atLeast: 1 }] },
      { evidenceType: 'snp', expect: [{ claim: 'hostData', atLeast: 1 }] },
      { evidenceType: 'tdx', expect: [{ claim: 'hostData', equals: '00'.repeat(32) }] },
      { evidenceType: 'tpm', expect: [{ claim: 'pcr.sha256.24', equals: '00'.repeat(32) }] },
      { expect: [{ claim: 'tcb.snp', atLeast: 1 }] },
      { evidenceType: 'nope', expect: [] },
      { evidenceType: 'snp', values: [{ measurement: M2, expect: [{ claim: 'mrTd', equals: '00'.repeat(48) }] }] },
    ]) {
      const res = await post(body)
      expect({ status: res.status, type: res.body.type }, JSON.stringify(body)).toEqual({ status: 400, type: 'https://keybroker.dev/problems/claim-unknown' })
    }
    for (const body of [
      { evidenceType: 'snp', expect: [{ claim: 'tcb.snp', atLeast: -1 }] },
      { evidenceType: 'snp', expect: [{ claim: 'hostData', equals: 'abc' }] },
      { evidenceType: 'snp', expect: [{ claim: 'hostData', equals: '00' }] },
      { evidenceType: 'snp', expect: [{ claim: 'tcb.snp', atLeast: 1, equals: 1 }] },
      { evidenceType: 'snp', expect: [{ claim: 'tcb.snp', atLeast: 1 }, { claim: 'tcb.snp', equals: 2 }] },
      { evidenceType: 'tpm', expect: [{ claim: 'ima', files: [{ path: 'relative', digests: ['aa'] }] }] },
      { values: [{ measurement: M2, notBefore: '2030-01-01T00:00:00Z', notAfter: '2029-01-01T00:00:00Z' }] },
      { measurements: [], values: [], expect: [] },
    ]) {
      const res = await post(body)
      expect({ status: res.status, type: res.body.type }, JSON.stringify(body)).toEqual({ status: 400, type: 'https://keybroker.dev/problems/bad-request' })
    }
    expect((await adminCall(kb, 'GET', '/admin/v1/reference-values/typed')).status).toBe(404)
  })

  it('stores typed sets with admin provenance, and every version stays readable', async () => {
    const created = await adminCall(kb, 'POST', '/admin/v1/reference-values', {
      name: 'snp-typed',
      evidenceType: 'snp',
      expect: [{ claim: 'tcb.snp', atLeast: 8 }, { claim: 'policy.debug', equals: false }, { claim: 'product', oneOf: ['Milan', 'Genoa'] }],
      values: [{ measurement: M1.toUpperCase(), notAfter: '2099-01-01T00:00:00Z', expect: [{ claim: 'guestSvn', atLeast: 2 }] }],
    }, kb.tokens.registrar)
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({
      name: 'snp-typed',
      version: 1,
      evidenceType: 'snp',
      expect: [{ claim: 'tcb.snp', atLeast: 8 }, { claim: 'policy.debug', equals: false }, { claim: 'product', oneOf: ['Milan', 'Genoa'] }],
      provenance: { source: 'admin', by: expect.any(String) },
      measurements: [{ value: M1, notBefore: null, notAfter: '2099-01-01T00:00:00.000Z', expect: [{ claim: 'guestSvn', atLeast: 2 }], provenance: { source: 'admin' } }],
    })
    const replaced = await adminCall(kb, 'PUT', '/admin/v1/reference-values/snp-typed', { evidenceType: 'snp', measurements: [M1, M2] })
    expect(replaced.body).toMatchObject({ version: 2, expect: [] })
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values/snp-typed/revoke', { measurement: M2, reason: 'superseded' })).body.version).toBe(3)

    const versions = await adminCall(kb, 'GET', '/admin/v1/reference-values/snp-typed/versions', undefined, kb.tokens.auditor)
    expect(versions.body.versions.map((v: { version: number }) => v.version)).toEqual([3, 2, 1])
    const v1 = await adminCall(kb, 'GET', '/admin/v1/reference-values/snp-typed/versions/1', undefined, kb.tokens.auditor)
    expect(v1.body.set).toMatchObject({ version: 1, expect: [{ claim: 'tcb.snp', atLeast: 8 }, { claim: 'policy.debug', equals: false }, { claim: 'product', oneOf: ['Milan', 'Genoa'] }] })
    expect((await adminCall(kb, 'GET', '/admin/v1/reference-values/snp-typed/versions/9')).status).toBe(404)
    expect((await adminCall(kb, 'GET', '/admin/v1/reference-values/nope/versions')).status).toBe(404)
    expect((await adminCall(kb, 'GET', '/admin/v1/reference-values/snp-typed/versions/x')).status).toBe(400)
  })

  it('holds validity windows: a value is matched only between notBefore and notAfter', async () => {
    const now = kb.clock.now().getTime()
    const soon = new Date(now + 60_000).toISOString()
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'windowed', values: [{ measurement: M1, notAfter: soon }, { measurement: M2, notBefore: soon }] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'windowed-secret', generate: { bytes: 16 }, referenceValues: ['windowed'] })).status).toBe(201)
    const { token, key } = await kb.client.attestAndOpen(sample(M1), ['windowed-secret'])
    expect(await failedRules(kb.client.attestAndOpen(sample(M2), ['windowed-secret']))).toContain('measurement-in-reference-values')
    kb.clock.advance(61)
    try {
      expect(await failedRules(kb.client.attestAndOpen(sample(M1), ['windowed-secret']))).toContain('measurement-in-reference-values')
      expect(await tokenDenial(kb.client.secret('windowed-secret', { token, key }))).toBe('policy-denied')
      expect(await lastTokenDenialRules(kb, 'windowed-secret')).toContain('measurement-in-reference-values')
      expect((await kb.client.attestAndOpen(sample(M2), ['windowed-secret'])).secrets['windowed-secret']?.byteLength).toBe(16)
    } finally {
      kb.clock.reset()
    }
  })

  it('appraises the expected claims of the evidence type: a failed claim denies the default rules', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'sample-hw', evidenceType: 'sample', expect: [{ claim: 'hardwareBacked', equals: true }], measurements: [M1] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'sample-dbg', evidenceType: 'sample', expect: [{ claim: 'debug', equals: false }], measurements: [M1] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'snp-only', evidenceType: 'snp', measurements: [M1] })).status).toBe(201)
    for (const [secret, sets] of [
      ['needs-hw', ['sample-hw']],
      ['needs-no-debug', ['sample-dbg']],
      ['needs-snp', ['snp-only']],
    ] as const) {
      expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: secret, generate: { bytes: 16 }, referenceValues: sets })).status).toBe(201)
    }
    // Sample evidence is not hardware-backed; an SNP set does not apply to it.
    expect(await failedRules(kb.client.attestAndOpen(sample(M1), ['needs-hw']))).toContain('measurement-in-reference-values')
    expect(await failedRules(kb.client.attestAndOpen(sample(M1), ['needs-snp']))).toContain('measurement-in-reference-values')
    expect((await kb.client.attestAndOpen(sample(M1), ['needs-no-debug'])).secrets['needs-no-debug']?.byteLength).toBe(16)
    // The explain trace shows the claim, what was expected and what the evidence said.
    const explained = await adminCall(kb, 'POST', '/admin/v1/policies/default/explain', { claims: { evidenceType: 'sample', measurement: M1, debug: false, hardwareBacked: false }, secret: 'needs-hw' })
    expect(explained.body.appraisal.sets[0]).toMatchObject({ set: 'sample-hw', matched: false, claims: [{ claim: 'hardwareBacked', op: 'equals', expected: true, actual: false, passed: false }] })
  })
})
