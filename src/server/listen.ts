import { createServer as createHttpsServer } from 'node:https'
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import type { Config } from '../config/config.js'
import type { Logger } from '../log/logger.js'
import type { App } from './app.js'
import { loadOrCreateDevCertificate, loadTls } from './dev-certificate.js'

/**
 * The TLS cipher suites: TLS 1.3's AEAD suites, and for TLS 1.2 only ECDHE key exchange with an
 * AEAD cipher (AES-GCM, ChaCha20-Poly1305). No CBC suites (Lucky 13 and padding-oracle attacks),
 * no static-RSA key exchange (no forward secrecy). Mozilla's "intermediate" profile, minus DHE.
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

export interface RunningServer {
  readonly url: string
  readonly port: number
  /** SHA-256 fingerprint of the TLS certificate; undefined for plain HTTP. */
  readonly fingerprint: string | undefined
  readonly caPem: string | undefined
  close(): Promise<void>
}

/**
 * Starts HTTPS (configured certificate, else a kept self-signed development one) or, only when
 * explicitly configured, plain HTTP. Timeouts bound slow clients so that no request hangs.
 */
export async function listen(app: App, config: Config, log: Logger): Promise<RunningServer> {
  const listener = getRequestListener(app.fetch)
  let server: Server
  let fingerprint: string | undefined
  let caPem: string | undefined
  if (config.insecureHttp) {
    server = createHttpServer(listener)
    log.warn('serving plain HTTP: only behind a TLS-terminating proxy')
  } else {
    const tls = config.tls
      ? await loadTls(config.tls.certFile, config.tls.keyFile)
      : await loadOrCreateDevCertificate(join(config.dataDir, 'tls'), config.listen.host)
    fingerprint = tls.fingerprint
    caPem = tls.cert
    server = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', ciphers: TLS_CIPHERS, honorCipherOrder: true }, listener) as unknown as Server
    log.info('TLS certificate', { sha256: tls.fingerprint, source: config.tls ? 'configured' : 'self-signed development certificate' })
  }
  server.requestTimeout = 30_000
  server.headersTimeout = 10_000
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host
  const url = `${config.insecureHttp ? 'http' : 'https'}://${host}:${port}`
  log.info('listening', { url })
  return {
    url,
    port,
    fingerprint,
    caPem,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}
