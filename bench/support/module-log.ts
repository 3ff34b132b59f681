/**
 * Preloaded into the service by bench/modules.ts (`--expose-gc --import`): registers
 * ./module-log-hooks.js, and on SIGUSR2 runs two full collections and appends the heap figures
 * and the CommonJS module count as one JSON line to `${BENCH_MODULE_LOG}.heap`.
 */
import { appendFileSync } from 'node:fs'
import { createRequire, register } from 'node:module'

register(new URL('./module-log-hooks.js', import.meta.url))
const require = createRequire(import.meta.url)
const gc = (globalThis as { gc?: () => void }).gc

process.on('SIGUSR2', () => {
  gc?.()
  gc?.()
  const { heapUsed, heapTotal, external, rss } = process.memoryUsage()
  const commonJs = Object.keys(require.cache as object).length
  appendFileSync(`${process.env.BENCH_MODULE_LOG ?? '/dev/null'}.heap`, `${JSON.stringify({ heapUsed, heapTotal, external, rss, commonJs })}\n`)
})
