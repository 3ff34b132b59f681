import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'

export interface HttpResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly body: string
}

/**
 * A raw request for tests: any method, path, body bytes and headers, answered as status,
 * headers and text whatever they are. Tests send bad input with it; the client package has
 * no such method.
 */
export async function rawRequest(
  target: { readonly baseUrl: string; readonly ca?: string | undefined },
  method: string,
  path: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<HttpResponse> {
  const url = new URL(path, target.baseUrl)
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = send(
      url,
      {
        method,
        headers: body === undefined ? headers : { 'Content-Length': String(Buffer.byteLength(body)), ...headers },
        ...(target.ca === undefined ? {} : { ca: target.ca }),
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    req.end(body)
  })
}
