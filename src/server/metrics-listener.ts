import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../log/logger.js'
import type { Metrics } from '../metrics/metrics.js'

/** Where a scrape's text comes from when it is not one instance's registry (the cluster primary). */
export interface MetricsSource {
  readonly contentType: string
  collect(): Promise<string>
}

export interface MetricsListener {
  /** e.g. `http://127.0.0.1:9464/metrics` */
  readonly url: string
  close(): Promise<void>
}

/**
 * Serves `GET /metrics` (Prometheus text format 0.0.4) on a listener of its own, never on the
 * service's TLS port: the series name secrets, sealing keys and failed rules, which only the
 * operator's scraper should read, and a scrape must not count as API traffic. Plain HTTP,
 * meant for a loopback or cluster-internal address.
 */
export async function listenMetrics(metrics: Metrics | MetricsSource, listen: { readonly host: string; readonly port: number }, log: Logger): Promise<MetricsListener> {
  const source: MetricsSource = 'registry' in metrics ? { contentType: metrics.registry.contentType, collect: () => metrics.registry.metrics() } : metrics
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: GET /metrics\n')
      return
    }
    source.collect().then(
      (text) => res.writeHead(200, { 'Content-Type': source.contentType }).end(text),
      () => res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics collection failed\n'),
    )
  })
  server.requestTimeout = 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host
  const url = `http://${host}:${port}/metrics`
  if (!['127.0.0.1', '::1', 'localhost'].includes(listen.host)) log.warn('metrics listener is not on loopback: restrict who can reach it', { url })
  log.info('metrics', { url })
  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}
