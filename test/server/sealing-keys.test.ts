import { createLocalJWKSet, decodeProtectedHeader, flattenedVerify, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAttestationKey, openSecret, reportDataFor, type AttestationKey } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { EcPublicJwk, SealingCurve } from '../../src/secrets/index.js'
import type { Database } from '../../src/storage/index.js'
import { sealingKeyVersions } from '../../src/storage/schema.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'
import { blind, expectedK, newDisk, unblind, type Disk } from '../support/sealing.js'

const GOOD = 'c1'.repeat(48)
const OTHER = 'd2'.repeat(48)

interface Advertised {
  readonly S: EcPublicJwk
  readonly kid: string
}

describe.each(testDatabases())('sealing keys on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'disk-v1', measurements: [GOOD] })).status).toBe(201)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  async function createKey(name: string, curve: SealingCurve = 'P-256', referenceValues = ['disk-v1']) {
    const res = await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name, curve, referenceValues })
    expect(res.status).toBe(201)
    return res.body
  }

  async function advertisement(name: string): Promise<Advertised> {
    const res = await kb.raw('GET', `/v1/sealing-keys/${name}`)
    expect(res.status).toBe(200)
    const jws = JSON.parse(res.body)
    const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString())
    const [exc] = payload.keys
    return { S: { kty: 'EC', crv: exc.crv, x: exc.x, y: exc.y }, kid: exc.kid }
  }

  /** One unlock attempt: challenge, sample evidence bound to a fresh key, attest with `recover`. */
  async function attemptRecovery(
    name: string,
    adv: Advertised,
    disk: Disk,
    options: { measurement?: string; body?: (b: Record<string, unknown>) => Record<string, unknown> } = {},
  ) {
    const key: AttestationKey = await generateAttestationKey('P-256')
    const { nonce } = await kb.client.challenge()
    const { x, e } = blind(disk)
    const body = {
      nonce,
      evidence: { type: 'sample', measurement: options.measurement ?? GOOD, reportData: toBase64Url(await reportDataFor(nonce, key)) },
      publicKey: key.publicJwk,
      recover: { sealingKey: name, kid: adv.kid, x, disk: disk.id },
    }
    const sent = options.body === undefined ? body : options.body(body)
    const res = await kb.raw('POST', '/v1/attest', JSON.stringify(sent), { 'Content-Type': 'application/json' })
    return { status: res.status, body: JSON.parse(res.body), key, e, sent }
  }

  async function expectRecovered(name: string, adv: Advertised, disk: Disk): Promise<void> {
    const r = await attemptRecovery(name, adv, disk)
    expect(r.status).toBe(200)
    expect(decodeProtectedHeader(r.body.recovered)).toMatchObject({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'jwk+json', 'kb.name': name })
    const y = JSON.parse(Buffer.from(await openSecret(r.body.recovered, r.key)).toString())
    expect(unblind(disk.curve, y, r.e, adv.S).equals(expectedK(disk, adv.S))).toBe(true)
  }

  function failedRules(body: { failedRules?: { rule: string }[] }): string[] {
    return (body.failedRules ?? []).map((r) => r.rule).sort()
  }

  async function lastAudit(action: string) {
    const page = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    return page.body.entries.filter((e: { action: string }) => e.action === action).at(-1)
  }

  it('creates, lists, reads, updates, rotates, retires, disables and deletes sealing keys (admin API)', async () => {
    const created = await createKey('crud')
    expect(created).toMatchObject({ name: 'crud', curve: 'P-256', state: 'enabled', currentVersion: 1, referenceValues: ['disk-v1'], policy: null })
    expect(created.versions).toHaveLength(1)
    expect(created.versions[0]).toMatchObject({ version: 1, state: 'active', retiredAt: null, publicJwk: { kty: 'EC', crv: 'P-256' } })
    expect(created.versions[0].kid).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(JSON.stringify(created)).not.toMatch(/"d"/)

    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'crud', referenceValues: [] })).status).toBe(409)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'x', referenceValues: ['nope'] })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'x', curve: 'P-384', referenceValues: [] })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'x', referenceValues: [] }, kb.tokens.registrar)).status).toBe(403)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'x', referenceValues: [] }, 'kb_admin_wrong-token-1234567890')).status).toBe(401)

    const list = await adminCall(kb, 'GET', '/admin/v1/sealing-keys', undefined, kb.tokens.auditor)
    expect(list.status).toBe(200)
    expect(list.body.sealingKeys.map((k: { name: string }) => k.name)).toContain('crud')
    expect((await adminCall(kb, 'GET', '/admin/v1/sealing-keys/nope', undefined, kb.tokens.auditor)).status).toBe(404)

    const updated = await adminCall(kb, 'PUT', '/admin/v1/sealing-keys/crud', { referenceValues: [] })
    expect(updated.status).toBe(200)
    expect(updated.body.referenceValues).toEqual([])
    expect((await adminCall(kb, 'PUT', '/admin/v1/sealing-keys/crud', {})).status).toBe(400)
    expect((await adminCall(kb, 'PUT', '/admin/v1/sealing-keys/crud', { policy: 'no-such-policy' })).status).toBe(400)
    expect((await adminCall(kb, 'PUT', '/admin/v1/sealing-keys/crud', { policy: 'default' })).body.policy).toBeNull()

    const rotated = await adminCall(kb, 'POST', '/admin/v1/sealing-keys/crud/rotate')
    expect(rotated.status).toBe(200)
    expect(rotated.body.currentVersion).toBe(2)
    expect(rotated.body.versions.map((v: { state: string }) => v.state)).toEqual(['active', 'active'])
    expect(rotated.body.versions[1].kid).not.toBe(rotated.body.versions[0].kid)

    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys/crud/versions/2/retire')).status).toBe(409)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys/crud/versions/9/retire')).status).toBe(404)
    const retired = await adminCall(kb, 'POST', '/admin/v1/sealing-keys/crud/versions/1/retire')
    expect(retired.status).toBe(200)
    expect(retired.body.versions[0]).toMatchObject({ state: 'retired' })
    expect(retired.body.versions[0].retiredAt).toBeTypeOf('string')

    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys/crud/disable')).body.state).toBe('disabled')
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys/crud/enable')).body.state).toBe('enabled')
    expect((await adminCall(kb, 'DELETE', '/admin/v1/sealing-keys/crud')).status).toBe(204)
    expect((await adminCall(kb, 'DELETE', '/admin/v1/sealing-keys/crud')).status).toBe(404)

    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const actions = audit.body.entries.filter((e: { subject: string }) => e.subject === 'crud').map((e: { action: string }) => e.action)
    expect(actions).toEqual([
      'sealing-key.create',
      'sealing-key.update',
      'sealing-key.update',
      'sealing-key.rotate',
      'sealing-key.retire',
      'sealing-key.disable',
      'sealing-key.enable',
      'sealing-key.delete',
    ])
  })

  it('keeps only an envelope of the private key at rest', async () => {
    await createKey('at-rest')
    const rows = await database.db.select().from(sealingKeyVersions)
    const row = rows.find((r) => r.sealingKeyName === 'at-rest')
    expect(row?.envelope.subarray(0, 3)).toEqual(new Uint8Array(Buffer.from('KBE')))
    expect(Object.keys(row?.publicJwk ?? {}).sort()).toEqual(['crv', 'kty', 'x', 'y'])
  })

  it('advertises the exchange key in a JWS signed by the token key (thumbprint = JWKS kid)', async () => {
    const meta = await createKey('adv')
    const res = await kb.raw('GET', '/v1/sealing-keys/adv')
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/jose\+json/)
    const jws = JSON.parse(res.body)
    const jwks = JSON.parse((await kb.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }
    const { payload, protectedHeader } = await flattenedVerify(jws, createLocalJWKSet(jwks))
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: jwks.keys[0]?.kid, cty: 'jwk-set+json' })
    const body = JSON.parse(Buffer.from(payload).toString())
    expect(body.name).toBe('adv')
    expect(body.keys[0]).toEqual({ ...meta.versions[0].publicJwk, alg: 'ECMR', key_ops: ['deriveKey'], kid: meta.versions[0].kid })
    expect(body.keys[1]).toMatchObject({ kty: 'EC', key_ops: ['verify'], kid: jwks.keys[0]?.kid })

    // Rotation advertises the new key; a disabled or unknown key has no advertisement.
    await adminCall(kb, 'POST', '/admin/v1/sealing-keys/adv/rotate')
    expect((await advertisement('adv')).kid).not.toBe(meta.versions[0].kid)
    await adminCall(kb, 'POST', '/admin/v1/sealing-keys/adv/disable')
    expect((await kb.raw('GET', '/v1/sealing-keys/adv')).status).toBe(404)
    expect((await kb.raw('GET', '/v1/sealing-keys/unknown')).status).toBe(404)
  })

  it.each(['P-256', 'P-521'] as const)('recovers s·X for an attested client on %s; K = Y − e·S opens the binding', async (curve) => {
    const name = `root-${curve}`
    await createKey(name, curve)
    const adv = await advertisement(name)
    const disk = await newDisk(curve)
    await expectRecovered(name, adv, disk)
    const entry = await lastAudit('recover')
    expect(entry).toMatchObject({ subject: name, outcome: 'ok', actor: 'attester' })
    expect(entry.detail).toMatchObject({ disk: disk.id, kid: adv.kid, version: 1, evidenceType: 'sample', measurement: GOOD })
    // The server never saw C: neither C's coordinates nor the disk key appear in the audit log.
    expect(JSON.stringify(entry)).not.toContain(disk.C.x)
  })

  it('returns released secrets and the recovery together', async () => {
    await createKey('combo')
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'combo-secret', kind: 'luks', generate: { bytes: 64 }, referenceValues: ['disk-v1'] })).status).toBe(201)
    const adv = await advertisement('combo')
    const r = await attemptRecovery('combo', adv, await newDisk('P-256'), { body: (b) => ({ ...b, release: ['combo-secret'] }) })
    expect(r.status).toBe(200)
    expect(Object.keys(r.body.secrets)).toEqual(['combo-secret'])
    expect(r.body.recovered).toBeTypeOf('string')
  })

  it('answers without the EAR when asked ("token": false), as the clevis pin asks; with the token by default', async () => {
    await createKey('no-token')
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'no-token-secret', kind: 'luks', generate: { bytes: 32 }, referenceValues: ['disk-v1'] })).status).toBe(201)
    const adv = await advertisement('no-token')
    const disk = await newDisk('P-256')

    const bare = await attemptRecovery('no-token', adv, disk, { body: (b) => ({ ...b, token: false }) })
    expect(bare.status).toBe(200)
    expect(Object.keys(bare.body).sort()).toEqual(['recovered', 'secrets'])
    const y = JSON.parse(Buffer.from(await openSecret(bare.body.recovered, bare.key)).toString())
    expect(unblind(disk.curve, y, bare.e, adv.S).equals(expectedK(disk, adv.S))).toBe(true)
    const bareEntry = await lastAudit('recover')
    expect(bareEntry).toMatchObject({ subject: 'no-token', outcome: 'ok', detail: { disk: disk.id } })
    expect(bareEntry.detail).not.toHaveProperty('tokenId')

    // The same with a release (keybroker-unlock's request), and without `token` or with `true`: the EAR as before.
    const released = await attemptRecovery('no-token', adv, disk, { body: (b) => ({ token: false, release: ['no-token-secret'], ...b }) })
    expect(released.status).toBe(200)
    expect(Object.keys(released.body).sort()).toEqual(['recovered', 'secrets'])
    expect(Object.keys(released.body.secrets)).toEqual(['no-token-secret'])
    for (const body of [(b: Record<string, unknown>) => b, (b: Record<string, unknown>) => ({ ...b, token: true })]) {
      const full = await attemptRecovery('no-token', adv, disk, { body })
      expect(full.status).toBe(200)
      expect(full.body.token.split('.')).toHaveLength(3)
      expect((await lastAudit('recover')).detail.tokenId).toBeTypeOf('string')
    }

    // Certificates are issued with the EAR: not with "token": false (refused before the nonce is used).
    const certificates = [{ profile: 'no-such-profile', csr: 'not a csr' }]
    const refused = await attemptRecovery('no-token', adv, disk, { body: (b) => ({ ...b, token: false, certificates }) })
    expect(refused.status).toBe(400)
    expect(refused.body.type).toMatch(/\/bad-request$/)
    const again = await kb.raw('POST', '/v1/attest', JSON.stringify({ ...refused.sent, token: true }), { 'Content-Type': 'application/json' })
    expect(again.status).not.toBe(409)
    expect((await kb.raw('POST', '/v1/attest', JSON.stringify({ ...refused.sent, token: 'no' }), { 'Content-Type': 'application/json' })).status).toBe(400)
  })

  it('gates recovery by a named release policy (CEL), as for secrets; request.secret is the sealing key', async () => {
    const policy = await adminCall(kb, 'POST', '/admin/v1/policies', {
      name: 'disk-unlock',
      rules: [
        { name: 'approved-image', expr: 'size(ear.matched) > 0 && size(ear.revoked) == 0' },
        { name: 'only-this-key', expr: 'request.secret == "gated"' },
        { name: 'no-sample-evidence', expr: 'claims.evidenceType != "sample"' },
      ],
    })
    expect(policy.status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'x', referenceValues: [], policy: 'nope' })).status).toBe(400)
    const created = await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'gated', referenceValues: ['disk-v1'], policy: 'disk-unlock' })
    expect(created.status).toBe(201)
    expect(created.body.policy).toBe('disk-unlock')
    const adv = await advertisement('gated')
    const disk = await newDisk('P-256')

    const denied = await attemptRecovery('gated', adv, disk)
    expect(denied.status).toBe(403)
    expect(failedRules(denied.body)).toEqual(['no-sample-evidence'])
    expect(await lastAudit('recover')).toMatchObject({ outcome: 'denied', detail: { policy: 'disk-unlock@1', failedRules: ['no-sample-evidence'] } })

    // A new policy version without that rule: recovery works, and the audit names the version.
    const v2 = await adminCall(kb, 'PUT', '/admin/v1/policies/disk-unlock', {
      rules: [
        { name: 'approved-image', expr: 'size(ear.matched) > 0 && size(ear.revoked) == 0' },
        { name: 'only-this-key', expr: 'request.secret == "gated"' },
      ],
    })
    expect(v2.status).toBe(200)
    await expectRecovered('gated', adv, disk)
    expect(await lastAudit('recover')).toMatchObject({ outcome: 'ok', detail: { policy: 'disk-unlock@2', disk: disk.id } })
    // The recoveries metric counts both, by sealing key and outcome.
    const recoveries = await kb.services.metrics.registry.getSingleMetricAsString('keybroker_recoveries_total')
    expect(recoveries).toContain('keybroker_recoveries_total{sealing_key="gated",outcome="denied"} 1')
    expect(recoveries).toContain('keybroker_recoveries_total{sealing_key="gated",outcome="ok"} 1')

    // The policy cannot be deleted while it gates the key; detached, it can.
    expect((await adminCall(kb, 'DELETE', '/admin/v1/policies/disk-unlock')).status).toBe(409)
    expect((await adminCall(kb, 'PUT', '/admin/v1/sealing-keys/gated', { policy: null })).body.policy).toBeNull()
    expect((await adminCall(kb, 'DELETE', '/admin/v1/policies/disk-unlock')).status).toBe(204)
  })

  it('refuses an unapproved measurement and a revoked one, naming the rule', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'revocable-disk', measurements: [OTHER] })).status).toBe(201)
    await createKey('measured', 'P-256', ['revocable-disk'])
    const adv = await advertisement('measured')
    const disk = await newDisk('P-256')

    const wrong = await attemptRecovery('measured', adv, disk, { measurement: GOOD })
    expect(wrong.status).toBe(403)
    expect(wrong.body.type).toBe('https://keybroker.dev/problems/policy-denied')
    expect(failedRules(wrong.body)).toContain('measurement-in-reference-values')
    expect(wrong.body.recovered).toBeUndefined()

    expect((await attemptRecovery('measured', adv, disk, { measurement: OTHER })).status).toBe(200)
    const revoked = await adminCall(kb, 'POST', '/admin/v1/reference-values/revocable-disk/revoke', { measurement: OTHER, reason: 'CVE' })
    expect(revoked.status).toBe(200)
    const denied = await attemptRecovery('measured', adv, disk, { measurement: OTHER })
    expect(denied.status).toBe(403)
    expect(failedRules(denied.body)).toContain('measurement-in-reference-values')
    const entry = await lastAudit('recover')
    expect(entry).toMatchObject({ outcome: 'denied', subject: 'measured' })
    expect(entry.detail.disk).toBe(disk.id)
  })

  it('refuses a deny-listed disk on its next attempt and lets it in again once removed', async () => {
    await createKey('stolen')
    const adv = await advertisement('stolen')
    const disk = await newDisk('P-256')
    const bystander = await newDisk('P-256')
    await expectRecovered('stolen', adv, disk)

    const deny = await adminCall(kb, 'POST', '/admin/v1/denied-disks', { disk: disk.id, reason: 'laptop stolen' })
    expect(deny.status).toBe(201)
    expect(deny.body).toMatchObject({ disk: disk.id, reason: 'laptop stolen' })
    expect(deny.body.createdBy).toMatch(/^admin-token:/)
    expect((await adminCall(kb, 'POST', '/admin/v1/denied-disks', { disk: disk.id, reason: 'again' })).status).toBe(409)
    expect((await adminCall(kb, 'POST', '/admin/v1/denied-disks', { disk: 'short', reason: 'x' })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/denied-disks', { disk: bystander.id, reason: 'x' }, kb.tokens.auditor)).status).toBe(403)
    const list = await adminCall(kb, 'GET', '/admin/v1/denied-disks', undefined, kb.tokens.auditor)
    expect(list.body.deniedDisks.map((d: { disk: string }) => d.disk)).toContain(disk.id)

    const refused = await attemptRecovery('stolen', adv, disk)
    expect(refused.status).toBe(403)
    expect(failedRules(refused.body)).toEqual(['disk-not-denied'])
    expect(refused.body.failedRules[0]).toMatchObject({ sealingKey: 'stolen', passed: false })
    expect(await lastAudit('recover')).toMatchObject({ outcome: 'denied', detail: { disk: disk.id, failedRules: ['disk-not-denied'] } })
    await expectRecovered('stolen', adv, bystander)

    expect((await adminCall(kb, 'DELETE', `/admin/v1/denied-disks/${disk.id}`)).status).toBe(204)
    expect((await adminCall(kb, 'DELETE', `/admin/v1/denied-disks/${disk.id}`)).status).toBe(404)
    await expectRecovered('stolen', adv, disk)
  })

  it('keeps old versions recovering after rotation until retired; refuses a disabled key', async () => {
    await createKey('rotating')
    const v1 = await advertisement('rotating')
    const disk = await newDisk('P-256')
    await adminCall(kb, 'POST', '/admin/v1/sealing-keys/rotating/rotate')
    const v2 = await advertisement('rotating')
    await expectRecovered('rotating', v1, disk)
    await expectRecovered('rotating', v2, disk)

    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys/rotating/versions/1/retire')).status).toBe(200)
    const retired = await attemptRecovery('rotating', v1, disk)
    expect(retired.status).toBe(403)
    expect(failedRules(retired.body)).toEqual(['exchange-key-active'])

    await adminCall(kb, 'POST', '/admin/v1/sealing-keys/rotating/disable')
    const disabled = await attemptRecovery('rotating', v2, disk)
    expect(disabled.status).toBe(403)
    expect(failedRules(disabled.body)).toEqual(['sealing-key-enabled'])
  })

  it('refuses a replayed request, an expired nonce, unknown keys and malformed exchange points', async () => {
    await createKey('strict')
    const adv = await advertisement('strict')
    const disk = await newDisk('P-256')

    const first = await attemptRecovery('strict', adv, disk)
    expect(first.status).toBe(200)
    const replay = await kb.raw('POST', '/v1/attest', JSON.stringify(first.sent), { 'Content-Type': 'application/json' })
    expect(replay.status).toBe(409)
    expect(JSON.parse(replay.body).type).toBe('https://keybroker.dev/problems/nonce-reused')

    const key = await generateAttestationKey('P-256')
    const { nonce } = await kb.client.challenge()
    kb.clock.advance(kb.config.nonceTtlSeconds + 1)
    try {
      const { x } = blind(disk)
      const body = {
        nonce,
        evidence: { type: 'sample', measurement: GOOD, reportData: toBase64Url(await reportDataFor(nonce, key)) },
        publicKey: key.publicJwk,
        recover: { sealingKey: 'strict', kid: adv.kid, x, disk: disk.id },
      }
      const expired = await kb.raw('POST', '/v1/attest', JSON.stringify(body), { 'Content-Type': 'application/json' })
      expect(expired.status).toBe(400)
      expect(JSON.parse(expired.body).type).toBe('https://keybroker.dev/problems/nonce-expired')
    } finally {
      kb.clock.reset()
    }

    const unknownKey = await attemptRecovery('no-such-key', adv, disk)
    expect(unknownKey.status).toBe(404)
    const unknownKid = await attemptRecovery('strict', { ...adv, kid: 'A'.repeat(43) }, disk)
    expect(unknownKid.status).toBe(404)
    expect(await lastAudit('recover')).toMatchObject({ outcome: 'denied', detail: { reason: 'exchange-key-unknown' } })

    const offCurve = await attemptRecovery('strict', adv, disk, {
      body: (b) => ({ ...b, recover: { ...(b.recover as object), x: { ...adv.S, y: adv.S.x } } }),
    })
    expect(offCurve.status).toBe(400)
    expect(offCurve.body.type).toBe('https://keybroker.dev/problems/key-unsupported')
    const p521 = (await newDisk('P-521')).C
    const wrongCurve = await attemptRecovery('strict', adv, disk, { body: (b) => ({ ...b, recover: { ...(b.recover as object), x: p521 } }) })
    expect(wrongCurve.status).toBe(400)
    expect(wrongCurve.body.type).toBe('https://keybroker.dev/problems/key-unsupported')
    for (const recover of [
      { sealingKey: 'strict', kid: adv.kid, x: adv.S },
      { sealingKey: 'strict', kid: adv.kid, x: adv.S, disk: disk.id, extra: 1 },
      { sealingKey: 'strict', kid: 'short', x: adv.S, disk: disk.id },
      { sealingKey: 'strict', kid: adv.kid, x: 'not a jwk', disk: disk.id },
    ]) {
      const bad = await attemptRecovery('strict', adv, disk, { body: (b) => ({ ...b, recover }) })
      expect(bad.status).toBe(400)
      expect(bad.body.type).toBe('https://keybroker.dev/problems/bad-request')
    }
  })
})
