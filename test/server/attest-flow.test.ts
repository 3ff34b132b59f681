import { randomBytes } from 'node:crypto'
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAttestationKey, KeybrokerClientError, openSecret, reportDataFor } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { parseRecipientKey } from '../../src/secrets/index.js'
import { issueEar } from '../../src/tokens/index.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const GOOD = 'a1'.repeat(48)
const OTHER = 'b2'.repeat(48)
const SECRET = new Uint8Array(Buffer.from('correct horse battery staple'))

const sample = (measurement: string, debug = false) => (reportData: Uint8Array) => ({
  type: 'sample',
  measurement,
  reportData: toBase64Url(reportData),
  debug,
})

async function expectProblem(p: Promise<unknown>, status: number, code: string): Promise<KeybrokerClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(KeybrokerClientError)
  const problem = err as KeybrokerClientError
  expect({ status: problem.status, code: problem.code }).toEqual({ status, code })
  return problem
}

describe.each(testDatabases())('attest → release on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  // One KEK for every keybroker started on this database: the start-up check refuses another.
  const KEK = randomBytes(32).toString('base64')

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, { KEYBROKER_KEK: KEK })
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'web-v3', measurements: [GOOD] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'debug-ok', measurements: [OTHER], allowDebug: true })).status).toBe(201)
    for (const [name, rvs] of [
      ['db-password', ['web-v3']],
      ['api-key', ['web-v3']],
      ['other-image', ['debug-ok']],
    ] as const) {
      const res = await adminCall(kb, 'POST', '/admin/v1/secrets', { name, value: toBase64Url(SECRET), referenceValues: rvs })
      expect(res.status).toBe(201)
    }
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('releases a secret that only the attested key can open, with a verifiable EAR token', async () => {
    const { token, secrets, key } = await kb.client.attestAndOpen(sample(GOOD), ['db-password'])
    expect(Buffer.from(secrets['db-password'] ?? []).toString()).toBe('correct horse battery staple')

    const jwks = JSON.parse((await kb.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: 'https://keybroker.test',
      audience: 'keybroker',
      currentDate: kb.clock.now(),
    })
    expect(protectedHeader.alg).toBe('ES256')
    expect(protectedHeader.kid).toBeTypeOf('string')
    expect(payload['ear.status']).toBe('affirming')
    expect(payload.cnf).toEqual({ jwk: key.publicJwk })
    expect(payload.jti).toBeTypeOf('string')
    expect(payload.eat_nonce).toBeTypeOf('string')

    // Another key cannot open what was sealed to this one.
    const stranger = await generateAttestationKey()
    const { secrets: raw } = await kb.client.attest({
      ...(await (async () => {
        const { nonce } = await kb.client.challenge()
        return { nonce, evidence: sample(GOOD)(await reportDataFor(nonce, key)), publicKey: key.publicJwk }
      })()),
      release: ['db-password'],
    })
    await expect(openSecret(raw['db-password'] ?? '', stranger)).rejects.toThrow()
  })

  it.each(['P-384', 'RSA'] as const)('seals to %s keys', async (alg) => {
    const { secrets } = await kb.client.attestAndOpen(sample(GOOD), ['api-key'], alg)
    expect(Buffer.from(secrets['api-key'] ?? []).toString()).toBe('correct horse battery staple')
  })

  it('fetches more secrets with the token (passport model)', async () => {
    const { token, key } = await kb.client.attestAndOpen(sample(GOOD), [])
    const res = await kb.client.secret('api-key', { token, key })
    expect(res.name).toBe('api-key')
    expect(res.version).toBe(1)
    expect(Buffer.from(res.plaintext).toString()).toBe('correct horse battery staple')
    // The JWE stays available: it opens to the same plaintext with the same key.
    expect(Buffer.from(await openSecret(res.jwe, key)).toString()).toBe('correct horse battery staple')
  })

  it('refuses a replayed nonce', async () => {
    const key = await generateAttestationKey()
    const { nonce } = await kb.client.challenge()
    const body = { nonce, evidence: sample(GOOD)(await reportDataFor(nonce, key)), publicKey: key.publicJwk }
    await kb.client.attest(body)
    await expectProblem(kb.client.attest(body), 409, 'nonce-reused')
  })

  it('refuses an expired nonce', async () => {
    const key = await generateAttestationKey()
    const { nonce } = await kb.client.challenge()
    const evidence = sample(GOOD)(await reportDataFor(nonce, key))
    kb.clock.advance(kb.config.nonceTtlSeconds + 1)
    try {
      await expectProblem(kb.client.attest({ nonce, evidence, publicKey: key.publicJwk }), 400, 'nonce-expired')
    } finally {
      kb.clock.reset()
    }
  })

  it('refuses a nonce issued by another keybroker (other key)', async () => {
    // Another deployment: its own database and its own KEK, hence its own nonce MAC key.
    const otherDatabase = await engine.open()
    const other = await startKeybroker(otherDatabase)
    try {
      const key = await generateAttestationKey()
      const { nonce } = await other.client.challenge()
      const evidence = sample(GOOD)(await reportDataFor(nonce, key))
      await expectProblem(kb.client.attest({ nonce, evidence, publicKey: key.publicJwk }), 400, 'nonce-invalid')
    } finally {
      await other.close()
      await otherDatabase.close()
    }
  })

  it('answers the agent nonce of a challenge with publicKey: base64url(B[0:32]) of that nonce and key', async () => {
    const key = await generateAttestationKey()
    const plain = await kb.client.challenge()
    expect(plain.agentNonce).toBeUndefined()
    const { nonce, agentNonce } = await kb.client.challenge(key.publicJwk)
    expect(agentNonce).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(agentNonce).toBe(toBase64Url((await reportDataFor(nonce, key)).subarray(0, 32)))
    // The nonce is an ordinary challenge nonce: native evidence binds B as before.
    const { token } = await kb.client.attest({ nonce, evidence: sample(GOOD)(await reportDataFor(nonce, key)), publicKey: key.publicJwk })
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { submods: Record<string, Record<string, Record<string, unknown>>> }
    expect(payload.submods['sample']?.['ear.veraison.annotated-evidence']?.['binding']).toBe('report-data')
  })

  it('refuses a challenge whose publicKey /v1/attest would refuse', async () => {
    const res = await kb.raw('POST', '/v1/challenge', JSON.stringify({ publicKey: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA' } }), { 'Content-Type': 'application/json' })
    expect(res.status).toBe(400)
    expect((JSON.parse(res.body) as { type: string }).type).toMatch(/\/key-unsupported$/)
  })

  it('refuses evidence whose report data binds another key', async () => {
    const key = await generateAttestationKey()
    const attacker = await generateAttestationKey()
    const { nonce } = await kb.client.challenge()
    const evidence = sample(GOOD)(await reportDataFor(nonce, key))
    await expectProblem(kb.client.attest({ nonce, evidence, publicKey: attacker.publicJwk, release: ['db-password'] }), 403, 'binding-mismatch')
  })

  it('refuses evidence whose report data binds another nonce', async () => {
    const key = await generateAttestationKey()
    const first = await kb.client.challenge()
    const second = await kb.client.challenge()
    const evidence = sample(GOOD)(await reportDataFor(first.nonce, key))
    await expectProblem(kb.client.attest({ nonce: second.nonce, evidence, publicKey: key.publicJwk }), 403, 'binding-mismatch')
  })

  it('answers 404 for an unknown secret', async () => {
    await expectProblem(kb.client.attestAndOpen(sample(GOOD), ['no-such-secret']), 404, 'not-found')
  })

  it('denies a secret whose reference values do not match, naming the failed rules', async () => {
    const problem = await expectProblem(kb.client.attestAndOpen(sample(OTHER), ['db-password']), 403, 'policy-denied')
    const rules = (problem.problem.failedRules as { secret: string; rule: string }[]).map((r) => `${r.secret}:${r.rule}`)
    expect(rules).toContain('db-password:measurement-in-reference-values')
    expect(JSON.stringify(problem.problem)).not.toContain(GOOD)
  })

  it('denies debug unless the reference values allow it', async () => {
    const denied = await expectProblem(kb.client.attestAndOpen(sample(GOOD, true), ['db-password']), 403, 'policy-denied')
    expect((denied.problem.failedRules as { rule: string }[]).map((r) => r.rule)).toContain('debug-disabled')
    const { secrets } = await kb.client.attestAndOpen(sample(OTHER, true), ['other-image'])
    expect(secrets['other-image']).toBeDefined()
  })

  it('denies everything when one requested secret is denied (all or nothing)', async () => {
    await expectProblem(kb.client.attestAndOpen(sample(GOOD), ['db-password', 'other-image']), 403, 'policy-denied')
  })

  it('holds a revocation from the next request on, also for tokens issued before', async () => {
    const M = 'c3'.repeat(48)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'revocable', measurements: [M] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'revocable-secret', generate: { bytes: 32 }, referenceValues: ['revocable'] })).status).toBe(201)
    const { token, key, secrets } = await kb.client.attestAndOpen(sample(M), ['revocable-secret'])
    expect(secrets['revocable-secret']?.byteLength).toBe(32)

    const revoked = await adminCall(kb, 'POST', '/admin/v1/reference-values/revocable/revoke', { measurement: M, reason: 'CVE-2026-0001' })
    expect(revoked.status).toBe(200)
    expect(revoked.body.measurements[0].revokedAt).toBeTypeOf('string')

    await expectProblem(kb.client.attestAndOpen(sample(M), ['revocable-secret']), 403, 'policy-denied')
    await expectProblem(kb.client.secret('revocable-secret', { token, key }), 403, 'policy-denied')
  })

  it('answers a token holder alike for an unknown secret name and a denied one (no enumeration)', async () => {
    const { token } = await kb.client.attestAndOpen(sample(GOOD), [])
    // other-image is guarded by another reference-value set: denied; the second name does not exist.
    const ask = async (name: string) => {
      const res = await kb.raw('GET', `/v1/secrets/${name}`, undefined, { Authorization: `Bearer ${token}` })
      const { instance: _requestId, ...body } = JSON.parse(res.body) as Record<string, unknown>
      return { status: res.status, contentType: res.headers['content-type'], body }
    }
    const denied = await ask('other-image')
    const unknown = await ask('no-such-secret-name')
    expect(denied.status).toBe(403)
    expect(denied.body['type']).toMatch(/policy-denied$/)
    expect(unknown).toEqual(denied)
    // Disabled looks the same too.
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/api-key/disable')).status).toBe(200)
    try {
      expect(await ask('api-key')).toEqual(denied)
    } finally {
      expect((await adminCall(kb, 'POST', '/admin/v1/secrets/api-key/enable')).status).toBe(200)
    }
  })

  it('denies a disabled secret and releases it again once enabled', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/api-key/disable')).status).toBe(200)
    try {
      const denied = await expectProblem(kb.client.attestAndOpen(sample(GOOD), ['api-key']), 403, 'policy-denied')
      expect((denied.problem.failedRules as { rule: string }[]).map((r) => r.rule)).toEqual(['secret-enabled'])
    } finally {
      expect((await adminCall(kb, 'POST', '/admin/v1/secrets/api-key/enable')).status).toBe(200)
    }
    const { secrets } = await kb.client.attestAndOpen(sample(GOOD), ['api-key'])
    expect(secrets['api-key']).toBeDefined()
  })

  it('refuses expired, tampered and foreign-audience tokens', async () => {
    const { token, key: holder } = await kb.client.attestAndOpen(sample(GOOD), [])
    const [h, p, sig] = token.split('.') as [string, string, string]

    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, exp: 9_999_999_999 })).toString('base64url')}.${sig}`
    await expectProblem(kb.client.secret('db-password', { token: forged, key: holder }), 401, 'token-invalid')
    const flipped = `${h}.${p}.${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`
    await expectProblem(kb.client.secret('db-password', { token: flipped, key: holder }), 401, 'token-invalid')

    const key = parseRecipientKey((await generateAttestationKey()).publicJwk)
    const foreign = await issueEar(kb.services.keys.current, {
      issuer: 'https://keybroker.test',
      audience: 'someone-else',
      now: kb.clock.now(),
      ttlSeconds: 60,
      nonce: 'n',
      cnfJwk: key.publicJwk,
      status: 'affirming',
      trustVector: {},
      hardwareBacked: false,
      evidenceType: 'sample',
      claims: { measurement: GOOD, debug: false, hardwareBacked: false },
    })
    await expectProblem(kb.client.secret('db-password', { token: foreign.token, key: holder }), 401, 'token-invalid')

    kb.clock.advance(kb.config.tokenTtlSeconds + 1)
    try {
      await expectProblem(kb.client.secret('db-password', { token, key: holder }), 401, 'token-invalid')
    } finally {
      kb.clock.reset()
    }
  })

  it('refuses sample evidence unless enabled', async () => {
    const strict = await startKeybroker(database, { KEYBROKER_ALLOW_SAMPLE_EVIDENCE: '0', KEYBROKER_KEK: KEK })
    try {
      await expectProblem(strict.client.attestAndOpen(sample(GOOD), []), 400, 'evidence-unsupported')
    } finally {
      await strict.close()
    }
  })

  it('audits releases and denials in a verifiable hash chain', async () => {
    const page = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    expect(page.status).toBe(200)
    const actions = (page.body.entries as { action: string; outcome: string }[]).map((e) => `${e.action}:${e.outcome}`)
    expect(actions).toContain('release:ok')
    expect(actions).toContain('attest:denied')
    expect(actions).toContain('secret.create:ok')
    expect(JSON.stringify(page.body)).not.toContain(toBase64Url(SECRET))
    const verified = await adminCall(kb, 'GET', '/admin/v1/audit/verify', undefined, kb.tokens.auditor)
    expect(verified.body.ok).toBe(true)
  })
})
