import 'reflect-metadata'
import { createHash, X509Certificate, webcrypto } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as x509 from '@peculiar/x509'

export interface TlsMaterial {
  readonly cert: string
  readonly key: string
  /** SHA-256 of the leaf certificate (DER), colon-separated hex, for pinning by clients. */
  readonly fingerprint: string
}

const CERT_FILE = 'dev-cert.pem'
const KEY_FILE = 'dev-key.pem'
const VALIDITY_DAYS = 365

/** Reads a configured certificate chain and key (PEM files). */
export async function loadTls(certFile: string, keyFile: string): Promise<TlsMaterial> {
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')])
  return { cert, key, fingerprint: fingerprintOf(cert) }
}

/**
 * Loads the self-signed development certificate from `dir`, or creates it (ECDSA P-256,
 * SAN localhost, 127.0.0.1, ::1, one year) and keeps it there, key file mode 0600. A clear
 * development convenience: production deployments configure KEYBROKER_TLS_CERT/KEY.
 */
export async function loadOrCreateDevCertificate(dir: string, hostname: string): Promise<TlsMaterial> {
  const certPath = join(dir, CERT_FILE)
  const keyPath = join(dir, KEY_FILE)
  try {
    return await loadTls(certPath, keyPath)
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'ENOENT')) throw err
  }
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
  x509.cryptoProvider.set(webcrypto as Crypto)
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])
  const now = new Date()
  const names = new Set(['localhost', '127.0.0.1', '::1', hostname])
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: createHash('sha256').update(String(now.getTime())).digest('hex').slice(0, 16),
    name: 'CN=keybroker development certificate',
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + VALIDITY_DAYS * 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        [...names].map((n) => (/^[\d.]+$|:/.test(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })),
      ),
    ],
  })
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64')
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`
  const certPem = cert.toString('pem')
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await writeFile(keyPath, keyPem, { mode: 0o600, flag: 'wx' })
  await writeFile(certPath, `${certPem}\n`, { mode: 0o644, flag: 'wx' })
  return { cert: certPem, key: keyPem, fingerprint: fingerprintOf(certPem) }
}

function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256
}
