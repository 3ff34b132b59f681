import { execFileSync, spawnSync } from 'node:child_process'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ATTESTATION_EXTENSION_OID,
  caSigner,
  certificatePem,
  createCrl,
  createLeafCertificate,
  createOcspResponse,
  createRootCertificate,
  csrDerFromText,
  decodeAttestationExtension,
  generateCaKey,
  isIssuedBy,
  issuerIdentityOf,
  newSerial,
  normalizeSerial,
  parseCsr,
  parseOcspRequest,
  storedZip,
  type CaSigner,
} from '../../src/ca/index.js'
import { codeOf } from '../support/error-code.js'

const expectCode = (fn: () => unknown, code: string) => expect(codeOf(fn)).toBe(code)

/**
 * The CA building blocks against the real tool relying parties use: openssl makes the requests
 * and checks what we build (certificate path, CRL, OCSP), unzip reads our archive.
 */
let dir: string
const file = (name: string) => join(dir, name)
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

const ATTESTATION = {
  earDigest: createHash('sha256').update('token').digest(),
  earStatus: 'affirming',
  evidenceType: 'sample',
  measurement: 'c1'.repeat(48),
  tokenId: 'jti-1',
  referenceValues: ['web-v3'],
}

async function newCa(keyType: 'P-256' | 'P-384'): Promise<CaSigner> {
  const pkcs8 = generateCaKey(keyType)
  const now = new Date()
  const der = await createRootCertificate({ pkcs8, commonName: `test ${keyType}`, serialHex: newSerial(), notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 86_400_000) })
  return caSigner(pkcs8, der)
}

