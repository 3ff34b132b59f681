import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLE_FORMAT, signBundle } from '../../src/bundles/index.js'
import { KeybrokerClientError } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const repo = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
const EXAMPLE_JWS = repo('reference-values/bundles/example-web.bundle.jws').trim()
const EXAMPLE_PUB = repo('reference-values/bundles/example-publisher.pub.pem')
const AUTOMATA_DOC = repo('reference-values/automata/example-golden-measurement.signed.json')
const AUTOMATA_PUB = repo('reference-values/automata/example-automata-publisher.pub.pem')
const MILAN_MEASUREMENT = 'a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c'
const SAMPLE_M = 'd4'.repeat(48)

const vector = (path: string) => readFileSync(new URL(`../vectors/snp/${path}`, import.meta.url)).toString('base64')
/** A real SEV-SNP report (trustee, Milan, VCEK), as a stored evidence file an admin would explain against. */
const SNP_EVIDENCE = { type: 'snp', report: vector('trustee-milan-vcek/test-report.bin'), certs: [vector('trustee-milan-vcek/test-vcek.der')] }

const sample = (measurement: string) => (reportData: Uint8Array) => ({ type: 'sample', measurement, reportData: toBase64Url(reportData), debug: false })

function publisher(): { privateKey: KeyObject; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }
}

function payload(version: number, overrides: Record<string, unknown> = {}) {
  return {
    format: BUNDLE_FORMAT,
    name: 'sample-image',
    version,
    issuedAt: '2026-01-01T00:00:00Z',
    expiresAt: '2099-01-01T00:00:00Z',
    referenceValues: [{ name: 'sample-image', evidenceType: 'sample', allowDebug: false, values: [{ measurement: SAMPLE_M }] }],
    ...overrides,
  }
}

