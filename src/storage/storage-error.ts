/**
 * Maps database driver errors to `KeybrokerError`s, the same way on PGlite and node-postgres.
 *
 * drizzle-orm 0.45 wraps every failed query in a `DrizzleQueryError` whose *message* embeds the
 * SQL parameters (token hashes, nonces, envelopes). We never pass that wrapper on as a cause:
 * the cause we keep is the driver's own error (SQLSTATE, constraint name, server message).
 */
import { DrizzleQueryError } from 'drizzle-orm'
import { KeybrokerError } from '../errors.js'

/** SQLSTATE of a unique (or primary key) violation, identical on PostgreSQL and PGlite. */
export const UNIQUE_VIOLATION = '23505'

/** The driver error under drizzle's wrapper (the wrapper itself carries query parameters). */
export function driverError(err: unknown): unknown {
  return err instanceof DrizzleQueryError && err.cause !== undefined ? err.cause : err
}

/** The SQLSTATE (or Node system error code such as `ECONNREFUSED`) of a driver error, if any. */
export function errorCode(err: unknown): string | undefined {
  const inner = driverError(err)
  if (typeof inner !== 'object' || inner === null || !('code' in inner)) return undefined
  return typeof inner.code === 'string' ? inner.code : undefined
}

/** True for SQLSTATE 23505 on either engine (pg `DatabaseError` and PGlite errors both carry `code`). */
export function isUniqueViolation(err: unknown): boolean {
  return errorCode(err) === UNIQUE_VIOLATION
}

const UNAVAILABLE_SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE'])

/**
 * True when the error means "the database is not reachable right now" rather than "this query is
 * wrong": connection failures, SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown,
 * cannot connect now), 53300 (too many connections), 57014 (the statement ran into its
 * `statement_timeout`: a lock held elsewhere, an overloaded server), pg's pool connect timeout and
 * its client-side query timeout (a server or network that went silent).
 */
export function isUnavailable(err: unknown): boolean {
  const code = errorCode(err)
  if (code !== undefined) {
    if (UNAVAILABLE_SYSTEM_CODES.has(code)) return true
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300' || code === '57014') return true
  }
  const inner = driverError(err)
  return (
    inner instanceof Error &&
    (inner.message.includes('timeout exceeded when trying to connect') ||
      inner.message === 'Query read timeout' ||
      inner.message.includes('Connection terminated') ||
      // pg, after its connection failed mid-transaction (the rollback drizzle then sends).
      inner.message === 'Client has encountered a connection error and is not queryable' ||
      inner.message === 'Client was closed and is not queryable' ||
      inner.message === 'Cannot use a pool after calling end on the pool' ||
      inner.message.includes('PGlite is closed') ||
      // A statement queued behind PGlite's close() (src/storage/pglite-prepared.ts).
      inner.message.includes('PGlite is closing'))
  )
}

/**
 * Converts any error raised while running storage operation `operation` into a `KeybrokerError`:
 * a `KeybrokerError` passes through unchanged; unique violations become `conflict`; an unreachable
 * database becomes `not-ready`; anything else becomes `internal`. The driver error is the cause.
 */
export function toStorageError(err: unknown, operation: string): KeybrokerError {
  if (err instanceof KeybrokerError) return err
  const cause = driverError(err)
  if (isUniqueViolation(err)) return new KeybrokerError('conflict', `${operation}: already exists`, { cause })
  if (isUnavailable(err)) return new KeybrokerError('not-ready', `${operation}: database unavailable`, { cause })
  return new KeybrokerError('internal', `${operation}: database error`, { cause })
}

/**
 * Runs `fn` and rethrows whatever it throws through {@link toStorageError}. Every exported query
 * function goes through this, so callers only ever see `KeybrokerError`s.
 */
export async function guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw toStorageError(err, operation)
  }
}
