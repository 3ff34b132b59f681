/**
 * Automata end to end over HTTPS on both databases: a signed golden measurement (json_sig_tool
 * format) is imported as an `automata` reference-value set; a client asks for a challenge with
 * its key, has the "agent" bind the agent nonce, attests with the collaterals and receives the
 * secret; explain shows every expected claim; `/v1/verify` answers the verdict only.
 *
 * The collaterals are synthetic (test/generators/automata.ts): a real TEE report or vTPM quote
 * cannot carry this run's nonce. The synthetic ARK is pinned through `createServices`'
 * test-only trust anchors; its ASK/ARK are uploaded as collateral like an operator would.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAttestationKey, KeybrokerClientError, openSecret, type AttestationKey } from '../../src/clients/index.js'
import type { CollateralsJson } from '../../src/evidence/automata/index.js'
import { toHex } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { BOOT_EVENTS, bootPcrs, buildCollaterals, vcekOf, type AutomataBuild } from '../generators/automata.js'
import { createSnpPki, type SnpPki } from '../generators/snp.js'
import { akKeyPair, createTestCa, issueAkCertificate, type TestCa } from '../generators/tpm.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const MEASUREMENT = 'a1'.repeat(48) // the SNP generator's default MEASUREMENT
const SECRET = 'automata workload api key'
const b64 = (b: Uint8Array | Buffer) => Buffer.from(b).toString('base64')
const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${b64(der).replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`

let pki: SnpPki
let vcek: Uint8Array
let akCa: TestCa
const publisher = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const azureAk = akKeyPair('rsa')
const gcpAk = akKeyPair('p256')
const PCRS = bootPcrs(BOOT_EVENTS)
const EXPECTED_PCRS = [4, 7, 16, 23] as const

/**
 * A json_sig_tool document signed here without keybroker's code: every key is ASCII and every
 * value a string or an integer, so Python's `json.dumps(sort_keys=True, separators=(",", ":"))`
 * is JSON.stringify of the key-sorted object (built in sorted order below).
 */
function goldenMeasurement(pcrs: Record<number, Uint8Array>): string {
  const gm = {
    cloud: 'azure',
    pcrs: EXPECTED_PCRS.map((index) => ({ index, pcr: toHex(pcrs[index] ?? new Uint8Array(32)) })),
    snp: { measurement: MEASUREMENT },
  }
  const signed = Buffer.from(JSON.stringify(gm), 'utf8')
  const signature = sign('sha256', signed, { key: publisher.privateKey, dsaEncoding: 'der' })
  return JSON.stringify({ golden_measurement: gm, signature: b64(signature) }, null, 2)
}

beforeAll(async () => {
  ;[pki, akCa] = await Promise.all([createSnpPki('Milan'), createTestCa('GCP vTPM AK CA (test)')])
  vcek = await vcekOf(pki)
})

async function problem(p: Promise<unknown>): Promise<{ status: number; code: string; body: Record<string, unknown> }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(KeybrokerClientError)
  const e = err as KeybrokerClientError
  return { status: e.status, code: e.code, body: e.problem as Record<string, unknown> }
}