describe.each(testDatabases())('signed bundles on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  const pub = publisher()
  let fingerprint: string

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('registers signers (admin only) and lists them by fingerprint', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'x', publicKey: pub.pem }, kb.tokens.registrar)).status).toBe(403)
    const created = await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'image publisher', publicKey: pub.pem })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ label: 'image publisher', format: 'keybroker', algorithm: 'EC P-256 (ES256)' })
    fingerprint = created.body.fingerprint
    expect(fingerprint).toMatch(/^[0-9a-f]{64}$/)
    expect((await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'again', publicKey: pub.pem })).status).toBe(409)
    expect((await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'example', publicKey: EXAMPLE_PUB })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'bad', publicKey: 'not a key' })).status).toBe(400)
    const secp = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    expect((await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'k1', publicKey: secp })).status).toBe(400)
    const list = await adminCall(kb, 'GET', '/admin/v1/signers', undefined, kb.tokens.auditor)
    expect(list.body.signers.map((s: { label: string }) => s.label)).toEqual(['example', 'image publisher'])
    expect((await adminCall(kb, 'GET', `/admin/v1/signers/${fingerprint}`, undefined, kb.tokens.registrar)).body.fingerprint).toBe(fingerprint)
    expect((await adminCall(kb, 'GET', `/admin/v1/signers/${'0'.repeat(64)}`)).status).toBe(404)
  })

  it('imports a signed bundle (registrar may), with provenance on every value; the same bytes again are unchanged', async () => {
    const jws = await signBundle(payload(1), pub.privateKey)
    const imported = await adminCall(kb, 'POST', '/admin/v1/bundles', { bundle: jws }, kb.tokens.registrar)
    expect(imported.status).toBe(200)
    expect(imported.body).toMatchObject({ format: 'keybroker', status: 'imported', signer: fingerprint, bundle: { name: 'sample-image', version: 1 } })
    const set = imported.body.referenceValues[0]
    expect(set).toMatchObject({ name: 'sample-image', evidenceType: 'sample', version: 1 })
    expect(set.measurements[0].provenance).toEqual({
      source: 'bundle',
      signer: fingerprint,
      bundleDigest: imported.body.digest,
      signedAt: '2026-01-01T00:00:00Z',
      bundle: 'sample-image',
      bundleVersion: 1,
    })
    const again = await adminCall(kb, 'POST', '/admin/v1/bundles', { bundle: jws })
    expect(again.body.status).toBe('unchanged')
    expect((await adminCall(kb, 'GET', '/admin/v1/reference-values/sample-image')).body.version).toBe(1)
  })

  it('refuses an unknown signer, a bad signature, a rollback, an expired bundle, each with its own problem type', async () => {
    const stranger = publisher()
    const expectProblem = async (body: unknown, status: number, code: string) => {
      const res = await adminCall(kb, 'POST', '/admin/v1/bundles', body)
      expect({ status: res.status, type: res.body.type }).toEqual({ status, type: `https://keybroker.dev/problems/${code}` })
    }
    await expectProblem({ bundle: await signBundle(payload(2), stranger.privateKey) }, 422, 'bundle-signer-unknown')

    const jws = await signBundle(payload(2), pub.privateKey)
    const [h, p, s] = jws.split('.') as [string, string, string]
    const tampered = Buffer.from(JSON.stringify(payload(2, { referenceValues: [{ name: 'sample-image', evidenceType: 'sample', values: [{ measurement: 'ee'.repeat(48) }] }] }))).toString('base64url')
    await expectProblem({ bundle: `${h}.${tampered}.${s}` }, 422, 'bundle-signature-invalid')

    await expectProblem({ bundle: await signBundle(payload(1, { description: 'an older version re-signed' }), pub.privateKey) }, 409, 'bundle-rollback')
    await expectProblem({ bundle: await signBundle(payload(3, { expiresAt: '2020-01-01T00:00:00Z' }), pub.privateKey) }, 422, 'bundle-expired')
    await expectProblem({ bundle: await signBundle(payload(3, { notBefore: '2098-01-01T00:00:00Z' }), pub.privateKey) }, 422, 'bundle-expired')
    await expectProblem({ bundle: 'not-a-jws' }, 400, 'bundle-malformed')
    const unknownClaim = payload(3, { referenceValues: [{ name: 'sample-image', evidenceType: 'sample', expect: [{ claim: 'tcb.snp', atLeast: 1 }], values: [] }] })
    await expectProblem({ bundle: await signBundle(unknownClaim, pub.privateKey) }, 400, 'claim-unknown')
    // Nothing of the refused bundles was written.
    expect((await adminCall(kb, 'GET', '/admin/v1/reference-values/sample-image')).body.version).toBe(1)

    // A newer version is imported; the next older one is then a rollback.
    expect((await adminCall(kb, 'POST', '/admin/v1/bundles', { bundle: await signBundle(payload(5), pub.privateKey) })).body.status).toBe('imported')
    await expectProblem({ bundle: jws }, 409, 'bundle-rollback')
    // A signer removed by an admin is unknown from then on.
    const spare = publisher()
    const reg = await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'spare', publicKey: spare.pem })
    expect((await adminCall(kb, 'DELETE', `/admin/v1/signers/${reg.body.fingerprint}`, undefined, kb.tokens.registrar)).status).toBe(403)
    expect((await adminCall(kb, 'DELETE', `/admin/v1/signers/${reg.body.fingerprint}`)).status).toBe(204)
    await expectProblem({ bundle: await signBundle(payload(9), spare.privateKey) }, 422, 'bundle-signer-unknown')
  })

  it('imports an Automata signed golden measurement with the signer pinned', async () => {
    const body = { automata: AUTOMATA_DOC, name: 'automata-web' }
    const none = await adminCall(kb, 'POST', '/admin/v1/bundles', body)
    expect(none.body.type).toBe('https://keybroker.dev/problems/bundle-signer-unknown')
    // A keybroker signer does not verify Automata documents.
    expect((await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'automata (wrong format)', publicKey: AUTOMATA_PUB })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/bundles', body)).body.type).toBe('https://keybroker.dev/problems/bundle-signer-unknown')
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    expect((await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'other automata', publicKey: other, format: 'automata' })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/bundles', body)).body.type).toBe('https://keybroker.dev/problems/bundle-signature-invalid')

    const signer = await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'automata publisher', publicKey: AUTOMATA_PUB.replace('\n', '\n'), format: 'automata' })
    expect(signer.status).toBe(409)
    // The same key may be a signer of one format only: remove the keybroker registration first.
    const fp = (await adminCall(kb, 'GET', '/admin/v1/signers')).body.signers.find((s: { label: string }) => s.label === 'automata (wrong format)').fingerprint
    expect((await adminCall(kb, 'DELETE', `/admin/v1/signers/${fp}`)).status).toBe(204)
    expect((await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'automata publisher', publicKey: AUTOMATA_PUB, format: 'automata' })).status).toBe(201)

    const imported = await adminCall(kb, 'POST', '/admin/v1/bundles', body, kb.tokens.registrar)
    expect(imported.status).toBe(200)
    expect(imported.body).toMatchObject({ format: 'automata', status: 'imported', signer: fp })
    expect(imported.body.referenceValues[0]).toMatchObject({
      name: 'automata-web',
      evidenceType: 'automata',
      measurements: [{ value: MILAN_MEASUREMENT, provenance: { source: 'automata', signer: fp, documentDigest: imported.body.digest } }],
    })
    expect((await adminCall(kb, 'POST', '/admin/v1/bundles', body)).body.status).toBe('unchanged')
    // One changed byte of the signed content: refused.
    const changed = AUTOMATA_DOC.replace('"cloud_name": "example"', '"cloud_name": "exampld"')
    expect(changed).not.toBe(AUTOMATA_DOC)
    expect((await adminCall(kb, 'POST', '/admin/v1/bundles', { ...body, automata: changed })).body.type).toBe('https://keybroker.dev/problems/bundle-signature-invalid')
  })

  it('done-when: signer, signed bundle, policy, explain against a stored evidence file, attach, release or the rule that said no', async () => {
    // The example bundle from reference-values/ (its signer was registered above).
    const example = await adminCall(kb, 'POST', '/admin/v1/bundles', { bundle: EXAMPLE_JWS })
    expect(example.body).toMatchObject({ status: 'imported', bundle: { name: 'example-web', version: 1 } })
    const policy = JSON.parse(repo('reference-values/policies/example-web-policy.json'))
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', policy)).status).toBe(201)

    // Explain against a real SEV-SNP report: verified for real, appraised against the signed values.
    const explained = await adminCall(kb, 'POST', '/admin/v1/policies/example-web/explain', { evidence: SNP_EVIDENCE, referenceValues: ['example-web-snp'] })
    expect(explained.status).toBe(200)
    expect(explained.body.allowed).toBe(true)
    expect(explained.body.appraisal.sets[0]).toMatchObject({
      set: 'example-web-snp',
      matched: true,
      value: { measurement: MILAN_MEASUREMENT, state: 'active', provenance: { source: 'bundle', bundle: 'example-web' } },
    })
    expect(explained.body.appraisal.sets[0].claims).toEqual(
      expect.arrayContaining([expect.objectContaining({ claim: 'tcb.microcode', op: 'atLeast', expected: 115, actual: 115, passed: true })]),
    )
    expect(explained.body.rules.find((r: { rule: string }) => r.rule === 'guest-svn')).toMatchObject({ passed: true, values: { 'claims.raw.guestSvn': 4 } })

    // A stricter version of the policy: the same evidence, and the trace says which rule says no.
    const strict = { rules: [...policy.rules.filter((r: { name: string }) => r.name !== 'guest-svn'), { name: 'guest-svn', expr: 'claims.raw.guestSvn >= 5' }] }
    expect((await adminCall(kb, 'PUT', '/admin/v1/policies/example-web', strict)).body.version).toBe(2)
    const denied = await adminCall(kb, 'POST', '/admin/v1/policies/example-web/explain', { evidence: SNP_EVIDENCE, referenceValues: ['example-web-snp'] })
    expect(denied.body.allowed).toBe(false)
    expect(denied.body.rules.filter((r: { passed: boolean }) => !r.passed).map((r: { rule: string }) => r.rule)).toEqual(['guest-svn'])

    // A VM (sample evidence here: a real report cannot bind our nonce) gets a secret guarded by a
    // policy that demands a signed golden value.
    const signedOnly = { name: 'signed-only', rules: [{ name: 'signed', expr: 'ear.provenance.exists(p, p.source == "bundle" && p.signer == "' + fingerprint + '")' }, { name: 'affirming', expr: 'ear.status == "affirming"' }] }
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', signedOnly)).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'vm-key', generate: { bytes: 32 }, referenceValues: ['sample-image'] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets/vm-key/policy', { policy: 'signed-only' })).status).toBe(200)
    const { secrets } = await kb.client.attestAndOpen(sample(SAMPLE_M), ['vm-key'])
    expect(secrets['vm-key']?.byteLength).toBe(32)

    // The same measurement entered by hand instead of signed: the rule names itself.
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'hand-entered', evidenceType: 'sample', measurements: [SAMPLE_M] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'vm-key-2', generate: { bytes: 32 }, referenceValues: ['hand-entered'], policy: 'signed-only' })).status).toBe(201)
    const err = await kb.client.attestAndOpen(sample(SAMPLE_M), ['vm-key-2']).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(KeybrokerClientError)
    expect((err as KeybrokerClientError).problem.failedRules).toEqual([expect.objectContaining({ secret: 'vm-key-2', rule: 'signed' })])
  })

  it('refuses malformed import bodies with 400', async () => {
    for (const body of [{}, { bundle: '' }, { automata: '{}' }, { automata: '{}', name: 'x', bundle: 'y' }, { automata: '[1]', name: 'x' }]) {
      expect((await adminCall(kb, 'POST', '/admin/v1/bundles', body)).status, JSON.stringify(body)).toBe(400)
    }
    // A signature over something that is not base64 text, and a document that is not JSON.
    const sig = cryptoSign('sha256', Buffer.from('x'), { key: pub.privateKey, dsaEncoding: 'der' }).toString('base64')
    expect((await adminCall(kb, 'POST', '/admin/v1/bundles', { automata: `{"golden_measurement": {}, "signature": "${sig}"`, name: 'x' })).status).toBe(400)
  })
})
