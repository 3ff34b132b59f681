/**
 * Intel TDX end to end over HTTPS on both databases: collateral uploaded through
 * `/admin/v1/collateral/tdx` (PCS responses with their issuer chains, verified before storing),
 * then synthetic quotes (test/generators/tdx.ts) whose REPORT_DATA carries the binding release a
 * secret; each defect gives its problem type. The synthetic root is pinned through
 * `createServices`' test-only `testTrustAnchors`, never through configuration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClientError } from '../../src/clients/index.js'
import { toBase64Url, toHex } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import {
  createTdxPki,
  GEN_FMSPC,
  issueCrl,
  makeQuote,
  pckChainPem,
  quoteFields,
  signedQeIdentity,
  signedTcbInfo,
  type TdxPki,
} from '../generators/tdx.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const MRTD = '7d'.repeat(48) // the generator's default MRTD
const SECRET = 'tdx disk key'
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64')
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8')

let pki: TdxPki
let rogue: TdxPki
beforeAll(async () => {
  ;[pki, rogue] = await Promise.all([createTdxPki(), createTdxPki()])
})

/** Collateral current around the real clock (the test server runs on it). */
function dates(): { issueDate: string; nextUpdate: string } {
  const now = Date.now()
  const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z')
  return { issueDate: iso(now - 86_400_000), nextUpdate: iso(now + 30 * 86_400_000) }
}

function tdxEvidence(o: { fields?: Parameters<typeof quoteFields>[0]; tamper?: (q: Uint8Array) => void; collateral?: Record<string, string> } = {}) {
  return (reportData: Uint8Array) => {
    const quote = makeQuote(pki, quoteFields({ ...o.fields, body: { reportData, ...o.fields?.body } }))
    o.tamper?.(quote)
    return { type: 'tdx', quote: b64(quote), ...(o.collateral === undefined ? {} : { collateral: o.collateral }) }
  }
}

async function expectProblem(p: Promise<unknown>, status: number, code: string): Promise<KeybrokerClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(KeybrokerClientError)
  const problem = err as KeybrokerClientError
  expect({ status: problem.status, code: problem.code, type: problem.problem.type }).toEqual({ status, code, type: `https://keybroker.dev/problems/${code}` })
  return problem
}

