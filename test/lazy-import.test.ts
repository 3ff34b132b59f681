import { describe, expect, it } from 'vitest'
import { KeybrokerError } from '../src/errors.js'
import { lazyImport } from '../src/lazy-import.js'

describe('lazyImport', () => {
  it('loads once, on the first call, and keeps the module', async () => {
    let loads = 0
    const load = lazyImport(async () => {
      loads++
      return { answer: 42 }
    })
    expect(loads).toBe(0)
    const [a, b] = await Promise.all([load(), load()])
    expect(a).toBe(b)
    expect((await load()).answer).toBe(42)
    expect(loads).toBe(1)
  })

  it('rejects with internal (cause kept) when the import fails, and tries again on the next call', async () => {
    let loads = 0
    const load = lazyImport(async () => {
      if (++loads === 1) throw new Error('ENOENT: no such module')
      return { ok: true }
    })
    const err: unknown = await load().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KeybrokerError)
    expect((err as KeybrokerError).code).toBe('internal')
    expect(((err as KeybrokerError).cause as Error).message).toContain('ENOENT')
    expect((await load()).ok).toBe(true)
    expect(loads).toBe(2)
  })

  it('rejects, never hangs, for a module file that does not exist', async () => {
    const load = lazyImport(() => import(/* @vite-ignore */ `./no-such-module-${Date.now()}.js`))
    const err: unknown = await load().catch((e: unknown) => e)
    expect((err as KeybrokerError).code).toBe('internal')
  })
})
