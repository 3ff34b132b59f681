import { HTTPException } from 'hono/http-exception'
import { KeybrokerError, type ErrorCode } from '../errors.js'
import { PROBLEMS } from './problem.js'

const HTTP_STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'bad-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
}

/**
 * The `KeybrokerError` an error thrown in a request stands for: itself, or the code of one of
 * hono's own `HTTPException`s (malformed JSON, unsupported media type, …); `undefined` for anything
 * else (an unexpected error: `internal`).
 */
export function knownError(err: unknown): KeybrokerError | undefined {
  if (err instanceof KeybrokerError) return err
  if (err instanceof HTTPException) {
    const code = HTTP_STATUS_CODES[err.status]
    // Hono's own messages ("Malformed JSON in request body", "Unsupported Media Type") are fixed strings.
    if (code !== undefined) return new KeybrokerError(code, err.message || PROBLEMS[code].title, { cause: err })
  }
  return undefined
}
