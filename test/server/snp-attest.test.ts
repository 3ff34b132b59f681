/**
 * SEV-SNP end to end over HTTPS on both databases: synthetic reports (test/generators/snp.ts)
 * whose REPORT_DATA carries the binding release a secret; each defect gives its problem type;
 * a VCEK missing from the evidence is found in the admin collateral store once uploaded.
 * The synthetic ARK is pinned through `createServices`' test-only `testTrustAnchors`.
 */
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClientError } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { buildCertTable, CERT_TABLE_GUIDS, encodeTcb } from '../../src/evidence/snp/index.js'
import { POLICY_BITS, REPORT } from '../../src/evidence/snp/report-layout.js'
import type { Database } from '../../src/storage/index.js'
import {
  createCa,
  createSnpPki,
  defaultTcb,
  issueEndorsement,
  makeReport,
  rsaKeys,
  type ReportFields,
  type SnpPki,
} from '../generators/snp.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const MEASUREMENT = 'a1'.repeat(48) // the generator's default MEASUREMENT
const SECRET = 'luks master key bytes'
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64')
const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${b64(der).replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`

let pki: SnpPki
let vcek: Uint8Array
let oldTcbVcek: Uint8Array
let rogueArk: Uint8Array
const OLD_TCB = { ...defaultTcb('Milan'), snp: 7 }

beforeAll(async () => {
  pki = await createSnpPki('Milan')
  vcek = await issueEndorsement(pki)
  oldTcbVcek = await issueEndorsement(pki, { tcb: OLD_TCB, serial: '0b' })
  rogueArk = (await createCa(await rsaKeys(), { name: 'ARK-Milan' })).der
})

interface EvidenceOptions {
  fields?: Partial<ReportFields>
  /** DER certificates sent as a list (default VCEK, ASK, ARK); null sends no certs. */
  certs?: Uint8Array[] | null
  /** Changes the report after signing. */
  tamper?: (report: Uint8Array) => void
}

function snpEvidence(o: EvidenceOptions = {}) {
  return (reportData: Uint8Array) => {
    const report = makeReport(pki, { reportData, ...o.fields })
    o.tamper?.(report)
    const certs = o.certs === undefined ? [vcek, pki.ask.der, pki.ark.der] : o.certs
    return { type: 'snp', report: b64(report), ...(certs === null ? {} : { certs: certs.map(b64) }) }
  }
}

async function expectProblem(p: Promise<unknown>, status: number, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(KeybrokerClientError)
  const problem = err as KeybrokerClientError
  expect({ status: problem.status, code: problem.code, contentType: problem.problem.type?.startsWith('https://keybroker.dev/problems/') }).toEqual({
    status,
    code,
    contentType: true,
  })
}

describe.each(testDatabases())('SEV-SNP attest → release on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, { KEYBROKER_SNP_MIN_TCB: '{"milan": {"snp": 8}}' }, undefined, {
      snpArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }],
    })
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'cvm-v1', measurements: [MEASUREMENT] })).status).toBe(201)
    const secret = await adminCall(kb, 'POST', '/admin/v1/secrets', {
      name: 'disk-key',
      value: toBase64Url(Buffer.from(SECRET)),
      referenceValues: ['cvm-v1'],
    })
    expect(secret.status).toBe(201)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('releases a secret for a report whose REPORT_DATA binds nonce and key; the EAR says SNP', async () => {
    const { secrets, token } = await kb.client.attestAndOpen(snpEvidence(), ['disk-key'])
    expect(Buffer.from(secrets['disk-key'] ?? []).toString()).toBe(SECRET)
    const jwks = JSON.parse((await kb.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { currentDate: kb.clock.now() })
    expect(payload['ear.status']).toBe('affirming')
    expect(JSON.stringify(payload)).toContain('amd-sev-snp')
  })

  it('accepts configfs-tsm output unchanged: outblob and auxblob (certificate table) in base64', async () => {
    const { secrets } = await kb.client.attestAndOpen((reportData) => {
      const outblob = makeReport(pki, { reportData })
      const auxblob = buildCertTable(
        [
          { guid: CERT_TABLE_GUIDS.vcek, data: vcek },
          { guid: CERT_TABLE_GUIDS.ask, data: pki.ask.der },
          { guid: CERT_TABLE_GUIDS.ark, data: pki.ark.der },
        ],
        16 * 1024,
      )
      return { type: 'snp', report: b64(outblob), certs: b64(auxblob) }
    }, ['disk-key'])
    expect(Buffer.from(secrets['disk-key'] ?? []).toString()).toBe(SECRET)
  })

  it('refuses a report with DEBUG set: 403 debug-enabled', async () => {
    const policy = makePolicy(POLICY_BITS.debug)
    await expectProblem(kb.client.attestAndOpen(snpEvidence({ fields: { policy } }), ['disk-key']), 403, 'debug-enabled')
  })

  it('refuses a report from VMPL 2 (maximum 0): 403 policy-violation', async () => {
    await expectProblem(kb.client.attestAndOpen(snpEvidence({ fields: { vmpl: 2 } }), ['disk-key']), 403, 'policy-violation')
  })

  it('refuses a TCB below the configured floor (snp 7 < 8): 403 tcb-below-minimum', async () => {
    const tcb = encodeTcb(OLD_TCB, 'Milan')
    const evidence = snpEvidence({ fields: { reportedTcb: tcb, currentTcb: tcb, committedTcb: tcb, launchTcb: tcb }, certs: [oldTcbVcek, pki.ask.der, pki.ark.der] })
    await expectProblem(kb.client.attestAndOpen(evidence, ['disk-key']), 403, 'tcb-below-minimum')
  })

  it('refuses a report changed after signing: 403 signature-invalid', async () => {
    const tamper = (r: Uint8Array) => {
      r[REPORT.measurement.at] = (r[REPORT.measurement.at] ?? 0) ^ 0x01
    }
    await expectProblem(kb.client.attestAndOpen(snpEvidence({ tamper }), ['disk-key']), 403, 'signature-invalid')
  })

  it('refuses a chain to an ARK that is not pinned: 403 chain-untrusted', async () => {
    await expectProblem(kb.client.attestAndOpen(snpEvidence({ certs: [vcek, pki.ask.der, rogueArk] }), ['disk-key']), 403, 'chain-untrusted')
  })

  it('refuses a genuine report that binds another nonce or key: 403 binding-mismatch', async () => {
    const evidence = (reportData: Uint8Array) => snpEvidence()(reportData.map((b) => b ^ 0xff))
    await expectProblem(kb.client.attestAndOpen(evidence, ['disk-key']), 403, 'binding-mismatch')
  })

  it('without the VCEK: 422 collateral-missing; after uploading ARK, ASK and VCEK it releases; after deleting the VCEK, 422 again', async () => {
    await expectProblem(kb.client.attestAndOpen(snpEvidence({ certs: null }), ['disk-key']), 422, 'collateral-missing')
    await expectProblem(kb.client.attestAndOpen(snpEvidence({ certs: [pki.ask.der, pki.ark.der] }), ['disk-key']), 422, 'collateral-missing')

    // A VCEK whose issuer the store does not know yet (the synthetic ASK is not AMD's built-in one).
    expect((await adminCall(kb, 'POST', '/admin/v1/collateral/snp', { certificate: b64(vcek) })).body.type).toContain('chain-untrusted')

    const chain = await adminCall(kb, 'POST', '/admin/v1/collateral/snp', { certificate: pem(pki.ask.der) + pem(pki.ark.der) })
    expect(chain.status).toBe(201)
    expect(chain.body.stored.map((s: { kind: string; key: string }) => `${s.kind} ${s.key}`)).toEqual(['snp-ark Milan', 'snp-ask Milan'])
    const leaf = await adminCall(kb, 'POST', '/admin/v1/collateral/snp', { certificate: b64(vcek) })
    expect(leaf.status).toBe(201)
    const chipHex = Buffer.from(makeReportChipId()).toString('hex')
    const key = `Milan/${chipHex}/${encodeTcb(defaultTcb('Milan'), 'Milan').toString(16).padStart(16, '0')}`
    expect(leaf.body.stored).toEqual([expect.objectContaining({ kind: 'snp-vcek', key, size: vcek.byteLength })])

    const { secrets } = await kb.client.attestAndOpen(snpEvidence({ certs: null }), ['disk-key'])
    expect(Buffer.from(secrets['disk-key'] ?? []).toString()).toBe(SECRET)

    const listed = await adminCall(kb, 'GET', '/admin/v1/collateral', undefined, kb.tokens.auditor)
    expect(listed.status).toBe(200)
    expect(listed.body.collateral.map((c: { kind: string }) => c.kind)).toEqual(['snp-ark', 'snp-ask', 'snp-vcek'])

    const del = await adminCall(kb, 'DELETE', `/admin/v1/collateral/snp-vcek/${encodeURIComponent(key)}`)
    expect(del.status).toBe(204)
    await expectProblem(kb.client.attestAndOpen(snpEvidence({ certs: null }), ['disk-key']), 422, 'collateral-missing')

    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000')
    const actions = audit.body.entries.map((e: { action: string }) => e.action)
    expect(actions.filter((a: string) => a === 'collateral.upload')).toHaveLength(3)
    expect(actions).toContain('collateral.delete')
  })
})

function makePolicy(bit: number): bigint {
  return (1n << BigInt(POLICY_BITS.reserved17MustBeOne)) | (1n << BigInt(POLICY_BITS.smt)) | (1n << BigInt(bit))
}

function makeReportChipId(): Uint8Array {
  return makeReport(pki).subarray(REPORT.chipId.at, REPORT.chipId.at + REPORT.chipId.size)
}
