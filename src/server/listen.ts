import { createServer as createHttpsServer } from 'node:https'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
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
  /** Requests being answered now. */
  inFlight(): number
  /** Connections closed at once so far because KEYBROKER_MAX_CONNECTIONS was reached. */
  refusedConnections(): number
  /**
   * Graceful close: stops accepting connections, closes idle keep-alive connections, lets the
   * requests in flight finish for up to `graceMs` (their connections close after the answer),
   * then closes whatever is left. Resolves once every connection is closed. Default grace 0.
   */
  close(options?: { readonly graceMs?: number }): Promise<void>
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
  server.requestTimeout = config.http.requestTimeoutMs
  // Node requires headersTimeout <= requestTimeout.
  server.headersTimeout = Math.min(config.http.headersTimeoutMs, config.http.requestTimeoutMs)
  server.keepAliveTimeout = config.http.keepAliveTimeoutMs
  // Beyond it, node closes a new connection as soon as it is accepted, before its TLS handshake:
  // the cheapest refusal there is (clients see a reset and retry). Bounds the memory and the
  // handshakes a storm of clients can make the process hold (README, "Load shedding").
  server.maxConnections = config.http.maxConnections
  let dropped = 0
  let dropLogged = 0
  server.on('drop', () => {
    dropped++
    // One line per second at most: a storm must not turn into a storm of log lines.
    if (Date.now() - dropLogged >= 1000) {
      dropLogged = Date.now()
      log.warn('connections refused: KEYBROKER_MAX_CONNECTIONS reached', { maxConnections: config.http.maxConnections, refusedSoFar: dropped })
    }
  })
  let inFlight = 0
  let draining = false
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight++
    // While draining, every answer ends its connection (keep-alive clients reconnect elsewhere).
    if (draining) res.setHeader('Connection', 'close')
    res.once('close', () => {
      inFlight--
    })
  })
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
    inFlight: () => inFlight,
    refusedConnections: () => dropped,
    close: async (options = {}) => {
      draining = true
      const closed = new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
      })
      // server.close() stops accepting; connections idle now (keep-alive) are closed at once.
      server.closeIdleConnections()
      const deadline = Date.now() + (options.graceMs ?? 0)
      while (inFlight > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50))
        // A connection whose request just finished is idle now (its answer said Connection: close).
        server.closeIdleConnections()
      }
      if (inFlight > 0) log.warn('shutdown grace period over; closing connections with requests in flight', { inFlight })
      server.closeAllConnections()
      await closed
    },
  }
}
