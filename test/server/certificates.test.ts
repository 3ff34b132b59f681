import { spawn, spawnSync } from 'node:child_process'
import { createHash, X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CompactSign } from 'jose'
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ATTESTATION_EXTENSION_OID, decodeAttestationExtension } from '../../src/ca/index.js'
import type { Database } from '../../src/storage/index.js'
import { caVersions } from '../../src/storage/schema.js'
import { attestWorkload, csrFor, earFor, fetchBytes, newWorkload, openssl, opensslAsync, opensslRun, type Workload } from '../support/ca-flow.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

/**
 * The attested CA end to end (issue 16), with sample evidence (development evidence type,
 * enabled in tests: the flow, not a hardware verifier, is under test) and the real tools a
 * relying party uses: openssl verify / ocsp / crl, a node TLS server with the issued
 * certificate, curl. keybroker runs over plain HTTP on 127.0.0.1 here so that openssl ocsp -url
 * and fetch reach it without its development TLS certificate.
 */
const GOOD = 'c1'.repeat(48)
const OTHER = 'd2'.repeat(48)

describe.each(testDatabases())('attested certificates on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let dir: string
  let caPem: string

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, { KEYBROKER_INSECURE_HTTP: '1' })
    dir = mkdtempSync(join(tmpdir(), 'kb-certs-'))
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'web-v3', measurements: [GOOD] })).status).toBe(201)
    const ca = await adminCall(kb, 'POST', '/admin/v1/cas', { name: 'workloads', keyType: 'P-256' })
    expect(ca.status).toBe(201)
    const profile = await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', {
      name: 'tls-server',
      ca: 'workloads',
      allowedDnsNames: ['*.example.com'],
      allowedIpAddresses: ['127.0.0.1'],
      extendedKeyUsage: ['serverAuth', 'clientAuth'],
      lifetimeSeconds: 86400,
      referenceValues: ['web-v3'],
    })
    expect(profile.status).toBe(201)
    const bundle = await kb.raw('GET', '/v1/ca/workloads')
    expect(bundle.status).toBe(200)
    expect(bundle.headers['content-type']).toBe('application/pem-certificate-chain')
    caPem = bundle.body
    writeFileSync(join(dir, 'ca.pem'), caPem)
  }, 120_000)

  afterAll(async () => {
    await kb?.close()
    await database?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  async function issue(token: string, body: Record<string, unknown>) {
    const res = await kb.raw('POST', '/v1/certificates', JSON.stringify(body), { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` })
    return { status: res.status, body: JSON.parse(res.body) }
  }

  function save(name: string, pem: string): string {
    writeFileSync(join(dir, name), pem)
    return name
  }

  async function ocspStatus(certFile: string): Promise<string> {
    const r = await opensslAsync(dir, 'ocsp', '-issuer', 'ca.pem', '-cert', certFile, '-CAfile', 'ca.pem', '-url', `${kb.url}/v1/ca/workloads/ocsp`)
    expect(r.out).toContain('Response verify OK')
    return r.out
  }

  async function crlText(): Promise<string> {
    const crl = await fetchBytes(kb, 'GET', '/v1/ca/workloads/crl')
    expect(crl.status).toBe(200)
    expect(crl.headers.get('content-type')).toBe('application/pkix-crl')
    writeFileSync(join(dir, 'crl.der'), crl.bytes)
    return openssl(dir, 'crl', '-inform', 'DER', '-in', 'crl.der', '-noout', '-text', '-CAfile', 'ca.pem')
  }

  it('keeps the CA key only as an envelope under the KEK, and never returns it', async () => {
    const rows = await database.db.select().from(caVersions)
    const row = rows.find((r) => r.caName === 'workloads')
    expect(Buffer.from(row?.envelope.subarray(0, 3) ?? []).toString()).toBe('KBE')
    expect(row?.kekId).toBe(kb.services.keks.current.id)
    const view = await adminCall(kb, 'GET', '/admin/v1/cas/workloads', undefined, kb.tokens.auditor)
    expect(view.body).toMatchObject({ name: 'workloads', keyType: 'P-256', source: 'generated', currentVersion: 1 })
    expect(JSON.stringify(view.body)).not.toMatch(/PRIVATE KEY/)
    expect((await adminCall(kb, 'POST', '/admin/v1/cas', { name: 'workloads', keyType: 'P-256' })).status).toBe(409)
    expect((await adminCall(kb, 'POST', '/admin/v1/cas', { name: 'x', keyType: 'P-521' })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/cas', { name: 'x', keyType: 'P-256' }, kb.tokens.registrar)).status).toBe(403)
  })

  it('issues to the attested key: openssl verify, the attestation extension, a TLS server curl trusts, OCSP good then revoked, the CRL, curl refused', async () => {
    const w = newWorkload(dir, 'web')
    const token = await earFor(kb, w, GOOD)
    const res = await issue(token, { ca: 'workloads', profile: 'tls-server', csr: csrFor(dir, w, '/CN=web.example.com', 'DNS:web.example.com,IP:127.0.0.1') })
    expect(res.status).toBe(200)
    expect(res.body.serial).toMatch(/^[0-9a-f]{32}$/)
    expect(res.body.chain).toEqual([caPem])
    const leaf = save('web.pem', res.body.certificate)
    expect(openssl(dir, 'verify', '-CAfile', 'ca.pem', '-purpose', 'sslserver', leaf)).toContain(': OK')
    const cert = new X509Certificate(res.body.certificate)
    expect(cert.serialNumber.toLowerCase()).toBe(res.body.serial)
    expect(new Date(cert.validTo).getTime() - Date.now()).toBeLessThanOrEqual(86_400_000)
    expect(new Date(res.body.notAfter).getTime()).toBe(new Date(cert.validTo).getTime())

    // The attestation result it was issued on.
    const ext = new x509.X509Certificate(cert.raw).getExtension(ATTESTATION_EXTENSION_OID)
    const attested = decodeAttestationExtension(new Uint8Array(ext?.value ?? new ArrayBuffer(0)))
    expect(Buffer.from(attested.earDigest).toString('hex')).toBe(createHash('sha256').update(token).digest('hex'))
    expect(attested).toMatchObject({ earStatus: 'affirming', evidenceType: 'sample', measurement: GOOD, referenceValues: ['web-v3'] })

    // A TLS server with the issued certificate and the attested key, stapling keybroker's OCSP answer.
    openssl(dir, 'ocsp', '-issuer', 'ca.pem', '-cert', leaf, '-no_nonce', '-reqout', 'staple-req.der')
    // The server sends its chain, as TLS servers do: curl --cert-status needs the issuer for the OCSP CertID.
    const server: Server = createServer({ key: readFileSync(w.keyFile), cert: res.body.certificate + res.body.chain.join('') })
    server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer, done: (err: Error | null, response?: Buffer) => void) => {
      fetchBytes(kb, 'POST', '/v1/ca/workloads/ocsp', readFileSync(join(dir, 'staple-req.der')), { 'Content-Type': 'application/ocsp-request' }).then(
        (r) => done(null, Buffer.from(r.bytes)),
        (err: Error) => done(err),
      )
    })
    server.on('request', (_req, out) => out.end('attested hello\n'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    const curl = (...extra: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn('curl', ['-sS', '--max-time', '10', '--cacert', join(dir, 'ca.pem'), '--resolve', `web.example.com:${port}:127.0.0.1`, ...extra, `https://web.example.com:${port}/`])
        let out = ''
        p.stdout.on('data', (d: Buffer) => (out += d.toString()))
        p.stderr.on('data', (d: Buffer) => (out += d.toString()))
        p.on('close', (code) => resolve({ code, out }))
      })
    try {
      expect(await curl()).toEqual({ code: 0, out: 'attested hello\n' })
      expect(await curl('--cert-status')).toEqual({ code: 0, out: 'attested hello\n' })
      expect(await ocspStatus(leaf)).toContain(`${leaf}: good`)
      expect(await crlText()).not.toContain(res.body.serial.toUpperCase())

      const revoked = await adminCall(kb, 'POST', `/admin/v1/certificates/${res.body.serial}/revoke`, { reason: 'keyCompromise' })
      expect(revoked.status).toBe(200)
      expect(revoked.body).toMatchObject({ serial: res.body.serial, reason: 'keyCompromise' })

      // The next request already sees it: OCSP, the CRL, and a TLS client checking OCSP.
      const status = await ocspStatus(leaf)
      expect(status).toContain(`${leaf}: revoked`)
      expect(status).toContain('Reason: keyCompromise')
      const crl = await crlText()
      expect(crl).toContain(`Serial Number: ${res.body.serial.toUpperCase()}`)
      expect(crl).toContain('Key Compromise')
      const refused = await curl('--cert-status')
      expect(refused.code).not.toBe(0)
      expect(refused.out).toMatch(/revocation reason: keyCompromise/)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }

    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const entries = audit.body.entries.filter((e: { subject: string }) => e.subject === res.body.serial)
    expect(entries.map((e: { action: string }) => e.action)).toEqual(['certificate.issue', 'certificate.revoke'])
    for (const e of entries) expect(e.detail.earDigest).toBe(createHash('sha256').update(token).digest('hex'))
  }, 60_000)

  it('refuses, naming why: another key, a bad signature, names outside the profile, a measurement the profile does not allow', async () => {
    const w = newWorkload(dir, 'refused')
    const other = newWorkload(dir, 'other')
    const token = await earFor(kb, w, GOOD)

    const mismatch = await issue(token, { profile: 'tls-server', csr: csrFor(dir, other, '/CN=a.example.com', 'DNS:a.example.com') })
    expect(mismatch.status).toBe(403)
    expect(mismatch.body.type).toBe('https://keybroker.dev/problems/csr-key-mismatch')

    const pem = csrFor(dir, w, '/CN=a.example.com', 'DNS:a.example.com')
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')
    der[der.indexOf(Buffer.from('a.example.com'))] = 'b'.charCodeAt(0)
    const badSig = await issue(token, { profile: 'tls-server', csr: der.toString('base64') })
    expect(badSig.status).toBe(400)
    expect(badSig.body.type).toBe('https://keybroker.dev/problems/csr-signature-invalid')

    const names = await issue(token, { profile: 'tls-server', csr: csrFor(dir, w, '/CN=a.example.com', 'DNS:a.example.com,DNS:evil.org,IP:10.0.0.1') })
    expect(names.status).toBe(403)
    expect(names.body.type).toBe('https://keybroker.dev/problems/name-not-allowed')
    expect(names.body.violations).toHaveLength(2)
    const subject = await issue(token, { profile: 'tls-server', csr: csrFor(dir, w, '/CN=evil.org', 'DNS:a.example.com') })
    expect(subject.status).toBe(403)
    expect(subject.body.type).toBe('https://keybroker.dev/problems/name-not-allowed')

    const malformed = await issue(token, { profile: 'tls-server', csr: 'not a csr' })
    expect(malformed.status).toBe(400)
    expect(malformed.body.type).toBe('https://keybroker.dev/problems/csr-malformed')
    expect((await issue(token, { profile: 'nope', csr: pem })).status).toBe(404)
    expect((await issue(token, { ca: 'other-ca', profile: 'tls-server', csr: pem })).status).toBe(400)
    expect((await issue('a.b.c', { profile: 'tls-server', csr: pem })).status).toBe(401)

    // Attested fine, but on a measurement outside the profile's reference values.
    const stranger = newWorkload(dir, 'stranger')
    const strangerToken = await earFor(kb, stranger, OTHER)
    const denied = await issue(strangerToken, { profile: 'tls-server', csr: csrFor(dir, stranger, '/CN=s.example.com', 'DNS:s.example.com') })
    expect(denied.status).toBe(403)
    expect(denied.body.type).toBe('https://keybroker.dev/problems/policy-denied')
    expect(denied.body.failedRules.map((r: { rule: string }) => r.rule)).toContain('measurement-in-reference-values')
    expect(denied.body.failedRules[0]).toMatchObject({ profile: 'tls-server', passed: false })
    expect(JSON.stringify(denied.body)).not.toContain(GOOD)
  })

  it('issues in the /v1/attest round to the attested publicKey, or denies the whole request', async () => {
    const w = newWorkload(dir, 'round')
    const csr = csrFor(dir, w, '/CN=round.example.com', 'DNS:round.example.com')
    const ok = await attestWorkload(kb, w, GOOD, { certificates: [{ ca: 'workloads', profile: 'tls-server', csr }] })
    expect(ok.status).toBe(200)
    expect(ok.body.certificates).toHaveLength(1)
    const pem: string = ok.body.certificates[0].certificate
    expect(openssl(dir, 'verify', '-CAfile', 'ca.pem', save('round.pem', pem))).toContain(': OK')
    expect(new X509Certificate(pem).publicKey.export({ format: 'jwk' })).toMatchObject({ x: w.publicJwk.x, y: w.publicJwk.y })
    const ext = new x509.X509Certificate(new X509Certificate(pem).raw).getExtension(ATTESTATION_EXTENSION_OID)
    const attested = decodeAttestationExtension(new Uint8Array(ext?.value ?? new ArrayBuffer(0)))
    expect(Buffer.from(attested.earDigest).toString('hex')).toBe(createHash('sha256').update(ok.body.token).digest('hex'))

    const other = newWorkload(dir, 'round-other')
    const denied = await attestWorkload(kb, w, GOOD, { certificates: [{ profile: 'tls-server', csr: csrFor(dir, other, '/CN=x.example.com', 'DNS:x.example.com') }] })
    expect(denied.status).toBe(403)
    expect(denied.body.type).toBe('https://keybroker.dev/problems/csr-key-mismatch')
    expect(denied.body.token).toBeUndefined()
  })

  it('renews on a fresh attestation for the same key or a new one; refuses a revoked certificate', async () => {
    const w = newWorkload(dir, 'renew')
    const first = await issue(await earFor(kb, w, GOOD), { profile: 'tls-server', csr: csrFor(dir, w, '/CN=renew.example.com', 'DNS:renew.example.com') })
    expect(first.status).toBe(200)
    const renew = async (serial: string, token: string, body?: unknown) => {
      const res = await kb.raw('POST', `/v1/certificates/${serial}/renew`, body === undefined ? undefined : JSON.stringify(body), {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      })
      return { status: res.status, body: JSON.parse(res.body) }
    }
    const same = await renew(first.body.serial, await earFor(kb, w, GOOD))
    expect(same.status).toBe(200)
    expect(same.body.serial).not.toBe(first.body.serial)
    expect(new X509Certificate(same.body.certificate).subjectAltName).toBe('DNS:renew.example.com')
    const info = await adminCall(kb, 'GET', `/admin/v1/certificates/${same.body.serial}`, undefined, kb.tokens.auditor)
    expect(info.body).toMatchObject({ renewedFrom: first.body.serial, profile: 'tls-server', measurement: GOOD })

    const next = newWorkload(dir, 'renew-next')
    const newKey = await renew(same.body.serial, await earFor(kb, next, GOOD), { csr: csrFor(dir, next, '/CN=renew.example.com', 'DNS:renew.example.com') })
    expect(newKey.status).toBe(200)
    expect(new X509Certificate(newKey.body.certificate).publicKey.export({ format: 'jwk' })).toMatchObject({ x: next.publicJwk.x })
    // Same key as the old certificate, but the fresh token is for another key: refused.
    expect((await renew(first.body.serial, await earFor(kb, next, GOOD))).body.type).toBe('https://keybroker.dev/problems/csr-key-mismatch')
    // The policy is checked again: a token on another measurement renews nothing.
    expect((await renew(first.body.serial, await earFor(kb, w, OTHER))).status).toBe(403)

    expect((await adminCall(kb, 'POST', `/admin/v1/certificates/${first.body.serial}/revoke`, { reason: 'superseded' })).status).toBe(200)
    expect((await renew(first.body.serial, await earFor(kb, w, GOOD))).status).toBe(409)
  })

  it('lets the holder revoke by proving possession of the key over a fresh nonce, once', async () => {
    const w = newWorkload(dir, 'holder')
    const issued = await issue(await earFor(kb, w, GOOD), { profile: 'tls-server', csr: csrFor(dir, w, '/CN=holder.example.com', 'DNS:holder.example.com') })
    const serial: string = issued.body.serial
    const proof = async (key: Workload, payload: Record<string, unknown>) =>
      new CompactSign(Buffer.from(JSON.stringify(payload))).setProtectedHeader({ alg: 'ES256' }).sign(key.privateKey)
    const revoke = async (p: string) => {
      const res = await kb.raw('POST', `/v1/certificates/${serial}/revoke`, JSON.stringify({ proof: p }), { 'Content-Type': 'application/json' })
      return { status: res.status, body: JSON.parse(res.body) }
    }
    const stranger = newWorkload(dir, 'holder-stranger')
    expect((await revoke(await proof(stranger, { serial, nonce: (await kb.client.challenge()).nonce }))).status).toBe(401)
    expect((await revoke(await proof(w, { serial: 'ab', nonce: (await kb.client.challenge()).nonce }))).status).toBe(401)
    const nonce = (await kb.client.challenge()).nonce
    const good = await proof(w, { serial, nonce, reason: 'keyCompromise' })
    const done = await revoke(good)
    expect(done.status).toBe(200)
    expect(done.body).toMatchObject({ serial, reason: 'keyCompromise' })
    expect((await revoke(good)).status).toBe(409)
    expect(await ocspStatus(save('holder.pem', issued.body.certificate))).toContain(': revoked')
  })

  it('revokes the certificates issued on a reference value when the value is revoked with revokeCertificates', async () => {
    const measurement = 'e3'.repeat(48)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'web-v4', measurements: [measurement] })).status).toBe(201)
    expect(
      (
        await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', {
          name: 'web-v4',
          ca: 'workloads',
          allowedDnsNames: ['{claims.evidenceType}.m.example.com'],
          referenceValues: ['web-v4'],
        })
      ).status,
    ).toBe(201)
    const w = newWorkload(dir, 'v4')
    const issued = await issue(await earFor(kb, w, measurement), { profile: 'web-v4', csr: csrFor(dir, w, '/CN=sample.m.example.com', 'DNS:sample.m.example.com') })
    expect(issued.status).toBe(200)
    const file = save('v4.pem', issued.body.certificate)
    expect(await ocspStatus(file)).toContain(': good')

    const res = await adminCall(kb, 'POST', '/admin/v1/reference-values/web-v4/revoke', { measurement, reason: 'CVE-2026-0001', revokeCertificates: true }, kb.tokens.registrar)
    expect(res.status).toBe(200)
    expect(res.body.revokedCertificates).toEqual([issued.body.serial])
    expect(await ocspStatus(file)).toContain(': revoked')
    const crl = await crlText()
    expect(crl).toContain(issued.body.serial.toUpperCase())
    expect(crl).toMatch(new RegExp(`${issued.body.serial.toUpperCase()}[\\s\\S]*?Privilege Withdrawn`))
  })

  it('rotates the CA: new certificates from the new key, the old key still answers OCSP and stays in the bundle', async () => {
    expect((await adminCall(kb, 'POST', '/admin/v1/cas', { name: 'rotating', keyType: 'P-384' })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', { name: 'rot', ca: 'rotating', allowedDnsNames: ['*.example.com'], referenceValues: ['web-v3'] })).status).toBe(201)
    const w = newWorkload(dir, 'rot')
    const old = await issue(await earFor(kb, w, GOOD), { profile: 'rot', csr: csrFor(dir, w, '/CN=rot.example.com', 'DNS:rot.example.com') })
    const rotated = await adminCall(kb, 'POST', '/admin/v1/cas/rotating/rotate')
    expect(rotated.status).toBe(200)
    expect(rotated.body.currentVersion).toBe(2)
    const fresh = await issue(await earFor(kb, w, GOOD), { profile: 'rot', csr: csrFor(dir, w, '/CN=rot.example.com', 'DNS:rot.example.com') })
    const bundle = (await kb.raw('GET', '/v1/ca/rotating')).body
    expect(bundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(2)
    save('rot-bundle.pem', bundle)
    expect(openssl(dir, 'verify', '-CAfile', 'rot-bundle.pem', save('rot-old.pem', old.body.certificate), save('rot-new.pem', fresh.body.certificate))).toMatch(/rot-old\.pem: OK\s+rot-new\.pem: OK/)
    expect(new X509Certificate(fresh.body.certificate).issuer).toContain('rotating v2')
    save('rot-v1.pem', rotated.body.versions[0].certificate)
    const r = await opensslAsync(dir, 'ocsp', '-issuer', 'rot-v1.pem', '-cert', 'rot-old.pem', '-CAfile', 'rot-bundle.pem', '-url', `${kb.url}/v1/ca/rotating/ocsp`)
    expect(r.out).toContain('rot-old.pem: good')
    expect((await fetchBytes(kb, 'GET', '/v1/ca/rotating/crl?version=1')).status).toBe(200)
    expect((await fetchBytes(kb, 'GET', '/v1/ca/rotating/crl?version=9')).status).toBe(404)
  })

  it('imports an intermediate chained to an external root and issues under it', async () => {
    openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'root.key', '-subj', '/CN=External Root', '-days', '30', '-out', 'root.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    openssl(dir, 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'int.key', '-subj', '/CN=Imported Intermediate', '-out', 'int.csr')
    writeFileSync(join(dir, 'int.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n')
    openssl(dir, 'x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '20', '-extfile', 'int.ext', '-out', 'int.pem')
    const intPem = readFileSync(join(dir, 'int.pem'), 'utf8')
    const rootPem = readFileSync(join(dir, 'root.pem'), 'utf8')
    const wrongKey = await adminCall(kb, 'POST', '/admin/v1/cas', { name: 'imported', certificate: intPem, privateKey: readFileSync(join(dir, 'root.key'), 'utf8') })
    expect(wrongKey.status).toBe(400)
    const leafAsCa = await adminCall(kb, 'POST', '/admin/v1/cas', { name: 'imported', certificate: caPem.replace(/[\s\S]*/, readFileSync(join(dir, 'web.pem'), 'utf8')), privateKey: readFileSync(join(dir, 'web.key'), 'utf8') })
    expect(leafAsCa.status).toBe(400)
    const created = await adminCall(kb, 'POST', '/admin/v1/cas', { name: 'imported', certificate: intPem + rootPem, privateKey: readFileSync(join(dir, 'int.key'), 'utf8') })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ source: 'imported', keyType: 'P-256' })
    expect((await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', { name: 'imp', ca: 'imported', allowedDnsNames: ['*.example.com'], referenceValues: ['web-v3'] })).status).toBe(201)
    const w = newWorkload(dir, 'imp')
    const issued = await issue(await earFor(kb, w, GOOD), { profile: 'imp', csr: csrFor(dir, w, '/CN=imp.example.com', 'DNS:imp.example.com') })
    expect(issued.status).toBe(200)
    expect(issued.body.chain).toHaveLength(2)
    save('imp-chain.pem', issued.body.chain.join(''))
    // The relying party trusts only the external root; the intermediate comes from the chain.
    expect(openssl(dir, 'verify', '-CAfile', 'root.pem', '-untrusted', 'imp-chain.pem', save('imp.pem', issued.body.certificate))).toContain(': OK')
  })

  it('serves OCSP over GET (RFC 6960 A.1) and answers requests for other issuers with unauthorized', async () => {
    openssl(dir, 'ocsp', '-issuer', 'ca.pem', '-cert', 'web.pem', '-reqout', 'get-req.der')
    const b64 = readFileSync(join(dir, 'get-req.der')).toString('base64')
    const res = await fetchBytes(kb, 'GET', `/v1/ca/workloads/ocsp/${encodeURIComponent(b64)}`)
    expect(res.status).toBe(200)
    writeFileSync(join(dir, 'get-res.der'), res.bytes)
    expect(opensslRun(dir, 'ocsp', '-reqin', 'get-req.der', '-respin', 'get-res.der', '-CAfile', 'ca.pem', '-resp_text').out).toContain('Cert Status: revoked')
    const foreign = await fetchBytes(kb, 'POST', '/v1/ca/rotating/ocsp', readFileSync(join(dir, 'get-req.der')), { 'Content-Type': 'application/ocsp-request' })
    writeFileSync(join(dir, 'foreign.der'), foreign.bytes)
    expect(opensslRun(dir, 'ocsp', '-respin', 'foreign.der', '-resp_text', '-noverify').out).toContain('unauthorized')
    const garbage = await kb.raw('POST', '/v1/ca/workloads/ocsp', 'garbage', { 'Content-Type': 'application/ocsp-request' })
    expect(garbage.status).toBe(400)
    expect(JSON.parse(garbage.body).type).toBe('https://keybroker.dev/problems/bad-request')
    expect((await kb.raw('GET', '/v1/ca/nope')).status).toBe(404)
    expect(spawnSync('openssl', ['version']).status).toBe(0)
  })

  it('manages profiles: validation, policy and reference values must exist, a policy in use cannot be deleted', async () => {
    const base = { ca: 'workloads', allowedDnsNames: ['*.example.com'], referenceValues: ['web-v3'] }
    expect((await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', { name: 'p1', ...base, referenceValues: ['nope'] })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', { name: 'p1', ...base, ca: 'nope' })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', { name: 'p1', ...base, allowedDnsNames: ['bad name'] })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', { name: 'p1', ...base, lifetimeSeconds: 100 * 86400 })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', { name: 'p1', ...base, policy: 'nope' })).status).toBe(400)
    expect((await adminCall(kb, 'POST', '/admin/v1/policies', { name: 'strict', rules: [{ name: 'not-debug', expr: '!claims.debug' }] })).status).toBe(201)
    const created = await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', { name: 'p1', ...base, policy: 'strict' })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ name: 'p1', ca: 'workloads', lifetimeSeconds: 86400, extendedKeyUsage: ['serverAuth'], policy: 'strict' })
    expect((await adminCall(kb, 'POST', '/admin/v1/certificate-profiles', { name: 'p1', ...base })).status).toBe(409)
    expect((await adminCall(kb, 'DELETE', '/admin/v1/policies/strict')).status).toBe(409)
    const replaced = await adminCall(kb, 'PUT', '/admin/v1/certificate-profiles/p1', { ...base, lifetimeSeconds: 3600 })
    expect(replaced.body).toMatchObject({ lifetimeSeconds: 3600, policy: null })
    expect((await adminCall(kb, 'GET', '/admin/v1/certificate-profiles', undefined, kb.tokens.auditor)).body.profiles.map((p: { name: string }) => p.name)).toContain('p1')
    expect((await adminCall(kb, 'DELETE', '/admin/v1/certificate-profiles/p1')).status).toBe(204)
    expect((await adminCall(kb, 'GET', '/admin/v1/certificate-profiles/p1', undefined, kb.tokens.auditor)).status).toBe(404)
    const list = await adminCall(kb, 'GET', '/admin/v1/certificates?profile=tls-server&limit=5', undefined, kb.tokens.auditor)
    expect(list.status).toBe(200)
    expect(list.body.certificates.length).toBeGreaterThan(0)
    expect(list.body.certificates.every((c: { profile: string }) => c.profile === 'tls-server')).toBe(true)
  })
})
