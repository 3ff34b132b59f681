import { IncomingMessage } from 'node:http'
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit as webBodyLimit } from 'hono/body-limit'
import { KeybrokerError } from '../../errors.js'
import type { AppEnv } from '../context.js'

/** The media types hono's JSON validator reads (`application/json`, `application/*+json`). */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i

const utf8 = new TextDecoder()

/**
 * What hono keeps in `c.req.bodyCache` at run time: the promise of each body reading, by the
 * name of the `Request` method (hono's type names the resolved values instead).
 */
interface BodyCache {
  text?: Promise<string>
  arrayBuffer?: Promise<ArrayBuffer>
}

/**
 * Bounds every request body to `maxBytes` (413 `payload-too-large` above it, with the rest left
 * unread: the problem answer closes the connection) and, for a JSON body that came through the
 * Node server, reads it straight from node's `IncomingMessage`.
 *
 * The body is read here, after the admission limit and before the route, into hono's body cache
 * (`text` and `arrayBuffer`, the keys `c.req.json()` and `c.req.arrayBuffer()` read), so the
 * validator and the refusal audit find it there. That skips the WHATWG `Request` and
 * `ReadableStream` @hono/node-server would otherwise build around the socket (README,
 * "Benchmark"). What the validator saw before is unchanged: malformed JSON is its 400, a body
 * cut off by the client or by the request timeout is a failed read there, a wrong or missing
 * content type is the route's 415. Other bodies, and requests without a Node `IncomingMessage`
 * (`app.request()` in tests), go through hono's own limit on the WHATWG body.
 */
export function bodyLimit(options: { readonly maxBytes: number }): MiddlewareHandler<AppEnv> {
  const tooLarge = (): never => {
    throw new KeybrokerError('payload-too-large', `the body exceeds ${options.maxBytes} bytes`)
  }
  const web = webBodyLimit({ maxSize: options.maxBytes, onError: tooLarge })
  return async function bodyLimitMiddleware(c, next) {
    const incoming = incomingOf(c)
    if (incoming === undefined) return web(c, next)
    const method = c.req.method
    if (method === 'GET' || method === 'HEAD') return next()
    const declared = incoming.headers['content-length']
    const chunked = incoming.headers['transfer-encoding'] !== undefined
    // A declared length above the limit is refused before a byte of the body is read.
    if (!chunked && declared !== undefined && Number(declared) > options.maxBytes) tooLarge()
    if (!JSON_MEDIA_TYPE.test(mediaType(incoming.headers['content-type']))) return web(c, next)
    const cache = c.req.bodyCache as unknown as BodyCache
    let bytes: Uint8Array | undefined
    try {
      bytes = await readBody(incoming, options.maxBytes)
    } catch (err) {
      // The client went away or the request timed out mid-body: the validator's read fails, as
      // it did when it read the stream itself.
      const failed = Promise.reject(err)
      failed.catch(() => undefined)
      cache.text = failed
      cache.arrayBuffer = failed
      return next()
    }
    if (bytes === undefined) return tooLarge()
    cache.text = Promise.resolve(utf8.decode(bytes))
    cache.arrayBuffer = Promise.resolve(bytes.buffer as ArrayBuffer)
    return next()
  }
}

function incomingOf(c: Context): IncomingMessage | undefined {
  const env: unknown = c.env
  if (env !== null && typeof env === 'object' && 'incoming' in env && env.incoming instanceof IncomingMessage) return env.incoming
  return undefined
}

function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return ''
  const semicolon = contentType.indexOf(';')
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim()
}

/**
 * The whole body, in a buffer of its own (an `ArrayBuffer` of exactly its length), or `undefined`
 * as soon as more than `maxBytes` arrived (the rest stays unread). Rejects when the body ends
 * early: the client closed the connection, or the server's request timeout destroyed it.
 */
function readBody(incoming: IncomingMessage, maxBytes: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const detach = (): void => {
      incoming.off('data', onData)
      incoming.off('end', onEnd)
      incoming.off('error', onError)
      incoming.off('close', onClose)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength
      if (size > maxBytes) {
        detach()
        incoming.pause()
        resolve(undefined)
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      detach()
      const bytes = new Uint8Array(size)
      let at = 0
      for (const chunk of chunks) {
        bytes.set(chunk, at)
        at += chunk.byteLength
      }
      resolve(bytes)
    }
    const onError = (err: Error): void => {
      detach()
      reject(err)
    }
    const onClose = (): void => {
      // After 'end' when the body was complete; before it, the body was cut off.
      detach()
      reject(incoming.errored ?? new Error('the connection closed before the body ended'))
    }
    // Read by someone else already, or closed before this request got here: nothing would come.
    if (incoming.readableDidRead || incoming.destroyed) {
      reject(incoming.errored ?? new Error('the body is no longer readable'))
      return
    }
    incoming.on('data', onData)
    incoming.on('end', onEnd)
    incoming.on('error', onError)
    incoming.on('close', onClose)
  })
}
