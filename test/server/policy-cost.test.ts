import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClientError } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { BUDGET_EXCEEDED } from '../../src/policy/index.js'
import type { Database } from '../../src/storage/index.js'
import { lastTokenDenialRules } from '../support/audit.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const GOOD = 'c7'.repeat(48)
const sample = (reportData: Uint8Array) => ({ type: 'sample', measurement: GOOD, reportData: toBase64Url(reportData), debug: false })
const TEN = `[${Array.from({ length: 10 }, (_, i) => i).join(', ')}]`
const HUNDRED = `[${Array.from({ length: 100 }, (_, i) => i).join(',')}]`
const SEVEN_NESTED = `${TEN}.all(a, ${TEN}.all(b, ${TEN}.all(c, ${TEN}.all(d, ${TEN}.all(e, ${TEN}.all(f, ${TEN}.all(g, a + b + c + d + e + f + g >= 0)))))))`
/** Compiles (3 levels, under the node bound), but needs 10^6 steps at run time. */
const TOO_COSTLY = `request.via == "token" || ${HUNDRED}.all(a, ${HUNDRED}.all(b, ${HUNDRED}.all(c, a + b + c >= 0)))`

describe.each(testDatabases())('policy cost bounds over HTTPS on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'img', measurements: [GOOD] })).status).toBe(201)
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('refuses the issue\'s 7-nested policy with 400 policy-invalid naming the rule; /healthz answers meanwhile', async () => {
    const [created, health] = await Promise.all([
      adminCall(kb, 'POST', '/admin/v1/policies', { name: 'nested', rules: [{ name: 'ok', expr: 'true' }, { name: 'seven', expr: SEVEN_NESTED }] }),
      kb.raw('GET', '/healthz'),
    ])
    expect(created.status).toBe(400)
    expect(created.body.type).toMatch(/policy-invalid$/)
    expect(created.body.detail).toMatch(/^rule seven: .*nested 7 deep/)
    expect(health.status).toBe(200)
    expect((await adminCall(kb, 'GET', '/admin/v1/policies/nested')).status).toBe(404)
  })

  it('a policy over the runtime budget fails closed, named, at attest, token release and explain alike', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'costly', rules: [{ name: 'loops', expr: TOO_COSTLY }] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'guarded', generate: { bytes: 16 }, referenceValues: ['img'], policy: 'costly' })).status).toBe(201)

    // attest (request.via is "attest", so the loops run)
    const attest = await kb.client.attestAndOpen(sample, ['guarded']).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(attest).toBeInstanceOf(KeybrokerClientError)
    const problem = attest as KeybrokerClientError
    expect({ status: problem.status, code: problem.code }).toEqual({ status: 403, code: 'policy-denied' })
    expect(problem.problem.failedRules).toEqual([expect.objectContaining({ secret: 'guarded', rule: 'loops', error: expect.stringMatching(new RegExp(`^${BUDGET_EXCEEDED}`)) })])

    // explain
    const explained = await adminCall(kb, 'POST', '/admin/v1/policies/costly/explain', {
      claims: { evidenceType: 'sample', measurement: GOOD, debug: false, hardwareBacked: false },
      referenceValues: ['img'],
    })
    expect(explained.status).toBe(200)
    expect(explained.body.allowed).toBe(false)
    expect(explained.body.rules.find((r: { rule: string }) => r.rule === 'loops')).toMatchObject({ passed: false, error: expect.stringMatching(new RegExp(`^${BUDGET_EXCEEDED}`)) })

    // token release: the rule's first half holds for via == "token"; make it run the loops there too.
    expect((await adminCall(kb, 'PUT', '/admin/v1/policies/costly', { rules: [{ name: 'loops', expr: TOO_COSTLY.replace('"token"', '"nowhere"') }] })).status).toBe(200)
    const attestation = await kb.client.attestAndOpen(sample, [])
    await expect(kb.client.secret('guarded', attestation)).rejects.toMatchObject({ status: 403, code: 'policy-denied' })
    expect(await lastTokenDenialRules(kb, 'guarded')).toEqual(['loops'])
    expect((await kb.raw('GET', '/healthz')).status).toBe(200)
  })
})
