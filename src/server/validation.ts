import type { ZodError } from 'zod'
import { KeybrokerError } from '../errors.js'

const MAX_ISSUES = 5

/**
 * Turns a schema failure into a 400 that names the offending fields (path and zod's message,
 * which never echoes the value). Used as the default hook of every route.
 */
export function validationHook(result: { success: true } | { success: false; error: ZodError; target?: string }): void {
  if (result.success) return
  throw new KeybrokerError('bad-request', describeZodError(result.error, result.target), {
    extensions: {
      errors: result.error.issues.slice(0, MAX_ISSUES).map((i) => ({ path: pathOf(i.path), message: i.message.slice(0, 200) })),
    },
  })
}

export function describeZodError(error: ZodError, target?: string): string {
  const parts = error.issues.slice(0, MAX_ISSUES).map((i) => `${pathOf(i.path) || '(root)'}: ${i.message.slice(0, 200)}`)
  const more = error.issues.length > MAX_ISSUES ? ` (+${error.issues.length - MAX_ISSUES} more)` : ''
  return `${target ? `${target} ` : ''}invalid: ${parts.join('; ')}${more}`
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[').slice(0, 200)
}
