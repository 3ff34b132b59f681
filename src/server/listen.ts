import { createServer as createHttpsServer } from 'node:https'
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import type { Config } from '../config/config.js'
import type { Logger } from '../log/logger.js'
import type { App } from './app.js'
import { loadOrCreateDevCertificate, loadTls } from './dev-certificate.js'

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
    server = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, listener) as unknown as Server
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
