import { isKeybrokerError, type ErrorCode } from '../../src/errors.js'

export type Outcome = ErrorCode | 'no-error' | 'foreign-error'

/** The `KeybrokerError` code `fn` throws, `no-error`, or `foreign-error` for anything else. */
export function codeOf(fn: () => unknown): Outcome {
  try {
    fn()
    return 'no-error'
  } catch (err) {
    return isKeybrokerError(err) ? err.code : 'foreign-error'
  }
}

/** `codeOf` for async functions. */
export async function asyncCodeOf(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    await fn()
    return 'no-error'
  } catch (err) {
    return isKeybrokerError(err) ? err.code : 'foreign-error'
  }
}
