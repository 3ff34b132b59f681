import { isKeybrokerError } from '../../../src/errors.js'

/** The error code `fn` throws (`'ok'` when it returns); tests assert codes, never messages. */
export function codeOf(fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (err) {
    return isKeybrokerError(err) ? err.code : `not-a-keybroker-error: ${String(err)}`
  }
}

export async function codeOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn()
    return 'ok'
  } catch (err) {
    return isKeybrokerError(err) ? err.code : `not-a-keybroker-error: ${String(err)}`
  }
}
