/**
 * End to end over HTTPS on both databases: the Cocos policies (test/vectors/cocos: go-sev-guest
 * with pcr_values, go-tdx-guest) and a Cocos-style signed CoRIM are imported through
 * POST /admin/v1/bundles, and attestations matching them release a secret. The evidence is
 * synthetic (SNP/TDX signers and vTPM of test/generators): no real Cocos attestation with these
 * values is public. The SEV-SNP part is requested at VMPL 2 (SVSM vTPM) while the service's
 * maximum VMPL stays 0: the imported set's `vmpl` expectation decides.
 */
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClientError } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { TcbParts } from '../../src/evidence/snp/tcb.js'
import type { Database } from '../../src/storage/index.js'
import { createSnpPki, issueCrl as issueSnpCrl, issueEndorsement, type ReportFields, type SnpPki } from '../generators/snp.js'
import { cocosAttestation, cocosPolicyFields, COCOS_TCB } from '../generators/gotpm.js'
import { encodePublic } from '../generators/tpm.js'
import { createTdxPki, issueCrl as issueTdxCrl, makeQuote, pckChainPem, quoteFields, signedQeIdentity, signedTcbInfo, type TdxPki } from '../generators/tdx.js'
import { cocosCorim, signCorim } from '../generators/corim.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const vector = (f: string): string => readFileSync(new URL(`../vectors/cocos/${f}`, import.meta.url), 'utf8')
const SNP_POLICY = vector('attestation_policy.json')
const TDX_POLICY = vector('attestation_policy_tdx.json')
const policy = JSON.parse(SNP_POLICY).policy
const PCRS = JSON.parse(SNP_POLICY).pcr_values
const tdxPolicy = JSON.parse(TDX_POLICY).policy.tdQuoteBodyPolicy
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64')
const fromB64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'))
const CHIP = fromB64(policy.chipId)
const TCB: TcbParts = COCOS_TCB

let pki: SnpPki
let vcek: Uint8Array
let tdx: TdxPki
const ak = generateKeyPairSync('rsa', { modulusLength: 2048 })
const corimKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })

beforeAll(async () => {
  ;[pki, tdx] = await Promise.all([createSnpPki('Milan'), createTdxPki()])
  vcek = await issueEndorsement(pki, { tcb: TCB, hwId: CHIP })
})

function snpFields(overrides: Partial<ReportFields> = {}): Partial<ReportFields> {
  return { ...cocosPolicyFields(policy), ...overrides }
}

/** The Cocos agent's evidence for B: vTPM nonce and TEE nonce are both B[0:32] (README, binding profile gotpm). */
function gotpmEvidence(o: { fields?: Partial<ReportFields>; pcrs?: typeof PCRS; nonce?: (b: Uint8Array) => Uint8Array } = {}) {
  return async (b: Uint8Array) => {
    const pb = await cocosAttestation(pki, { ak, nonce: o.nonce?.(b) ?? b.slice(0, 32), pcrs: o.pcrs ?? PCRS }, snpFields(o.fields), vcek)
    return { type: 'gotpm', attestation: b64(pb) }
  }
}

function tdxEvidence(b: Uint8Array) {
  const h = (s: string) => fromB64(s)
  const quote = makeQuote(
    tdx,
    quoteFields({
      body: {
        reportData: b,
        teeTcbSvn: h(JSON.parse(TDX_POLICY).policy.tdQuoteBodyPolicy.minimumTeeTcbSvn),
        mrSeam: h(tdxPolicy.mrSeam),
        tdAttributes: 1n << 28n,
        xfam: 0x602e7n,
        mrTd: h(tdxPolicy.mrTd),
        rtmr: [h(tdxPolicy.rtmrs[0]), h(tdxPolicy.rtmrs[1]), h(tdxPolicy.rtmrs[2]), h(tdxPolicy.rtmrs[3])],
      },
    }),
  )
  return { type: 'tdx', quote: b64(quote) }
}

async function expectProblem(p: Promise<unknown>, status: number, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(KeybrokerClientError)
  expect({ status: (err as KeybrokerClientError).status, code: (err as KeybrokerClientError).code }).toEqual({ status, code })
}

const earOf = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>

