import { spawnSync } from 'node:child_process'
import { webcrypto, X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/storage/index.js'
import { earFor, fetchBytes, newWorkload, openssl, opensslRun, type Workload } from '../support/ca-flow.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

/**
 * A fake Cocos agent against keybroker's absmach/certs-compatible endpoints, built from the
 * upstream request shapes (ultravioletrs/cocos `pkg/atls/certificate_provider.go` before the
 * post-handshake aTLS change, absmach/certs `sdk/sdk.go` and `api/http/`):
 *
 * - the agent makes a P-256 key and a CSR with the certs SDK's `CreateCSR` subject (O, CN, C,
 *   L, street, postalCode of `DefaultCertificateSubject`) and its attestation as an extra
 *   extension (OID 2.99999.1.0, opaque to the CA);
 * - `IssueFromCSRInternal(ctx, cvmID, ttl.String(), string(csrPEM), token)` sends
 *   `POST {CAUrl}/certs/csrs/{cvmID}?ttl=8760h0m0s`, `Authorization: Bearer <token>`, body
 *   `{"csr": <[]byte of the PEM, i.e. base64>}`, and expects 200 JSON whose `certificate` is one
 *   PEM block (`strings.ReplaceAll(cert, "\\n", "\n")`, then `pem.Decode` with nothing left);
 * - relying parties use `GET /certs/crl` (`{"crl": base64}`), `POST /certs/ocsp`,
 *   `GET /certs/download-ca` (ca.zip with ca.crt) and `GET /certs/view-ca`.
 * With keybroker the token is the agent's EAR (sample evidence here, enabled in tests).
 */
const GOOD = 'c1'.repeat(48)
const CVM_ID = '7f3c2a10-cvm'

describe.each(testDatabases())('absmach/certs-compatible endpoints (Cocos agent) on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let dir: string
  let agent: Workload
  let serial: string
  let certificatePem: string

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, { KEYBROKER_INSECURE_HTTP: '1', KEYBROKER_CERTS_COMPAT_PROFILE: 'cocos' })
    dir = mkdtempSync(join(tmpdir(), 'kb-cocos-'))
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'cocos-cvm', measurements: [GOOD] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/cas', { name: 'cocos-ca', keyType: 'P-384' })).status).toBe(201)
    const profile = await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', {
      name: 'cocos',
      ca: 'cocos-ca',
      allowedDnsNames: ['*.cvms.example.com'],
      // The certs SDK's subject of a Cocos agent (DefaultCertificateSubject).
      allowedSubject: { CN: ['Ultraviolet'], O: ['Ultraviolet'], C: ['Serbia'], L: ['Belgrade'], street: ['*'], postalCode: ['11000'] },
      extendedKeyUsage: ['serverAuth'],
      lifetimeSeconds: 7 * 86400,
      referenceValues: ['cocos-cvm'],
    })
    expect(profile.status).toBe(201)
    agent = newWorkload(dir, 'agent')
  }, 120_000)

  afterAll(async () => {
    await kb?.close()
    await database?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  /**
   * The CSR as the certs SDK's CreateCSR makes it in Go (x509.CreateCertificateRequest): Go
   * writes C=Serbia although X.520 wants two letters, which openssl req refuses to make, so the
   * request is built with @peculiar/x509 from the agent's key.
   */
  async function agentCsr(w: Workload): Promise<string> {
    const privateKey = await webcrypto.subtle.importKey('pkcs8', w.privateKey.export({ format: 'der', type: 'pkcs8' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
    const publicKey = await webcrypto.subtle.importKey('jwk', w.publicJwk, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify'])
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: [{ O: ['Ultraviolet'] }, { CN: ['Ultraviolet'] }, { C: ['Serbia'] }, { L: ['Belgrade'] }, { '2.5.4.9': ['Bulevar Arsenija Carnojevica 103'] }, { '2.5.4.17': ['11000'] }],
      keys: { privateKey, publicKey },
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: `${CVM_ID}.cvms.example.com` }]),
        // cocos' attestation extension (SNPvTPMOID); its content is opaque to the CA.
        new x509.Extension('2.99999.1.0', false, new Uint8Array([0x04, 0x03, 0xaa, 0xbb, 0xcc])),
      ],
    })
    return csr.toString('pem')
  }

  async function issueFromCsrInternal(token: string, csrPem: string, path = `/certs/csrs/${CVM_ID}?ttl=8760h0m0s`) {
    const res = await kb.raw('POST', path, JSON.stringify({ csr: Buffer.from(csrPem).toString('base64') }), {
      'Content-Type': 'application/json',
      Authorization: `Bearer ${token}`,
    })
    return { status: res.status, body: JSON.parse(res.body) }
  }

  it('issues to the attested agent key; the answer parses the way the agent parses it', async () => {
    const token = await earFor(kb, agent, GOOD)
    const res = await issueFromCsrInternal(token, await agentCsr(agent))
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ revoked: false, entity_id: CVM_ID })
    expect(res.body.serial_number).toMatch(/^[0-9a-f]{2}(?::[0-9a-f]{2}){15}$/)
    // cocos: strings.ReplaceAll(cert.Certificate, "\\n", "\n"); pem.Decode must leave nothing.
    const clean: string = res.body.certificate.replaceAll('\\n', '\n')
    const blocks = clean.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? []
    expect(blocks).toHaveLength(1)
    expect(clean.slice(blocks[0]!.length)).toBe('')
    certificatePem = clean
    const cert = new X509Certificate(clean)
    serial = cert.serialNumber.toLowerCase()
    expect(res.body.serial_number.replaceAll(':', '')).toBe(serial)
    expect(cert.subject).toContain('CN=Ultraviolet')
    expect(cert.subjectAltName).toBe(`DNS:${CVM_ID}.cvms.example.com`)
    // ttl 8760h asked, the profile's 7 days given; expiry_time is that notAfter.
    expect(new Date(res.body.expiry_time).getTime()).toBe(new Date(cert.validTo).getTime())
    expect(new Date(cert.validTo).getTime() - Date.now()).toBeLessThanOrEqual(7 * 86_400_000)
    // The agent's own extension is not copied: the CA vouches only for what it checked.
    expect(openssl(dir, 'x509', '-noout', '-text', '-in', save('agent.pem', clean))).not.toContain('2.99999.1.0')
    const admin = await adminCall(kb, 'GET', `/admin/v1/certificates/${serial}`, undefined, kb.tokens.auditor)
    expect(admin.body).toMatchObject({ entityId: CVM_ID, profile: 'cocos' })
  })

  it('refuses a shared secret, a CSR for another key, and unknown domains', async () => {
    const csr = await agentCsr(agent)
    const secret = await issueFromCsrInternal('static-agent-certs-token', csr)
    expect(secret.status).toBe(401)
    const other = newWorkload(dir, 'other-agent')
    expect((await issueFromCsrInternal(await earFor(kb, other, GOOD), csr)).body.type).toBe('https://keybroker.dev/problems/csr-key-mismatch')
    expect((await issueFromCsrInternal(await earFor(kb, agent, GOOD), csr, `/nope/certs/csrs/${CVM_ID}`)).status).toBe(404)
    expect((await issueFromCsrInternal(await earFor(kb, agent, GOOD), csr, `/certs/csrs/${CVM_ID}?ttl=forever`)).status).toBe(400)
    // The domain form names the profile.
    expect((await issueFromCsrInternal(await earFor(kb, agent, GOOD), csr, `/cocos/certs/csrs/${CVM_ID}?ttl=1h`)).status).toBe(200)
  })

  it('serves the CA for relying parties: download-ca (zip), view-ca, the CRL as JSON, OCSP from JSON and DER', async () => {
    const zip = await fetchBytes(kb, 'GET', '/certs/download-ca')
    expect(zip.status).toBe(200)
    expect(zip.headers.get('content-type')).toBe('application/zip')
    expect(zip.headers.get('content-disposition')).toBe('attachment; filename=ca.zip')
    writeFileSync(join(dir, 'ca.zip'), zip.bytes)
    const caCrt = spawnSync('unzip', ['-p', 'ca.zip', 'ca.crt'], { cwd: dir }).stdout
    writeFileSync(join(dir, 'ca.crt'), caCrt)
    expect(openssl(dir, 'verify', '-CAfile', 'ca.crt', 'agent.pem')).toContain(': OK')
    const view = await kb.raw('GET', '/certs/view-ca')
    expect(JSON.parse(view.body)).toMatchObject({ certificate: caCrt.toString(), revoked: false })

    const ocspJson = async () => {
      const r = await fetchBytes(kb, 'POST', '/certs/ocsp', JSON.stringify({ serial_number: serial.match(/../g)!.join(':') }), { 'Content-Type': 'application/json' })
      expect(r.status).toBe(200)
      expect(r.headers.get('content-type')).toBe('application/ocsp-response')
      writeFileSync(join(dir, 'json-ocsp.der'), r.bytes)
      const out = opensslRun(dir, 'ocsp', '-respin', 'json-ocsp.der', '-CAfile', 'ca.crt', '-resp_text').out
      expect(out).toContain('Response verify OK')
      return out
    }
    expect(await ocspJson()).toContain('Cert Status: good')
    openssl(dir, 'ocsp', '-issuer', 'ca.crt', '-cert', 'agent.pem', '-reqout', 'agent-req.der')
    const der = await fetchBytes(kb, 'POST', '/certs/ocsp', new Uint8Array(spawnSync('cat', ['agent-req.der'], { cwd: dir }).stdout), { 'Content-Type': 'application/ocsp-request' })
    writeFileSync(join(dir, 'agent-res.der'), der.bytes)
    expect(opensslRun(dir, 'ocsp', '-reqin', 'agent-req.der', '-respin', 'agent-res.der', '-CAfile', 'ca.crt', '-resp_text').out).toContain('Cert Status: good')

    // Renewal and revocation as the agent would do them, with a fresh EAR for its key.
    const renewed = await kb.raw('PATCH', `/cocos/certs/${serial.match(/../g)!.join(':')}/renew`, undefined, { Authorization: `Bearer ${await earFor(kb, agent, GOOD)}` })
    expect(renewed.status).toBe(200)
    const cert = JSON.parse(renewed.body).certificate
    expect(Buffer.from(cert.certificate, 'base64').toString()).toContain('BEGIN CERTIFICATE')
    expect(cert.entity_id).toBe(CVM_ID)
    const stranger = newWorkload(dir, 'stranger-agent')
    expect((await kb.raw('PATCH', `/cocos/certs/${serial}/revoke`, undefined, { Authorization: `Bearer ${await earFor(kb, stranger, GOOD)}` })).status).toBe(403)
    expect((await kb.raw('PATCH', `/cocos/certs/${serial}/revoke`, undefined, { Authorization: `Bearer ${await earFor(kb, agent, GOOD)}` })).status).toBe(204)

    expect(await ocspJson()).toContain('Cert Status: revoked')
    const crl = await kb.raw('GET', '/certs/crl')
    writeFileSync(join(dir, 'crl.der'), Buffer.from(JSON.parse(crl.body).crl, 'base64'))
    expect(openssl(dir, 'crl', '-inform', 'DER', '-in', 'crl.der', '-noout', '-text', '-CAfile', 'ca.crt')).toContain(`Serial Number: ${serial.toUpperCase()}`)
    expect(certificatePem).toContain('BEGIN CERTIFICATE')
  })

  function save(name: string, text: string): string {
    writeFileSync(join(dir, name), text)
    return name
  }
})

describe('absmach/certs-compatible endpoints without a configured profile', () => {
  let database: Database
  let kb: TestKeybroker
  beforeAll(async () => {
    database = await testDatabases()[0]!.open()
    kb = await startKeybroker(database)
  }, 60_000)
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('answer 404 problem+json', async () => {
    for (const path of ['/certs/crl', '/certs/view-ca', '/certs/download-ca']) {
      const res = await kb.raw('GET', path)
      expect(res.status).toBe(404)
      expect(JSON.parse(res.body).type).toBe('https://keybroker.dev/problems/not-found')
    }
  })
})