function opensslCsr(name: string, subject: string, sans: string, keyArgs: string[] = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']): Uint8Array {
  openssl('req', '-new', ...keyArgs, '-nodes', '-keyout', `${name}.key`, '-subj', subject, ...(sans ? ['-addext', `subjectAltName=${sans}`] : []), '-out', `${name}.csr`)
  return csrDerFromText(readFileSync(file(`${name}.csr`), 'utf8'))
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kb-ca-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('certificate signing requests', () => {
  it('reads an openssl CSR: subject, SANs, key; every text form gives the same DER', () => {
    const der = opensslCsr('a', '/CN=web.example.com/O=Example', 'DNS:web.example.com,DNS:API.example.com,IP:10.1.2.3,IP:2001:db8::1')
    const csr = parseCsr(der)
    expect(csr.subject).toEqual([
      { type: 'CN', value: 'web.example.com' },
      { type: 'O', value: 'Example' },
    ])
    expect(csr.dnsNames).toEqual(['web.example.com', 'api.example.com'])
    expect(csr.ipAddresses).toEqual(['10.1.2.3', '2001:db8::1'])
    expect(csr.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256' })
    const pem = readFileSync(file('a.csr'), 'utf8')
    expect(csrDerFromText(Buffer.from(der).toString('base64'))).toEqual(der)
    expect(csrDerFromText(Buffer.from(der).toString('base64url'))).toEqual(der)
    // Go's []byte JSON field holding the PEM text (absmach/certs SDK).
    expect(csrDerFromText(Buffer.from(pem).toString('base64'))).toEqual(der)
  })

  it('accepts P-384 and RSA keys; refuses a bad signature and small RSA keys', () => {
    expect(parseCsr(opensslCsr('p384', '/CN=x', '', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'])).publicJwk).toMatchObject({ crv: 'P-384' })
    expect(parseCsr(opensslCsr('rsa', '/CN=x', '', ['-newkey', 'rsa:2048'])).publicJwk).toMatchObject({ kty: 'RSA' })
    expectCode(() => parseCsr(opensslCsr('rsa1024', '/CN=x', '', ['-newkey', 'rsa:1024'])), 'key-unsupported')
    const der = opensslCsr('b', '/CN=web.example.com', '')
    const tampered = Uint8Array.from(der)
    const at = Buffer.from(der).indexOf(Buffer.from('web.example.com'))
    tampered[at] = 'W'.charCodeAt(0)
    expectCode(() => parseCsr(tampered), 'csr-signature-invalid')
    const cut = Uint8Array.from(der)
    cut[cut.length - 1] = (cut[cut.length - 1] ?? 0) ^ 1
    expect(() => parseCsr(cut)).toThrow()
  })

  it('refuses text that is no CSR', () => {
    for (const t of ['', 'hello world', '-----BEGIN CERTIFICATE REQUEST-----\n!!\n-----END CERTIFICATE REQUEST-----', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----']) {
      expectCode(() => csrDerFromText(t), 'csr-malformed')
    }
    expectCode(() => parseCsr(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), 'csr-malformed')
  })
})

describe.each(['P-256', 'P-384'] as const)('a %s CA', (keyType) => {
  let ca: CaSigner
  let leafDer: Uint8Array
  let serial: string

  beforeAll(async () => {
    ca = await newCa(keyType)
    writeFileSync(file(`ca-${keyType}.pem`), certificatePem(ca.certificateDer))
    const csr = parseCsr(opensslCsr(`leaf-${keyType}`, '/CN=web.example.com', 'DNS:web.example.com,IP:127.0.0.1'))
    serial = newSerial()
    const now = new Date()
    leafDer = await createLeafCertificate({
      signer: ca,
      serialHex: serial,
      subjectDer: csr.subjectDer,
      spki: csr.spki,
      isRsaKey: false,
      notBefore: now,
      notAfter: new Date(now.getTime() + 3_600_000),
      dnsNames: csr.dnsNames,
      ipAddresses: csr.ipAddresses,
      extendedKeyUsage: ['serverAuth', 'clientAuth'],
      crlUrl: 'https://kb.example/v1/ca/workloads/crl?version=1',
      ocspUrl: 'https://kb.example/v1/ca/workloads/ocsp',
      caIssuersUrl: 'https://kb.example/v1/ca/workloads',
      attestation: ATTESTATION,
    })
    writeFileSync(file(`leaf-${keyType}.pem`), certificatePem(leafDer))
  })

  it('issues a leaf that openssl verify accepts for TLS server and client use', () => {
    expect(openssl('verify', '-CAfile', `ca-${keyType}.pem`, '-purpose', 'sslserver', `leaf-${keyType}.pem`)).toContain('OK')
    expect(openssl('verify', '-CAfile', `ca-${keyType}.pem`, '-purpose', 'sslclient', `leaf-${keyType}.pem`)).toContain('OK')
    const text = openssl('x509', '-in', `leaf-${keyType}.pem`, '-noout', '-text')
    expect(text).toContain('DNS:web.example.com, IP Address:127.0.0.1')
    expect(text).toContain('CA:FALSE')
    expect(text).toContain('OCSP - URI:https://kb.example/v1/ca/workloads/ocsp')
    expect(text).toContain('URI:https://kb.example/v1/ca/workloads/crl?version=1')
    expect(openssl('x509', '-in', `leaf-${keyType}.pem`, '-noout', '-serial').trim()).toBe(`serial=${serial.toUpperCase()}`)
  })

  it('carries the attestation result in its extension', () => {
    const cert = new x509.X509Certificate(Uint8Array.from(leafDer))
    const ext = cert.getExtension(ATTESTATION_EXTENSION_OID)
    expect(ext?.critical).toBe(false)
    const decoded = decodeAttestationExtension(new Uint8Array(ext?.value ?? new ArrayBuffer(0)))
    expect({ ...decoded, earDigest: Buffer.from(decoded.earDigest) }).toEqual({ ...ATTESTATION, earDigest: Buffer.from(ATTESTATION.earDigest) })
  })

  it('signs a CRL that openssl reads and verifies, listing the revoked serial with its reason', async () => {
    const now = new Date()
    const crl = await createCrl({ signer: ca, crlNumber: 7n, thisUpdate: now, nextUpdate: new Date(now.getTime() + 3_600_000), entries: [{ serialHex: serial, revokedAt: now, reason: 'keyCompromise' }] })
    writeFileSync(file(`crl-${keyType}.der`), crl)
    const text = openssl('crl', '-inform', 'DER', '-in', `crl-${keyType}.der`, '-noout', '-text', '-CAfile', `ca-${keyType}.pem`)
    expect(text).toContain(`Serial Number: ${serial.toUpperCase()}`)
    expect(text).toContain('Key Compromise')
    expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*7/)
    // -crl_check: the leaf is now refused by the path validation.
    openssl('crl', '-inform', 'DER', '-in', `crl-${keyType}.der`, '-out', `crl-${keyType}.pem`)
    expect(() => openssl('verify', '-crl_check', '-CAfile', `ca-${keyType}.pem`, '-CRLfile', `crl-${keyType}.pem`, `leaf-${keyType}.pem`)).toThrow(/revoked/)
  })

  it('answers openssl OCSP requests: good, revoked, with the nonce echoed, signed by the CA', () => {
    openssl('ocsp', '-issuer', `ca-${keyType}.pem`, '-cert', `leaf-${keyType}.pem`, '-reqout', `req-${keyType}.der`)
    const req = parseOcspRequest(new Uint8Array(readFileSync(file(`req-${keyType}.der`))))
    expect(req.queries).toHaveLength(1)
    const q = req.queries[0]!
    expect(q.serialHex).toBe(serial)
    expect(isIssuedBy(q, issuerIdentityOf(ca.certificateDer))).toBe(true)
    expect(req.nonce).toBeDefined()
    for (const [status, expected] of [
      [{ kind: 'good' } as const, ': good'],
      [{ kind: 'revoked', revokedAt: new Date(), reason: 'keyCompromise' } as const, ': revoked'],
    ] as const) {
      const res = createOcspResponse({ signer: ca, now: new Date(), validitySeconds: 300, answers: [{ certId: q.certId, status }], nonce: req.nonce })
      writeFileSync(file(`res-${keyType}.der`), res)
      // -reqin: the nonce is compared with the request's; -CAfile: the signature is checked.
      const run = spawnSync('openssl', ['ocsp', '-reqin', `req-${keyType}.der`, '-respin', `res-${keyType}.der`, '-CAfile', `ca-${keyType}.pem`, '-resp_text'], { cwd: dir, encoding: 'utf8' })
      expect(run.status).toBe(0)
      expect(run.stderr).toContain('Response verify OK')
      expect(run.stdout).toContain(`Cert Status${expected}`)
      expect(run.stdout).toContain('OCSP Nonce')
    }
  })
})

describe('serials', () => {
  it('are positive 16-octet integers; client spellings normalize to the same form', () => {
    for (let i = 0; i < 200; i++) {
      const s = newSerial()
      expect(s).toMatch(/^[0-7][0-9a-f]{31}$/)
      expect(s.startsWith('00')).toBe(false)
      expect(normalizeSerial(s)).toBe(s)
      expect(normalizeSerial(s.toUpperCase().match(/../g)!.join(':'))).toBe(s)
    }
    expect(normalizeSerial('0x000A')).toBe('0a')
    expect(normalizeSerial('zz')).toBeUndefined()
    expect(normalizeSerial('00')).toBeUndefined()
  })
})

describe('the download-ca archive', () => {
  it('is a ZIP that unzip lists and extracts byte for byte', () => {
    const content = new Uint8Array(Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'))
    writeFileSync(file('ca.zip'), storedZip([{ name: 'ca.crt', data: content }], new Date('2026-05-04T03:02:01Z')))
    expect(execFileSync('unzip', ['-t', 'ca.zip'], { cwd: dir, encoding: 'utf8' })).toContain('No errors detected')
    expect(execFileSync('unzip', ['-p', 'ca.zip', 'ca.crt'], { cwd: dir })).toEqual(Buffer.from(content))
    expect(execFileSync('unzip', ['-l', 'ca.zip'], { cwd: dir, encoding: 'utf8' })).toMatch(/2026-05-04 03:02\s+ca\.crt/)
  })
})

describe('RSA subscriber keys', () => {
  it('get keyEncipherment besides digitalSignature', async () => {
    const ca = await newCa('P-256')
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }))
    const der = await createLeafCertificate({
      signer: ca,
      serialHex: newSerial(),
      subjectDer: new Uint8Array([0x30, 0x00]),
      spki,
      isRsaKey: true,
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 60_000),
      dnsNames: ['a.example.com'],
      ipAddresses: [],
      extendedKeyUsage: ['clientAuth'],
      attestation: ATTESTATION,
    })
    const cert = new x509.X509Certificate(Uint8Array.from(der))
    expect(cert.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment)
    // Empty subject: the SAN extension is critical (RFC 5280 §4.2.1.6).
    expect(cert.getExtension(x509.SubjectAlternativeNameExtension)?.critical).toBe(true)
  })
})
