import { KeybrokerError } from './errors.js'

/**
 * A module `serve` loads on first use instead of at start, so that code a deployment never
 * calls (bundle formats, the CA) costs no heap: `const bundles = lazyImport(() => import('./x.js'))`,
 * then `(await bundles()).f()`. The one place for this pattern.
 *
 * Guarantees: the module is imported at most once while it loads and is kept once loaded. A
 * failed import (a missing or broken file) rejects the caller's promise, never leaves it
 * pending, and is not cached: the next call tries again. It throws `internal` with the import's
 * error as `cause`, so a route answers 500 problem+json and the cause goes to the log.
 */
export function lazyImport<M>(load: () => Promise<M>): () => Promise<M> {
  let loading: Promise<M> | undefined
  return () => {
    loading ??= load().catch((err: unknown) => {
      loading = undefined
      throw new KeybrokerError('internal', 'a module failed to load', { cause: err })
    })
    return loading
  }
}
