/**
 * TPM attestation end to end over HTTPS on both databases, with a real swtpm: AKs registered by a
 * registrar, certified by a registered AK CA, or enrolled by credential activation against
 * swtpm's EK certificate chain; quotes of keybroker's binding release secrets; each defect gives
 * its problem type.
 */
import { createHash, randomBytes } from 'node:crypto'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeReportData, generateAttestationKey, KeybrokerClientError, reportDataFor, type Evidence, type ReportDataEncodings } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { akIdOf, decodeAkPublic } from '../../src/evidence/tpm/index.js'
import type { Database } from '../../src/storage/index.js'
import { asciiList, bankDigest, fileEntry } from '../generators/ima.js'
import { writeAgileLog } from '../generators/tcg-event-log.js'
import { createTestCa, issueAkCertificate } from '../generators/tpm.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'
import {
  createAk,
  extendPcr,
  quoteEvidence,
  softwareTpmAvailable,
  softwareTpmRequired,
  startSoftwareTpm,
  TPM_CLIENT_SCRIPT,
  type SoftwareTpm,
} from '../support/swtpm.js'

const available = softwareTpmAvailable()
if (!available && softwareTpmRequired()) throw new Error('swtpm/tpm2-tools are required (KEYBROKER_TEST_REQUIRE_SWTPM=1) but not installed')

const PCRS = 'sha256:0,1,2,3,4,5,6,7'
const SECRET = 'luks key of a TPM machine'

async function problem(p: Promise<unknown>): Promise<{ status: number; code: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(KeybrokerClientError)
  const e = err as KeybrokerClientError
  return { status: e.status, code: e.code }
}

