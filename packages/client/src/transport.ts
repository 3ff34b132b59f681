import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { KeybrokerConnectionError } from './errors.js'

/** How to reach keybroker: the transport half of the client options. */
export interface TransportOptions {
  readonly baseUrl: string
  readonly ca?: string | readonly string[] | undefined
  readonly pinSha256?: string | readonly string[] | undefined
  readonly timeoutMs?: number | undefined
}

export interface TransportResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
}

/** keybroker's answers are small; anything larger is not one of them. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024

/**
 * Parses certificate pins: SHA-256 of the DER certificate as hex (colons allowed, any case,
 * as `openssl x509 -fingerprint -sha256` prints it) or base64/base64url.
 * @throws TypeError for a pin that is not 32 bytes in one of those encodings.
 */
export function parsePins(pins: string | readonly string[]): readonly Buffer[] {
  return (typeof pins === 'string' ? [pins] : pins).map((pin) => {
    const hex = pin.replace(/:/g, '')
    const bytes = /^[0-9a-fA-F]{64}$/.test(hex) ? Buffer.from(hex, 'hex') : Buffer.from(pin, pin.includes('-') || pin.includes('_') ? 'base64url' : 'base64')
    if (bytes.byteLength !== 32) throw new TypeError(`pin is not a SHA-256 digest in hex or base64: ${pin}`)
    return bytes
  })
}

/**
 * Opens a TLS connection and checks the server's certificate against the pins before a byte
 * of the request is written (so neither evidence nor a bearer token reaches a server that does
 * not hold the pinned certificate). With pins and no `ca`, the pin replaces chain and host
 * name validation (the development certificate is self-signed); with both, both apply.
 */
async function pinnedSocket(url: URL, options: TransportOptions, pins: readonly Buffer[], timeoutMs: number): Promise<TLSSocket> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const socket = tlsConnect({
    host,
    port: Number(url.port || 443),
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ...(options.ca === undefined ? { rejectUnauthorized: false } : { ca: [options.ca].flat() }),
    ALPNProtocols: ['http/1.1'],
  })
  return new Promise<TLSSocket>((resolve, reject) => {
    const timer = setTimeout(() => socket.destroy(new KeybrokerConnectionError('timeout', `TLS handshake with ${url.host} timed out`)), timeoutMs)
    socket.once('error', (cause) => {
      clearTimeout(timer)
      reject(
        cause instanceof KeybrokerConnectionError
          ? cause
          : new KeybrokerConnectionError('tls', `TLS connection to ${url.host} failed: ${cause.message}`, { cause, beforeRequest: true }),
      )
    })
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      const der = socket.getPeerX509Certificate()?.raw
      const digest = der === undefined ? undefined : createHash('sha256').update(der).digest()
      if (digest === undefined || !pins.some((pin) => timingSafeEqual(pin, digest))) {
        socket.destroy()
        reject(new KeybrokerConnectionError('pin-mismatch', `the certificate of ${url.host} (SHA-256 ${digest?.toString('hex') ?? 'none'}) matches no pin`))
        return
      }
      resolve(socket)
    })
  })
}

/**
 * One HTTP exchange: no retries, no parsing. Rejects with `KeybrokerConnectionError` when no
 * complete answer arrives.
 */
export async function send(
  options: TransportOptions,
  method: string,
  path: string,
  body: string | undefined,
  headers: Readonly<Record<string, string>>,
): Promise<TransportResponse> {
  const url = new URL(path, options.baseUrl)
  const timeoutMs = options.timeoutMs ?? 30_000
  const isHttps = url.protocol === 'https:'
  const pins = options.pinSha256 === undefined ? undefined : parsePins(options.pinSha256)
  if (pins !== undefined && !isHttps) throw new TypeError('a certificate pin needs an https:// base URL')
  const socket = pins === undefined ? undefined : await pinnedSocket(url, options, pins, timeoutMs)
  const send = isHttps ? httpsRequest : httpRequest
  return new Promise<TransportResponse>((resolve, reject) => {
    // Whether the connection was up before the failure: until then no byte of the request left.
    let connected = socket !== undefined
    const req = send(
      url,
      {
        method,
        headers: body === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
        timeout: timeoutMs,
        ...(socket !== undefined ? { createConnection: () => socket } : options.ca === undefined ? {} : { ca: [options.ca].flat() }),
      },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.byteLength
          if (size > MAX_ANSWER_BYTES) {
            req.destroy(new KeybrokerConnectionError('network', `the answer exceeds ${MAX_ANSWER_BYTES} bytes`))
            return
          }
          chunks.push(chunk)
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', (cause) => reject(new KeybrokerConnectionError('network', `reading the answer failed: ${cause.message}`, { cause })))
      },
    )
    req.on('socket', (s) => {
      // A kept-alive socket is up already; a new one once its (TLS) handshake is done.
      if (req.reusedSocket) connected = true
      s.once(isHttps ? 'secureConnect' : 'connect', () => (connected = true))
    })
    req.on('timeout', () => req.destroy(new KeybrokerConnectionError('timeout', `${method} ${url.pathname} timed out after ${timeoutMs} ms`)))
    req.on('error', (cause) =>
      reject(
        cause instanceof KeybrokerConnectionError
          ? cause
          : new KeybrokerConnectionError('network', `${method} ${url.pathname} failed: ${cause.message}`, { cause, beforeRequest: !connected }),
      ),
    )
    req.end(body)
  })
}

/**
 * `Retry-After` in seconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when
 * absent or unreadable.
 */
export function retryAfterSeconds(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined || text.trim() === '') return undefined
  if (/^\s*\d+\s*$/.test(text)) return Number(text)
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000))
}
