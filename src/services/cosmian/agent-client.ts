/**
 * The outbound client keybroker uses to talk to a Cosmian VM agent (Cosmian/cosmian_vm
 * `crate/agent/src/endpoints.rs`): HTTPS to `https://HOST:5555`, whose certificate is the
 * agent's own (self-signed, or an operator's). No CA decides who the agent is; the TEE quote
 * does, by binding the certificate's digest. So the client:
 *
 * - pins the leaf certificate of the first connection, and checks every later connection
 *   presents the same DER before it sends a byte of its request (a body, a secret, is written only
 *   after that check);
 * - bounds every request in time (`timeoutMs`, connection and answer) and size (`maxBytes`, the
 *   declared and the actual length);
 * - treats the answers as untrusted input: JSON parsed with bounds, shapes checked by the caller.
 *
 * Every failure is a `KeybrokerError`: `agent-unreachable` (network, TLS, timeout, HTTP status,
 * size, not JSON) or `binding-mismatch` (a connection with another certificate than the pinned one).
 */
import { request, type RequestOptions } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { isKeybrokerError, KeybrokerError } from '../../errors.js'
import { equalBytes } from '../../evidence/reader.js'
import type { Logger } from '../../log/logger.js'
import { outgoingTrace, type TraceContext } from '../../log/trace-context.js'

export interface AgentClientOptions {
  /** `https://HOST[:PORT]` of the agent (no path, query or credentials). */
  readonly url: string
  readonly timeoutMs: number
  /** Largest answer accepted per request (an IMA list as a JSON byte array is ~4 bytes per byte). */
  readonly maxBytes: number
  /** The request this session serves: each agent request carries a child span of it (`traceparent`). */
  readonly trace?: TraceContext | undefined
  /** When given, each agent request is logged (method, path, status or error code, trace) with `requestId`. */
  readonly log?: Logger | undefined
  readonly requestId?: string | undefined
}

export interface AgentResponse {
  readonly status: number
  readonly body: Uint8Array
}

/** Parses and checks an agent URL: https, a host, no path/query/credentials. @throws `bad-request` */
export function agentOrigin(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch (cause) {
    throw new KeybrokerError('bad-request', 'agentUrl: not a URL', { cause })
  }
  if (url.protocol !== 'https:') throw new KeybrokerError('bad-request', 'agentUrl: https:// only (the agent serves HTTPS)')
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || (url.pathname !== '/' && url.pathname !== '')) {
    throw new KeybrokerError('bad-request', 'agentUrl: https://HOST[:PORT] without path, query or credentials')
  }
  return url
}

function unreachable(detail: string, cause?: unknown): KeybrokerError {
  return new KeybrokerError('agent-unreachable', detail, cause === undefined ? undefined : { cause })
}

/** One agent session: the pinned certificate is the first connection's. */
export class CosmianAgentClient {
  readonly #origin: URL
  readonly #options: AgentClientOptions
  #pinned: Uint8Array | undefined

  constructor(options: AgentClientOptions) {
    this.#origin = agentOrigin(options.url)
    this.#options = options
  }

  /** The agent's URL, as given. */
  get origin(): string {
    return this.#origin.origin
  }

  /** DER of the leaf certificate pinned by the first connection (undefined before it). */
  get certificate(): Uint8Array | undefined {
    return this.#pinned?.slice()
  }

  /** GET a JSON answer. @throws `agent-unreachable`, `binding-mismatch` */
  async getJson(path: string): Promise<unknown> {
    return this.#json(await this.#send('GET', path, undefined))
  }

  /** POST a JSON body after the pinned certificate is checked on the connection. @throws as `getJson` */
  async postJson(path: string, body: unknown): Promise<unknown> {
    return this.#json(await this.#send('POST', path, Buffer.from(JSON.stringify(body))))
  }

  #json(res: AgentResponse): unknown {
    if (res.status !== 200) throw unreachable(`the agent answered HTTP ${res.status}`)
    try {
      return JSON.parse(Buffer.from(res.body).toString('utf8'))
    } catch (cause) {
      throw unreachable('the agent answered something that is not JSON', cause)
    }
  }

  async #send(method: 'GET' | 'POST', path: string, body: Buffer | undefined): Promise<AgentResponse> {
    const call = outgoingTrace(this.#options.trace)
    const url = new URL(path, this.#origin)
    // The query holds the nonce: only the path is logged.
    const logged = { requestId: this.#options.requestId, method, path: url.pathname, ...call.log }
    try {
      const res = await this.#exchange(method, url, body, call.headers)
      this.#options.log?.info('cosmian agent call', { ...logged, status: res.status })
      return res
    } catch (err) {
      this.#options.log?.warn('cosmian agent call failed', { ...logged, error: isKeybrokerError(err) ? err.code : 'internal' })
      throw err
    }
  }

  #exchange(method: 'GET' | 'POST', url: URL, body: Buffer | undefined, extraHeaders: Readonly<Record<string, string>>): Promise<AgentResponse> {
    const { timeoutMs, maxBytes } = this.#options
    const options: RequestOptions = {
      method,
      // Trust is decided by the attested certificate, not by a CA: accept any, then pin.
      rejectUnauthorized: false,
      // A fresh TLS connection per request, so that each one is checked against the pin.
      agent: false,
      timeout: timeoutMs,
      headers: { ...extraHeaders, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(body.byteLength) }) },
    }
    return new Promise<AgentResponse>((resolve, reject) => {
      let settled = false
      const fail = (err: KeybrokerError): void => {
        if (settled) return
        settled = true
        clearTimeout(deadline)
        req.destroy()
        reject(err)
      }
      const deadline = setTimeout(() => fail(unreachable(`no complete answer within ${timeoutMs} ms`)), timeoutMs)
      const req = request(url, options, (res) => {
        const declared = Number(res.headers['content-length'] ?? '0')
        if (declared > maxBytes) {
          fail(unreachable(`the answer declares ${declared} bytes, more than ${maxBytes}`))
          return
        }
        const chunks: Buffer[] = []
        let total = 0
        res.on('data', (chunk: Buffer) => {
          total += chunk.byteLength
          if (total > maxBytes) fail(unreachable(`the answer exceeds ${maxBytes} bytes`))
          else chunks.push(chunk)
        })
        res.on('error', (cause) => fail(unreachable('the answer was interrupted', cause)))
        res.on('end', () => {
          if (settled) return
          settled = true
          clearTimeout(deadline)
          resolve({ status: res.statusCode ?? 0, body: new Uint8Array(Buffer.concat(chunks)) })
        })
      })
      req.on('timeout', () => fail(unreachable(`no answer within ${timeoutMs} ms`)))
      req.on('error', (cause) => fail(cause instanceof KeybrokerError ? cause : unreachable(`cannot reach the agent: ${cause.message.slice(0, 120)}`, cause)))
      req.on('socket', (socket) => {
        const tls = socket as TLSSocket
        tls.once('secureConnect', () => {
          const der = tls.getPeerCertificate(false)?.raw
          if (der === undefined || der.byteLength === 0) {
            fail(unreachable('the agent presented no certificate'))
            return
          }
          const leaf = new Uint8Array(der)
          if (this.#pinned === undefined) this.#pinned = leaf
          else if (!equalBytes(this.#pinned, leaf)) {
            fail(new KeybrokerError('binding-mismatch', 'the agent presented another certificate than the one pinned (and attested) in this session'))
            return
          }
          // Only now, on a connection to the pinned certificate, does the request (and any body) go out.
          req.end(body)
        })
      })
    })
  }
}
