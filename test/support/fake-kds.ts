/**
 * A fake AMD KDS on 127.0.0.1 (plain HTTP): answers by `mode`, records every request's path and
 * `traceparent` and `tracestate` headers. `vcekFor(path)` gives the VCEK it serves for a path (undefined: 404).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type FakeKdsMode = 'ok' | '500' | '404' | '429' | 'hang' | 'junk' | 'other-vcek'

export class FakeKds {
  mode: FakeKdsMode = 'ok'
  /** Request paths (with query), in order. */
  requests: string[] = []
  /** The `traceparent` header of each request (undefined when absent), in order. */
  traceparents: (string | undefined)[] = []
  /** The `tracestate` header of each request (undefined when absent), in order. */
  tracestates: (string | undefined)[] = []
  url = ''
  #server: Server | undefined
  #hanging: ServerResponse[] = []

  constructor(
    private readonly vcekFor: (path: string) => Uint8Array | undefined,
    /** What `other-vcek` serves: a valid certificate that is not the one asked for. */
    private readonly otherVcek: Uint8Array = new Uint8Array(),
  ) {}

  async start(): Promise<void> {
    this.#server = createServer((req: IncomingMessage, res: ServerResponse) => this.#handle(req, res))
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(req.url ?? '')
    const tp = req.headers['traceparent']
    this.traceparents.push(Array.isArray(tp) ? tp.join(',') : tp)
    const ts = req.headers['tracestate']
    this.tracestates.push(Array.isArray(ts) ? ts.join(',') : ts)
    if (this.mode === 'hang') {
      this.#hanging.push(res)
      return
    }
    if (this.mode === '500') return void res.writeHead(500).end('boom')
    if (this.mode === '404') return void res.writeHead(404).end('unknown')
    if (this.mode === '429') return void res.writeHead(429, { 'Retry-After': '60' }).end('slow down')
    if (this.mode === 'junk') return void res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end('not a certificate')
    if (this.mode === 'other-vcek') return void res.writeHead(200).end(this.otherVcek)
    const vcek = this.vcekFor(req.url ?? '')
    if (vcek === undefined) return void res.writeHead(404).end()
    res.writeHead(200, { 'Content-Type': 'application/pkix-cert' }).end(vcek)
  }

  releaseHanging(): void {
    for (const r of this.#hanging.splice(0)) r.destroy()
  }

  async stop(): Promise<void> {
    this.releaseHanging()
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()))
  }
}
