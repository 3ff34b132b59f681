/**
 * The admin CLI's HTTPS connection: KEYBROKER_URL, a bearer token, and trust in the service's
 * certificate by CA file (`--cacert`) or by the certificate's SHA-256 (`--pin-sha256`, the
 * fingerprint the service logs at start, for its self-signed development certificate).
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { isIP } from 'node:net'

export interface AdminConnection {
  readonly url: URL
  readonly token: string | undefined
  /** PEM of the CA (or the self-signed certificate) to trust. */
  readonly ca: string | undefined
  /** SHA-256 of the service's leaf certificate (DER), 32 bytes as uppercase colon hex, as node prints it. */
  readonly pinSha256: string | undefined
  readonly timeoutMs: number
}

/** The service answered with an error: the status and its RFC 9457 problem document (or the raw body). */
export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { readonly type?: string; readonly title?: string; readonly detail?: string; readonly [k: string]: unknown },
  ) {
    super(`${status} ${problemCode(problem.type)}${problem.detail === undefined ? '' : `: ${problem.detail}`}`)
    this.name = 'AdminApiError'
  }
}

/** The service could not be reached, or its certificate was not the expected one. */
export class AdminConnectionError extends Error {}

function problemCode(type: string | undefined): string {
  return (type ?? 'error').split('/').pop() ?? 'error'
}

/** Normalizes a pin given as hex with or without colons (any case) to node's `fingerprint256` form. */
export function normalizePin(pin: string): string | undefined {
  const hex = pin.replace(/[:\s]/g, '').replace(/^sha256\//i, '')
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return undefined
  return hex.toUpperCase().match(/../g)?.join(':')
}

export interface AdminResponse {
  readonly status: number
  readonly body: unknown
}

/** A TLS connection whose leaf certificate must have the pinned SHA-256; nothing is sent before it is checked. */
function pinnedSocket(conn: AdminConnection, pin: string): Promise<TLSSocket> {
  const host = conn.url.hostname.replace(/^\[|\]$/g, '')
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port: Number(conn.url.port || 443),
      servername: isIP(host) === 0 ? host : undefined,
      // The pin replaces chain validation: a self-signed development certificate has no CA.
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    })
    socket.setTimeout(conn.timeoutMs, () => socket.destroy(new AdminConnectionError(`no answer from ${conn.url.origin} in ${conn.timeoutMs} ms`)))
    socket.once('error', (err) => reject(new AdminConnectionError(`cannot connect to ${conn.url.origin}: ${err.message}`)))
    socket.once('secureConnect', () => {
      const seen = socket.getPeerCertificate().fingerprint256
      if (seen !== pin) {
        socket.destroy()
        reject(new AdminConnectionError(`the certificate of ${conn.url.origin} has SHA-256 ${seen}, not the pinned ${pin}`))
        return
      }
      resolve(socket)
    })
  })
}

/** Sends one request; JSON in and out. Error answers throw AdminApiError. */
export async function adminRequest(conn: AdminConnection, method: string, path: string, body?: unknown): Promise<AdminResponse> {
  const target = new URL(path, conn.url)
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' }
  if (conn.token !== undefined) headers['authorization'] = `Bearer ${conn.token}`
  if (payload !== undefined) {
    headers['content-type'] = 'application/json'
    headers['content-length'] = String(payload.byteLength)
  }
  const secure = target.protocol === 'https:'
  const socket = secure && conn.pinSha256 !== undefined ? await pinnedSocket(conn, conn.pinSha256) : undefined
  const res = await new Promise<{ status: number; text: string; contentType: string }>((resolve, reject) => {
    const options = {
      method,
      headers,
      timeout: conn.timeoutMs,
      ...(socket !== undefined ? { createConnection: () => socket } : secure ? { ca: conn.ca } : {}),
    }
    const onResponse = (r: IncomingMessage) => {
      const chunks: Buffer[] = []
      r.on('data', (c: Buffer) => chunks.push(c))
      r.on('end', () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), contentType: String(r.headers['content-type'] ?? '') }))
      r.on('error', reject)
    }
    const req: ClientRequest = secure ? httpsRequest(target, options, onResponse) : httpRequest(target, options, onResponse)
    req.on('timeout', () => req.destroy(new AdminConnectionError(`no answer from ${conn.url.origin} in ${conn.timeoutMs} ms`)))
    req.on('error', (err) => reject(err instanceof AdminConnectionError ? err : new AdminConnectionError(`cannot reach ${conn.url.origin}: ${err.message}`)))
    req.end(payload)
  })
  let parsed: unknown = undefined
  if (res.text !== '') {
    try {
      parsed = JSON.parse(res.text)
    } catch {
      parsed = { detail: res.text.slice(0, 200) }
    }
  }
  if (res.status >= 400) {
    const problem: Record<string, unknown> = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? Object.fromEntries(Object.entries(parsed)) : {}
    throw new AdminApiError(res.status, {
      ...problem,
      type: typeof problem['type'] === 'string' ? problem['type'] : `http-${res.status}`,
      detail: typeof problem['detail'] === 'string' ? problem['detail'] : undefined,
    })
  }
  return { status: res.status, body: parsed }
}