describe.skipIf(!available).each(testDatabases())('TPM attestation over HTTPS on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let tpm: SoftwareTpm
  const pub = async (dir: string) => (await tpm.read(`${dir}/ak.pub`)).toString('base64')
  const akId = async (dir: string) => akIdOf(decodeAkPublic(await pub(dir)).publicKey)
  /** Evidence of `dir`'s AK for `reportData`, optionally changed. */
  const evidenceOf =
    (dir: string, pcrs = PCRS, change: (e: Record<string, unknown>) => Record<string, unknown> = (e) => e) =>
    async (_reportData: Uint8Array, encodings: ReportDataEncodings): Promise<Evidence> => ({
      type: 'tpm',
      ...change(await quoteEvidence(tpm, dir, encodings.tpmQualifyingDataHex, pcrs)),
    })

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
    tpm = await startSoftwareTpm()
    for (const [dir, alg] of [['ak-reg', 'rsa'], ['ak-cert', 'ecc'], ['ak-enroll', 'rsa'], ['ak-stranger', 'ecc']] as const) await createAk(tpm, dir, alg)
    // The reference value: SHA-256 over PCRs 0-7 in order (all zero on a fresh swtpm), as an admin computes it.
    await tpm.tool('tpm2_pcrread', ['-o', 'pcrs.bin', PCRS])
    const measurement = createHash('sha256').update(await tpm.read('pcrs.bin')).digest('hex')
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'tpm-boot', measurements: [measurement] })).status).toBe(201)
    const created = await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'disk', value: toBase64Url(Buffer.from(SECRET)), referenceValues: ['tpm-boot'] })
    expect(created.status).toBe(201)
  }, 120_000)

  afterAll(async () => {
    await tpm?.close()
    await kb?.close()
    await database?.close()
  })

  it('a registrar registers an AK (again: 200, unchanged); an auditor may read but not register', async () => {
    const body = { name: 'machine-1', publicKey: await pub('ak-reg') }
    const first = await adminCall(kb, 'POST', '/admin/v1/tpm/aks', body, kb.tokens.registrar)
    expect(first.status).toBe(201)
    expect(first.body).toMatchObject({ id: await akId('ak-reg'), name: 'machine-1', source: 'registered', createdBy: expect.any(String) })
    expect(first.body.tpmName).toMatch(/^000b[0-9a-f]{64}$/)
    expect((await adminCall(kb, 'POST', '/admin/v1/tpm/aks', body, kb.tokens.registrar)).status).toBe(200)
    expect((await adminCall(kb, 'POST', '/admin/v1/tpm/aks', body, kb.tokens.auditor)).status).toBe(403)
    const list = await adminCall(kb, 'GET', '/admin/v1/tpm/aks', undefined, kb.tokens.auditor)
    expect(list.body.aks.map((a: { name: string }) => a.name)).toContain('machine-1')
    expect((await adminCall(kb, 'POST', '/admin/v1/tpm/aks', { name: 'bad', publicKey: 'AAAA' })).body.type).toBe('https://keybroker.dev/problems/bad-request')
  })

  it('a quote of the binding by the registered AK releases the secret; the token carries the PCRs and AK identity', async () => {
    const { secrets, token } = await kb.client.attestAndOpen(evidenceOf('ak-reg'), ['disk'])
    expect(Buffer.from(secrets['disk']!).toString()).toBe(SECRET)
    const claims = decodeJwt(token)
    expect(JSON.stringify(claims)).toContain(await akId('ak-reg'))
    expect(JSON.stringify(claims)).toContain('"pcr7"')
  })

  it('wrong nonce, replayed quote, reused nonce', async () => {
    const key = await generateAttestationKey()
    const { nonce } = await kb.client.challenge()
    const { nonce: other } = await kb.client.challenge()
    const otherData = await reportDataFor(other, key)
    const forOther = await evidenceOf('ak-reg')(otherData, encodeReportData(otherData))
    expect(await problem(kb.client.attest({ nonce, evidence: forOther, publicKey: key.publicJwk, release: ['disk'] }))).toEqual({ status: 403, code: 'binding-mismatch' })
    // The quote made for `other` cannot be used with a fresh nonce either (a replay)…
    const { nonce: fresh } = await kb.client.challenge()
    expect(await problem(kb.client.attest({ nonce: fresh, evidence: forOther, publicKey: key.publicJwk, release: ['disk'] }))).toEqual({ status: 403, code: 'binding-mismatch' })
    // …and a nonce is spent by its first use, failed or not.
    expect(await problem(kb.client.attest({ nonce, evidence: forOther, publicKey: key.publicJwk, release: ['disk'] }))).toEqual({ status: 409, code: 'nonce-reused' })
  })

  it('an AK nobody registered is chain-untrusted; a deleted AK is untrusted from the next request on', async () => {
    expect(await problem(kb.client.attestAndOpen(evidenceOf('ak-stranger'), ['disk']))).toEqual({ status: 403, code: 'chain-untrusted' })
    const body = { name: 'temporary', publicKey: await pub('ak-stranger') }
    expect((await adminCall(kb, 'POST', '/admin/v1/tpm/aks', body, kb.tokens.registrar)).status).toBe(201)
    await kb.client.attestAndOpen(evidenceOf('ak-stranger'), ['disk'])
    expect((await adminCall(kb, 'DELETE', `/admin/v1/tpm/aks/${await akId('ak-stranger')}`, undefined, kb.tokens.registrar)).status).toBe(204)
    expect(await problem(kb.client.attestAndOpen(evidenceOf('ak-stranger'), ['disk']))).toEqual({ status: 403, code: 'chain-untrusted' })
  })

  it('a PCR value changed after the quote is signature-invalid', async () => {
    const tamper = (e: Record<string, unknown>) => {
      const pcrs = e['pcrs'] as Record<string, Record<string, string>>
      return { ...e, pcrs: { sha256: { ...pcrs['sha256'], 7: 'aa'.repeat(32) } } }
    }
    expect(await problem(kb.client.attestAndOpen(evidenceOf('ak-reg', PCRS, tamper), ['disk']))).toEqual({ status: 403, code: 'signature-invalid' })
  })

  it('an event log that does not replay to the quoted PCRs is event-log-mismatch', async () => {
    const log = writeAgileLog(['sha256'], [{ pcrIndex: 4, eventType: 0x80000003, data: new Uint8Array(40) }])
    const withLog = (e: Record<string, unknown>) => ({ ...e, eventLog: Buffer.from(log).toString('base64') })
    expect(await problem(kb.client.attestAndOpen(evidenceOf('ak-reg', PCRS, withLog), ['disk']))).toEqual({ status: 403, code: 'event-log-mismatch' })
  })

  it('an IMA entry added after the quote is event-log-mismatch; the list as quoted is accepted (other PCRs: no release)', async () => {
    const files = [fileEntry('boot_aggregate', 'b'), fileEntry('/usr/sbin/sshd', 'sshd')]
    for (const f of files) await extendPcr(tpm, 10, { sha256: bankDigest(f, 'sha256').toString('hex'), sha1: bankDigest(f, 'sha1').toString('hex') })
    const ima = (list: typeof files) => (e: Record<string, unknown>) => ({ ...e, imaLog: asciiList(list) })
    const late = [...files, fileEntry('/tmp/added-later', 'x')]
    expect(await problem(kb.client.attestAndOpen(evidenceOf('ak-reg', `${PCRS},10`, ima(late)), ['disk']))).toEqual({ status: 403, code: 'event-log-mismatch' })
    // The list as quoted verifies; PCR 10 is part of the measurement then, so the secret's
    // reference value (PCRs 0-7) does not match: a policy denial, not an evidence error.
    const denied = await problem(kb.client.attestAndOpen(evidenceOf('ak-reg', `${PCRS},10`, ima(files)), ['disk']))
    expect(denied).toEqual({ status: 403, code: 'policy-denied' })
  })

  it('AK certificate: trusted once its CA is registered for AKs (admin only), refused before', async () => {
    const ca = await createTestCa('Test Cloud vTPM AK CA')
    const spki = decodeAkPublic(await pub('ak-cert')).publicKey.export({ type: 'spki', format: 'der' })
    const certificate = await issueAkCertificate(ca, new Uint8Array(spki))
    const withCert = (e: Record<string, unknown>) => ({ ...e, ak: { ...(e['ak'] as object), certificate } })
    expect(await problem(kb.client.attestAndOpen(evidenceOf('ak-cert', PCRS, withCert), ['disk']))).toEqual({ status: 403, code: 'chain-untrusted' })
    expect((await adminCall(kb, 'POST', '/admin/v1/tpm/cas', { name: 'cloud-ak-ca', purpose: 'ak', certificate: ca.pem }, kb.tokens.registrar)).status).toBe(403)
    const registered = await adminCall(kb, 'POST', '/admin/v1/tpm/cas', { name: 'cloud-ak-ca', purpose: 'ak', certificate: ca.pem })
    expect(registered.status).toBe(201)
    expect(registered.body).toMatchObject({ purpose: 'ak', subject: 'CN=Test Cloud vTPM AK CA' })
    expect((await adminCall(kb, 'POST', '/admin/v1/tpm/cas', { name: 'cloud-ak-ca', purpose: 'ak', certificate: ca.pem })).status).toBe(409)
    const { secrets } = await kb.client.attestAndOpen(evidenceOf('ak-cert', PCRS, withCert), ['disk'])
    expect(Buffer.from(secrets['disk']!).toString()).toBe(SECRET)
    // A leaf certificate is not a CA.
    expect((await adminCall(kb, 'POST', '/admin/v1/tpm/cas', { name: 'leaf', purpose: 'ak', certificate })).status).toBe(400)
    expect((await adminCall(kb, 'DELETE', '/admin/v1/tpm/cas/cloud-ak-ca')).status).toBe(204)
    expect(await problem(kb.client.attestAndOpen(evidenceOf('ak-cert', PCRS, withCert), ['disk']))).toEqual({ status: 403, code: 'chain-untrusted' })
  })

  describe('enrollment by credential activation', () => {
    let ekPem: string
    const start = async (body: Record<string, unknown>) => adminCall(kb, 'POST', '/v1/tpm/enrollments', body, 'unused-token-for-public-route')
    const activate = async (body: Record<string, unknown>) => adminCall(kb, 'POST', '/v1/tpm/enrollments/activate', body, 'unused-token-for-public-route')
    /** Runs TPM2_ActivateCredential on swtpm for a start response; returns the credential, base64. */
    const activateWithTpm = async (challenge: { tpm2ToolsCredential: string }, dir = 'ak-enroll'): Promise<string> => {
      await tpm.write('enroll.cred', Buffer.from(challenge.tpm2ToolsCredential, 'base64url'))
      await tpm.tool(TPM_CLIENT_SCRIPT, ['activate', `${tpm.dir}/${dir}`, `${tpm.dir}/enroll.cred`, `${tpm.dir}/enroll.out`])
      return (await tpm.read('enroll.out')).toString('base64')
    }

    beforeAll(async () => {
      await tpm.tool('tpm2_nvread', ['0x1c00002', '-o', 'ek.der'])
      const der = (await tpm.read('ek.der')).toString('base64')
      ekPem = `-----BEGIN CERTIFICATE-----\n${der.replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n${tpm.issuerCaPem}`
    })

    it('refused while no TPM manufacturer CA is registered', async () => {
      const r = await start({ ekCertificate: ekPem, akPublic: await pub('ak-enroll') })
      expect({ status: r.status, type: r.body.type }).toEqual({ status: 403, type: 'https://keybroker.dev/problems/chain-untrusted' })
    })

    it('EK certificate → MakeCredential → the TPM activates → the AK is enrolled and releases the secret', async () => {
      expect((await adminCall(kb, 'POST', '/admin/v1/tpm/cas', { name: 'swtpm-root', purpose: 'ek', certificate: tpm.rootCaPem })).status).toBe(201)
      const akPublic = await pub('ak-enroll')
      const challenge = await start({ ekCertificate: ekPem, akPublic, name: 'enrolled-machine' })
      expect(challenge.status).toBe(200)
      expect(challenge.body.akId).toBe(await akId('ak-enroll'))
      // Not trusted before activation.
      expect(await problem(kb.client.attestAndOpen(evidenceOf('ak-enroll'), ['disk']))).toEqual({ status: 403, code: 'chain-untrusted' })
      const credential = await activateWithTpm(challenge.body)
      const done = await activate({ token: challenge.body.token, credential, akPublic })
      expect(done.status).toBe(201)
      expect(done.body).toMatchObject({ id: await akId('ak-enroll'), name: 'enrolled-machine', source: 'enrolled', ekCertificateSha256: expect.stringMatching(/^[0-9a-f]{64}$/) })
      // Completing again changes nothing.
      expect((await activate({ token: challenge.body.token, credential, akPublic })).status).toBe(200)
      const { secrets, token } = await kb.client.attestAndOpen(evidenceOf('ak-enroll'), ['disk'])
      expect(Buffer.from(secrets['disk']!).toString()).toBe(SECRET)
      expect(decodeJwt(token)).toBeDefined()
      const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=500', undefined, kb.tokens.auditor)
      const actions = audit.body.entries.map((e: { action: string }) => e.action)
      expect(actions).toEqual(expect.arrayContaining(['tpm.ak.register', 'tpm.ak.delete', 'tpm.ca.register', 'tpm.ca.delete', 'tpm.ak.enroll']))
    })

    it('a wrong credential, another AK, a tampered or expired token are refused', async () => {
      const akPublic = await pub('ak-stranger')
      const challenge = await start({ ekCertificate: ekPem, akPublic })
      expect(challenge.status).toBe(200)
      const wrong = await activate({ token: challenge.body.token, credential: randomBytes(32).toString('base64'), akPublic })
      expect({ status: wrong.status, type: wrong.body.type }).toEqual({ status: 403, type: 'https://keybroker.dev/problems/forbidden' })
      const otherAk = await activate({ token: challenge.body.token, credential: randomBytes(32).toString('base64'), akPublic: await pub('ak-reg') })
      expect(otherAk.status).toBe(403)
      const [payload, mac] = String(challenge.body.token).split('.')
      const tampered = await activate({ token: `${payload}x.${mac}`, credential: randomBytes(32).toString('base64'), akPublic })
      expect({ status: tampered.status, type: tampered.body.type }).toEqual({ status: 401, type: 'https://keybroker.dev/problems/token-invalid' })
      const credential = await activateWithTpm(challenge.body, 'ak-stranger')
      kb.clock.advance(301)
      try {
        const late = await activate({ token: challenge.body.token, credential, akPublic })
        expect({ status: late.status, type: late.body.type }).toEqual({ status: 401, type: 'https://keybroker.dev/problems/token-invalid' })
      } finally {
        kb.clock.reset()
      }
    })

    it('bad input is 400: a key that is not a TPM public area, an EK certificate that is not one', async () => {
      const spki = decodeAkPublic(await pub('ak-reg')).publicKey.export({ type: 'spki', format: 'pem' }).toString()
      expect((await start({ ekCertificate: ekPem, akPublic: spki })).status).toBe(400)
      expect((await start({ ekCertificate: 'bm90IGEgY2VydA', akPublic: await pub('ak-reg') })).status).toBe(400)
      expect((await start({ ekCertificate: ekPem })).status).toBe(400)
    })
  })
})