describe.each(testDatabases())('gotpm, Cocos policies and CoRIM → release on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  const registrar = (path: string, body: unknown) => adminCall(kb, 'POST', path, body, kb.tokens.registrar)

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, {}, undefined, { snpArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }], tdxRoots: [tdx.rootSpkiSha256] })
    expect((await registrar('/admin/v1/tpm/aks', { name: 'cocos-vtpm', publicKey: b64(encodePublic(ak.publicKey)) })).status).toBe(201)
    // The test ARK first: the CRL is checked against it before it is stored.
    expect((await adminCall(kb, 'POST', '/admin/v1/collateral/snp', { certificate: b64(pki.ark.der) })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/collateral/snp', { crl: b64(await issueSnpCrl(pki)) })).status).toBe(201)
    const now = Date.now()
    const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z')
    const d = { issueDate: iso(now - 86_400_000), nextUpdate: iso(now + 30 * 86_400_000) }
    const chain = pckChainPem([tdx.tcbSigning, tdx.root])
    const tdxUpload = await adminCall(kb, 'POST', '/admin/v1/collateral/tdx', {
      tcbInfo: { body: Buffer.from(signedTcbInfo(tdx, { ...d, modules: [{ id: 'TDX_01', levels: [{ isvsvn: 6, status: 'UpToDate' }] }] })).toString(), issuerChain: chain },
      qeIdentity: { body: Buffer.from(signedQeIdentity(tdx, d)).toString(), issuerChain: chain },
      pckCrl: { crl: b64(await issueTdxCrl(tdx.platformCa)), issuerChain: pckChainPem([tdx.platformCa, tdx.root]) },
      rootCaCrl: { crl: b64(await issueTdxCrl(tdx.root)), issuerChain: pckChainPem([tdx.root]) },
    })
    expect(tdxUpload.status).toBe(201)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('imports the Cocos SEV-SNP policy (go-sev-guest + pcr_values) and releases to a matching gotpm attestation', async () => {
    const imported = await registrar('/admin/v1/bundles', { gosevguest: SNP_POLICY, name: 'cocos-snp' })
    expect(imported.status).toBe(200)
    expect(imported.body).toMatchObject({ format: 'gosevguest', status: 'imported', signer: null })
    expect(imported.body.referenceValues[0]).toMatchObject({ name: 'cocos-snp', evidenceType: 'gotpm', provenance: { source: 'gosevguest' } })
    expect((await registrar('/admin/v1/bundles', { gosevguest: SNP_POLICY, name: 'cocos-snp' })).body.status).toBe('unchanged')
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'snp-secret', value: toBase64Url(Buffer.from('snp!')), referenceValues: ['cocos-snp'] })).status).toBe(201)

    const { secrets, token } = await kb.client.attestAndOpen(gotpmEvidence(), ['snp-secret'])
    expect(Buffer.from(secrets['snp-secret'] ?? []).toString()).toBe('snp!')
    const ear = earOf(token)
    expect(ear['ear.status']).toBe('affirming')
    expect(JSON.stringify(ear)).toContain('"binding":"gotpm-cocos"')
  })

  it('refuses what the policy does not allow: another PCR 16 (policy-denied), a nonce that is not B[0:32] (binding-mismatch)', async () => {
    await expectProblem(kb.client.attestAndOpen(gotpmEvidence({ pcrs: { ...PCRS, sha256: { ...PCRS.sha256, 16: 'ee'.repeat(32) } } }), ['snp-secret']), 403, 'policy-denied')
    await expectProblem(kb.client.attestAndOpen(gotpmEvidence({ nonce: (b) => b.slice(32, 64) }), ['snp-secret']), 403, 'binding-mismatch')
  })

  it('VMPL 2 is accepted only by sets that expect it: a set without a vmpl claim keeps the global maximum (0)', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'plain', evidenceType: 'gotpm', values: [{ measurement: Buffer.from(fromB64(policy.measurement)).toString('hex') }] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'plain-secret', value: toBase64Url(Buffer.from('p')), referenceValues: ['plain'] })).status).toBe(201)
    await expectProblem(kb.client.attestAndOpen(gotpmEvidence(), ['plain-secret']), 403, 'policy-denied')
    // A VMPL the Cocos set does not expect (1): no matching set accepts it, refused outright.
    await expectProblem(kb.client.attestAndOpen(gotpmEvidence({ fields: { vmpl: 1 } }), ['snp-secret']), 403, 'policy-violation')
  })

  it('imports the Cocos TDX policy (fields go-tdx-guest lacks named in ignore) and releases to a matching TD quote', async () => {
    const refused = await registrar('/admin/v1/bundles', { gotdxguest: TDX_POLICY, name: 'cocos-tdx' })
    expect({ status: refused.status, type: refused.body.type }).toEqual({ status: 400, type: 'https://keybroker.dev/problems/bundle-malformed' })
    expect(refused.body.detail).toContain('"policy" is unknown')
    const ignore = ['policy.tdQuoteBodyPolicy.policy', 'policy.tdQuoteBodyPolicy.eat_validation']
    const imported = await registrar('/admin/v1/bundles', { gotdxguest: TDX_POLICY, name: 'cocos-tdx', ignore })
    expect(imported.status).toBe(200)
    expect(imported.body.referenceValues[0].provenance).toMatchObject({ source: 'gotdxguest', ignored: ignore })
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'tdx-secret', value: toBase64Url(Buffer.from('tdx!')), referenceValues: ['cocos-tdx'] })).status).toBe(201)
    const { secrets } = await kb.client.attestAndOpen(tdxEvidence, ['tdx-secret'])
    expect(Buffer.from(secrets['tdx-secret'] ?? []).toString()).toBe('tdx!')
  })

  it('imports a signed Cocos-style CoRIM (SEV-SNP + PCRs) from a registered corim signer and releases to a matching gotpm attestation', async () => {
    const signerPem = corimKey.publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const measurement = Buffer.from(fromB64(policy.measurement)).toString('hex')
    const corim = signCorim(cocosCorim({ platform: 'snp', measurement, product: 'Milan', pcrs: { 1: { 16: PCRS.sha256['16'] } } }), corimKey.privateKey, {
      notAfter: new Date(Date.now() + 86_400_000),
    })
    const unknown = await registrar('/admin/v1/bundles', { corim: b64(corim), name: 'cocos-corim' })
    expect({ status: unknown.status, type: unknown.body.type }).toEqual({ status: 422, type: 'https://keybroker.dev/problems/bundle-signer-unknown' })
    expect((await adminCall(kb, 'POST', '/admin/v1/signers', { label: 'cocos corimgen', publicKey: signerPem, format: 'corim' })).status).toBe(201)
    const tampered = corim.slice()
    tampered[tampered.byteLength - 5] = (tampered[tampered.byteLength - 5] ?? 0) ^ 1
    expect((await registrar('/admin/v1/bundles', { corim: b64(tampered), name: 'cocos-corim' })).status).toBe(422)
    const imported = await registrar('/admin/v1/bundles', { corim: b64(corim), name: 'cocos-corim' })
    expect(imported.status).toBe(200)
    expect(imported.body.referenceValues[0]).toMatchObject({ evidenceType: 'gotpm', provenance: { source: 'corim', signed: true } })
    expect(imported.body.referenceValues[0].measurements[0].notAfter).not.toBeNull()
    // Expectations are the CoRIM's: product, PCR 16; the vmpl is the global default (0) unless a set says otherwise.
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'corim-secret', value: toBase64Url(Buffer.from('corim!')), referenceValues: ['cocos-corim'] })).status).toBe(201)
    const { secrets } = await kb.client.attestAndOpen(gotpmEvidence({ fields: { vmpl: 0 } }), ['corim-secret'])
    expect(Buffer.from(secrets['corim-secret'] ?? []).toString()).toBe('corim!')
    await expectProblem(kb.client.attestAndOpen(gotpmEvidence({ fields: { vmpl: 0 }, pcrs: { ...PCRS, sha256: { ...PCRS.sha256, 16: 'ee'.repeat(32) } } }), ['corim-secret']), 403, 'policy-denied')
  })

  it('explain shows which imported expectation passed or failed', async () => {
    const created = await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'affirming-only', rules: [{ name: 'affirming', expr: 'ear.status == "affirming"' }] })
    expect([200, 201]).toContain(created.status)
    const evidence = await gotpmEvidence({ pcrs: { ...PCRS, sha256: { ...PCRS.sha256, 16: 'ee'.repeat(32) } } })(new Uint8Array(64))
    const res = await adminCall(kb, 'POST', '/admin/v1/policies/affirming-only/explain', { evidence, referenceValues: ['cocos-snp'] })
    expect(res.status).toBe(200)
    const claims = JSON.stringify(res.body)
    // The failed PCR 16 expectation is listed with its expected and actual values; vmpl 2 passed.
    expect(claims).toMatch(/"claim":"pcr\.sha256\.16","op":"equals","expected":"27e979da[0-9a-f]+","actual":"e{64}","passed":false/)
    expect(claims).toMatch(/"claim":"vmpl","op":"equals","expected":2,"actual":2,"passed":true/)
  })
})
