/**
 * Module loader hooks for bench/modules.ts (registered by ./module-log.ts in the service): every
 * ES module the service loads is appended to BENCH_MODULE_LOG as `url<TAB>source bytes`.
 */
import { appendFileSync } from 'node:fs'

interface LoadResult {
  readonly source?: string | ArrayBuffer | ArrayBufferView | null
}

export async function load(url: string, context: unknown, next: (url: string, context: unknown) => Promise<LoadResult>): Promise<LoadResult> {
  const loaded = await next(url, context)
  const source = loaded.source
  const bytes = source === undefined || source === null ? 0 : typeof source === 'string' ? Buffer.byteLength(source) : source.byteLength
  appendFileSync(process.env.BENCH_MODULE_LOG ?? '/dev/null', `${url}\t${bytes}\n`)
  return loaded
}