describe.each(testDatabases())('automata collaterals on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, {}, undefined, { snpArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }] })
    expect((await adminCall(kb, 'POST', '/admin/v1/collateral/snp', { certificate: pem(pki.ask.der) + pem(pki.ark.der) })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/tpm/cas', { name: 'gcp-ak-ca', purpose: 'ak', certificate: akCa.pem })).status).toBe(201)
    const signer = publisher.publicKey.export({ type: 'spki', format: 'pem' }).toString()
    expect((await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'automata publisher', publicKey: signer, format: 'automata' })).status).toBe(201)
  }, 60_000)

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  /** Challenge with a fresh key, the "agent" binds the agent nonce, the collaterals as evidence. */
  async function agentRound(o: Partial<AutomataBuild> = {}): Promise<{ key: AttestationKey; nonce: string; agentNonce: string; collaterals: CollateralsJson }> {
    const key = await generateAttestationKey()
    const { nonce, agentNonce } = await kb.client.challenge(key.publicJwk)
    if (agentNonce === undefined) throw new Error('no agentNonce')
    const collaterals = await buildCollaterals({ tee: 'snp', cloud: 'azure', generation: 'v2', nonce: agentNonce, ak: azureAk, snp: { pki, vcek }, ...o })
    return { key, nonce, agentNonce, collaterals }
  }

  it('signed golden measurement → automata set → collaterals release the secret; explain shows every expected claim', async () => {
    const imported = await adminCall(kb, 'POST', '/admin/v1/bundles', { automata: goldenMeasurement(PCRS), name: 'automata-web' }, kb.tokens.registrar)
    expect(imported.status).toBe(200)
    expect(imported.body.referenceValues[0]).toMatchObject({
      name: 'automata-web',
      evidenceType: 'automata',
      measurements: [{ value: MEASUREMENT, provenance: { source: 'automata' } }],
    })
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'workload-key', value: Buffer.from(SECRET).toString('base64url'), referenceValues: ['automata-web'] })).status).toBe(201)

    const { key, nonce, collaterals } = await agentRound()
    const result = await kb.client.attest({ nonce, evidence: { type: 'automata', collaterals }, publicKey: key.publicJwk, release: ['workload-key'] })
    expect(Buffer.from(await openSecret(result.secrets['workload-key'] ?? '', key)).toString()).toBe(SECRET)

    const ear = decodeJwt(result.token) as Record<string, unknown> & { submods: Record<string, Record<string, unknown>> }
    const sub = ear.submods['automata']
    expect(sub?.['ear.status']).toBe('affirming')
    expect(sub?.['ear.trustworthiness-vector']).toMatchObject({ 'instance-identity': 2, executables: 2 })
    expect(sub?.['ear.veraison.annotated-evidence']).toMatchObject({ binding: 'automata-v2', teeTpmTie: 'azure-var-data', referenceValues: ['automata-web'] })

    // Explain: the set's value matched (with its Automata provenance) and every expected PCR claim passed.
    const explained = await adminCall(kb, 'POST', '/admin/v1/policies/default/explain', { evidence: { type: 'automata', collaterals }, secret: 'workload-key' })
    expect(explained.status).toBe(200)
    expect(explained.body.allowed).toBe(true)
    const set = explained.body.appraisal.sets.find((x: { set: string }) => x.set === 'automata-web')
    expect(set).toMatchObject({ matched: true, value: { measurement: MEASUREMENT, provenance: { source: 'automata' } } })
    // Every claim the golden measurement expects; besides them only the service's implicit VMPL bound.
    const expected = set.claims.filter((c: { claim: string }) => c.claim !== 'vmpl')
    expect(set.claims.find((c: { claim: string }) => c.claim === 'vmpl')).toMatchObject({ passed: true, actual: 0 })
    expect(expected.map((c: { claim: string; passed: boolean; actual: string }) => [c.claim, c.passed, c.actual])).toEqual(
      EXPECTED_PCRS.map((i) => [`pcr.sha256.${i}`, true, toHex(PCRS[i] ?? new Uint8Array())]),
    )

    // A release policy may demand the cryptographic tie (claims.teeTpmTie in CEL).
    const policy = await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'azure-only', rules: [{ name: 'tie', expr: 'claims.teeTpmTie == "azure-var-data"' }] })
    expect(policy.status).toBe(201)
    const tied = await adminCall(kb, 'POST', '/admin/v1/policies/azure-only/explain', { evidence: { type: 'automata', collaterals }, referenceValues: ['automata-web'] })
    expect(tied.body.rules).toContainEqual(expect.objectContaining({ rule: 'tie', passed: true }))

    // The audit names the binding rule.
    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=200', undefined, kb.tokens.auditor)
    const release = audit.body.entries.filter((e: { action: string; outcome: string }) => e.action === 'release' && e.outcome === 'ok').at(-1)
    expect(release.detail).toMatchObject({ evidenceType: 'automata', binding: 'automata-v2' })
  })

  it('another workload (PCR 23) is refused by the set; the failed rule is named', async () => {
    const { key, nonce, collaterals } = await agentRound({ events: BOOT_EVENTS.map((e) => (e.pcrIndex === 23 ? { ...e, data: new Uint8Array(Buffer.from('another workload')) } : e)) })
    const p = await problem(kb.client.attest({ nonce, evidence: { type: 'automata', collaterals }, publicKey: key.publicJwk, release: ['workload-key'] }))
    expect(p).toMatchObject({ status: 403, code: 'policy-denied' })
    expect((p.body['failedRules'] as { rule: string }[]).map((r) => r.rule)).toContain('measurement-in-reference-values')
  })

  it('collaterals whose vTPM nothing ties to the TEE report are refused by the default rules (AWS, unregistered AK)', async () => {
    const { key, nonce, collaterals } = await agentRound({ cloud: 'aws', ak: gcpAk })
    const p = await problem(kb.client.attest({ nonce, evidence: { type: 'automata', collaterals }, publicKey: key.publicJwk, release: ['workload-key'] }))
    expect(p).toMatchObject({ status: 403, code: 'policy-denied' })
    expect((p.body['failedRules'] as { rule: string }[]).map((r) => r.rule)).toEqual(['ear-status-affirming'])
    // A token of that evidence (attest without release answers the EAR, contraindicated) fetches
    // nothing either: the tie travels in the token and is appraised again.
    const untied = await agentRound({ cloud: 'aws', ak: gcpAk })
    const { token } = await kb.client.attest({ nonce: untied.nonce, evidence: { type: 'automata', collaterals: untied.collaterals }, publicKey: untied.key.publicJwk })
    expect(decodeJwt(token)['ear.status']).toBe('contraindicated')
    expect(await problem(kb.client.secret('workload-key', { token, key: untied.key }))).toMatchObject({ status: 403, code: 'policy-denied' })
    // The same VM with its AK certified by the registered GCP AK CA: released.
    const certified = await agentRound({ cloud: 'gcp', ak: gcpAk, akCertPem: await issueAkCertificate(akCa, new Uint8Array(gcpAk.publicKey.export({ type: 'spki', format: 'der' }))) })
    const ok = await kb.client.attest({ nonce: certified.nonce, evidence: { type: 'automata', collaterals: certified.collaterals }, publicKey: certified.key.publicJwk, release: ['workload-key'] })
    expect(Buffer.from(await openSecret(ok.secrets['workload-key'] ?? '', certified.key)).toString()).toBe(SECRET)
    // ...and its token fetches the secret again (passport), the tie re-appraised from the token.
    const again = await kb.client.secret('workload-key', { token: ok.token, key: certified.key })
    expect(Buffer.from(again.plaintext).toString()).toBe(SECRET)
  })

  it('binding: the agent nonce of another key, a wrong magic or a mixed generation is 403 binding-mismatch', async () => {
    const a = await agentRound()
    const attacker = await generateAttestationKey()
    expect(await problem(kb.client.attest({ nonce: a.nonce, evidence: { type: 'automata', collaterals: a.collaterals }, publicKey: attacker.publicJwk }))).toMatchObject({ status: 403, code: 'binding-mismatch' })
    const m = await agentRound({ magic: 'Internal/collaterals' })
    expect(await problem(kb.client.attest({ nonce: m.nonce, evidence: { type: 'automata', collaterals: m.collaterals }, publicKey: m.key.publicJwk }))).toMatchObject({ code: 'binding-mismatch' })
    const mixed = await agentRound({ cloud: 'aws', ak: gcpAk, generation: 'v1', teeReportData: new Uint8Array(64) })
    expect(await problem(kb.client.attest({ nonce: mixed.nonce, evidence: { type: 'automata', collaterals: mixed.collaterals }, publicKey: mixed.key.publicJwk }))).toMatchObject({ code: 'binding-mismatch' })
  })

  it('a malformed field is 400 evidence-malformed naming it', async () => {
    const { key, nonce, collaterals } = await agentRound()
    // A TPMT_SIGNATURE cut short.
    const bad = { ...collaterals, tpm: { ...collaterals.tpm, raw_sig: b64(Buffer.from(collaterals.tpm.raw_sig, 'base64').subarray(0, 10)) } }
    const p = await problem(kb.client.attest({ nonce, evidence: { type: 'automata', collaterals: bad }, publicKey: key.publicJwk }))
    expect(p).toMatchObject({ status: 400, code: 'evidence-malformed' })
    expect(String(p.body['detail'])).toContain('collaterals.tpm.raw_sig')
  })

  it('POST /v1/verify answers the EAR of acceptable evidence and 403 with the failed rules otherwise; audited as verify', async () => {
    const { key, nonce, collaterals } = await agentRound()
    const { token } = await kb.client.verify({ nonce, evidence: { type: 'automata', collaterals }, publicKey: key.publicJwk })
    const ear = decodeJwt(token) as Record<string, unknown>
    expect(ear['ear.status']).toBe('affirming')
    expect(ear['cnf']).toEqual({ jwk: key.publicJwk })
    expect(ear['kb.secrets']).toBeUndefined()
    // The nonce is spent, as with /v1/attest.
    expect(await problem(kb.client.verify({ nonce, evidence: { type: 'automata', collaterals }, publicKey: key.publicJwk }))).toMatchObject({ status: 409, code: 'nonce-reused' })

    const untied = await agentRound({ cloud: 'aws', ak: gcpAk })
    const p = await problem(kb.client.verify({ nonce: untied.nonce, evidence: { type: 'automata', collaterals: untied.collaterals }, publicKey: untied.key.publicJwk }))
    expect(p).toMatchObject({ status: 403, code: 'policy-denied' })
    expect(p.body['failedRules']).toEqual([expect.objectContaining({ rule: 'ear-status-affirming', passed: false })])

    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=500', undefined, kb.tokens.auditor)
    const verifies = audit.body.entries.filter((e: { action: string }) => e.action === 'verify')
    expect(verifies.map((e: { outcome: string }) => e.outcome).slice(-2)).toEqual(['ok', 'denied'])
    expect(verifies.at(-2).detail).toMatchObject({ evidenceType: 'automata', binding: 'automata-v2', status: 'affirming' })
  })

  it('POST /v1/verify without publicKey: the keyless binding; the token names no key and fetches no secret', async () => {
    const { nonce } = await kb.client.challenge()
    // The client computes the keyless agent nonce itself: base64url(SHA-512("keybroker-v1:" + nonce + ":")[0:32]).
    const agentNonce = createHash('sha512').update(`keybroker-v1:${nonce}:`, 'ascii').digest().subarray(0, 32).toString('base64url')
    const collaterals = await buildCollaterals({ tee: 'snp', cloud: 'azure', generation: 'v2', nonce: agentNonce, ak: azureAk, snp: { pki, vcek } })
    const { token } = await kb.client.verify({ nonce, evidence: { type: 'automata', collaterals } })
    expect(decodeJwt(token)['cnf']).toBeUndefined()
    expect(await problem(kb.client.secret('workload-key', { token, key: await generateAttestationKey() }))).toMatchObject({ status: 401, code: 'token-invalid' })
  })
})