describe.each(testDatabases())('Intel TDX attest → release on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  const upload = (body: unknown) => adminCall(kb, 'POST', '/admin/v1/collateral/tdx', body)
  const issuerChain = () => pckChainPem([pki.tcbSigning, pki.root])

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, {}, undefined, { tdxRoots: [pki.rootSpkiSha256] })
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'td-v1', measurements: [MRTD] })).status).toBe(201)
    const secret = await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'td-key', value: toBase64Url(Buffer.from(SECRET)), referenceValues: ['td-v1'] })
    expect(secret.status).toBe(201)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('without collateral the quote is refused: 422 collateral-missing', async () => {
    await expectProblem(kb.client.attestAndOpen(tdxEvidence(), ['td-key']), 422, 'collateral-missing')
  })

  it('verifies and stores PCS responses with their issuer chains (URL-encoded as the headers carry them)', async () => {
    const d = dates()
    const res = await upload({
      tcbInfo: { body: text(signedTcbInfo(pki, d)), issuerChain: encodeURIComponent(issuerChain()) },
      qeIdentity: { body: text(signedQeIdentity(pki, d)), issuerChain: issuerChain() },
      pckCrl: { crl: b64(await issueCrl(pki.platformCa)), issuerChain: pckChainPem([pki.platformCa, pki.root]) },
      rootCaCrl: { crl: b64(await issueCrl(pki.root)), issuerChain: pckChainPem([pki.root]) },
    })
    expect(res.status).toBe(201)
    const stored = (res.body.stored as { kind: string; key: string; notAfter: string | null }[]).map((c) => `${c.kind}/${c.key}`)
    expect(stored.sort()).toEqual(
      ['tdx-pck-crl/platform', 'tdx-qe-identity/td-qe', 'tdx-root-ca-crl/intel', 'tdx-tcb-info/' + GEN_FMSPC, 'tdx-tcb-signing-chain/intel'].sort(),
    )
    const listed = await adminCall(kb, 'GET', '/admin/v1/collateral?kind=tdx-tcb-info', undefined, kb.tokens.auditor)
    expect(listed.status).toBe(200)
    expect(listed.body.collateral[0]).toMatchObject({ kind: 'tdx-tcb-info', key: GEN_FMSPC, notAfter: new Date(d.nextUpdate).toISOString() })
  })

  it('refuses uploads that do not verify, storing nothing', async () => {
    const d = dates()
    // Signed by a TCB Signing key under another root.
    await expectUpload({ tcbInfo: { body: text(signedTcbInfo(rogue, d)), issuerChain: pckChainPem([rogue.tcbSigning, rogue.root]) } }, 403, 'chain-untrusted')
    // The right chain, another signer.
    await expectUpload({ tcbInfo: { body: text(signedTcbInfo(rogue, d)), issuerChain: issuerChain() } }, 403, 'signature-invalid')
    // Expired.
    await expectUpload({ qeIdentity: { body: text(signedQeIdentity(pki, { issueDate: '2024-01-01T00:00:00Z', nextUpdate: '2024-02-01T00:00:00Z' })), issuerChain: issuerChain() } }, 422, 'collateral-missing')
    // Not JSON; not PEM; a PCK CRL without its issuer chain; a CRL by another CA.
    await expectUpload({ tcbInfo: { body: 'nope', issuerChain: issuerChain() } }, 400, 'bad-request')
    await expectUpload({ tcbInfo: { body: text(signedTcbInfo(pki, d)), issuerChain: 'not pem' } }, 400, 'bad-request')
    await expectUpload({ pckCrl: { crl: b64(await issueCrl(pki.platformCa)) } }, 400, 'bad-request')
    await expectUpload({ pckCrl: { crl: b64(await issueCrl(rogue.platformCa)), issuerChain: pckChainPem([pki.platformCa, pki.root]) } }, 403, 'chain-untrusted')
    // Another TEE's TCB info.
    await expectUpload({ tcbInfo: { body: text(signedTcbInfo(pki, { ...d, id: 'SGX' })), issuerChain: issuerChain() } }, 400, 'evidence-unsupported')
    // Empty or unknown members: the schema.
    await expectUpload({}, 400, 'bad-request')
    await expectUpload({ tcbInfo: { body: '{}', issuerChain: issuerChain(), extra: 1 } }, 400, 'bad-request')
  })

  async function expectUpload(body: unknown, status: number, code: string): Promise<void> {
    const res = await upload(body)
    expect({ status: res.status, type: res.body?.type }).toEqual({ status, type: `https://keybroker.dev/problems/${code}` })
  }

  it('releases a secret for a quote whose REPORT_DATA binds nonce and key (collateral from the admin store)', async () => {
    const { secrets, token } = await kb.client.attestAndOpen(tdxEvidence(), ['td-key'])
    expect(Buffer.from(secrets['td-key'] ?? []).toString()).toBe(SECRET)
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>
    expect(payload['ear.status']).toBe('affirming')
    expect(JSON.stringify(payload)).toContain('intel-tdx')
    expect(JSON.stringify(payload)).toContain('"status":"UpToDate"')
  })

  it('accepts a v5 quote with a TDX 1.5 body and zero padding, as configfs-tsm gives it', async () => {
    const { secrets } = await kb.client.attestAndOpen(tdxEvidence({ fields: { version: 5, bodyType: 3, trailing: new Uint8Array(64) } }), ['td-key'])
    expect(secrets['td-key']).toBeDefined()
  })

  it('collateral in the evidence is used before the store', async () => {
    const d = dates()
    const collateral = { tcbInfo: text(signedTcbInfo(pki, { ...d, levels: [{ status: 'OutOfDate' }] })), tcbSigningChain: issuerChain() }
    const problem = await expectProblem(kb.client.attestAndOpen(tdxEvidence({ collateral }), ['td-key']), 403, 'tcb-below-minimum')
    expect(problem.problem['tcbStatus']).toBe('OutOfDate')
  })

  it('maps each defect to its problem type', async () => {
    await expectProblem(kb.client.attestAndOpen(tdxEvidence({ fields: { body: { tdAttributes: 1n } } }), ['td-key']), 403, 'debug-enabled')
    await expectProblem(kb.client.attestAndOpen(tdxEvidence({ tamper: (q) => void (q[248] = (q[248] ?? 0) ^ 1) }), ['td-key']), 403, 'signature-invalid')
    await expectProblem(kb.client.attestAndOpen(tdxEvidence({ fields: { pckChain: pckChainPem([rogue.pck, rogue.platformCa, rogue.root]) } }), ['td-key']), 403, 'chain-untrusted')
    await expectProblem(kb.client.attestAndOpen(tdxEvidence({ tamper: (q) => void (q[0] = 3) }), ['td-key']), 400, 'evidence-unsupported')
    await expectProblem(kb.client.attestAndOpen(() => ({ type: 'tdx', quote: b64(new Uint8Array(100)) }), ['td-key']), 400, 'evidence-unsupported')
    await expectProblem(kb.client.attestAndOpen(() => ({ type: 'tdx', quote: 'not base64!' }), ['td-key']), 400, 'evidence-malformed')
    await expectProblem(kb.client.attestAndOpen(() => ({ type: 'tdx' }), ['td-key']), 400, 'evidence-malformed')
    const log = new Uint8Array(64).fill(0xab)
    await expectProblem(kb.client.attestAndOpen((rd) => ({ ...tdxEvidence()(rd), eventLog: b64(log) }), ['td-key']), 400, 'evidence-malformed')
  })

  it('refuses a quote whose REPORT_DATA binds another key: binding-mismatch', async () => {
    await expectProblem(kb.client.attestAndOpen(() => tdxEvidence()(new Uint8Array(64).fill(9)), ['td-key']), 403, 'binding-mismatch')
  })

  it('denies a TD whose MRTD is not a reference value, naming the rule', async () => {
    const problem = await expectProblem(kb.client.attestAndOpen(tdxEvidence({ fields: { body: { mrTd: new Uint8Array(48).fill(0x33) } } }), ['td-key']), 403, 'policy-denied')
    expect(JSON.stringify(problem.problem)).toContain('measurement-in-reference-values')
    expect(JSON.stringify(problem.problem)).not.toContain(toHex(new Uint8Array(48).fill(0x7d)))
  })

  it('the audit log records releases and collateral uploads without the evidence', async () => {
    const page = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const entries = page.body.entries as { action: string; outcome: string; detail: Record<string, unknown> }[]
    expect(entries.some((e) => e.action === 'collateral.upload')).toBe(true)
    expect(entries.some((e) => e.action === 'release' && e.outcome === 'ok' && e.detail['evidenceType'] === 'tdx')).toBe(true)
    expect(JSON.stringify(page.body)).not.toContain('BEGIN CERTIFICATE')
  })
})
