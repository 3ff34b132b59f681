/**
 * Where verifiers' collateral comes from at request time (the `CollateralLookup` of
 * `src/evidence/types.ts`), in this order:
 *
 * 1. the cache directory (`KEYBROKER_COLLATERAL_DIR`), laid out as each vendor's key
 *    distribution service serves it (`DirectoryLayout`; SEV-SNP: `snp-kds.ts`);
 * 2. the admin collateral store (`collateral` table, filled through `/admin/v1/collateral/…`);
 * 3. opt-in network fetchers (`CollateralFetcher`; SEV-SNP: AMD KDS, off by default), whose
 *    results are written to the cache directory so the next request finds them there.
 *
 * Generic over evidence types: a type adds its layout and fetcher where the service is built.
 * Nothing here judges a value; verifiers verify everything they get, whatever the source.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { KeybrokerError } from '../errors.js'
import type { CollateralLookup } from '../evidence/index.js'
import { describeError, type Logger } from '../log/logger.js'
import type { TraceContext } from '../log/trace-context.js'
import { getCollateral, type Db } from '../storage/index.js'

/** A file of the cache directory holding the value of a `(kind, key)`, or a part of it. */
export interface DirectoryEntry {
  /** Relative to the directory, `/`-separated (e.g. `vcek/v1/Milan/cert_chain`). */
  readonly path: string
  /** Extracts the value from the file (e.g. the second certificate of a chain); absent: the whole file. */
  readonly pick?: (file: Uint8Array) => Uint8Array | undefined
}

/** How one evidence type lays its collateral out in the cache directory. */
export interface DirectoryLayout {
  /** The file for `(kind, key)`, or `undefined` when this layout does not hold that kind or the key is not well-formed. */
  locate(kind: string, key: string): DirectoryEntry | undefined
}

/** A network source of collateral; only ever configured explicitly. */
export interface CollateralFetcher {
  handles(kind: string): boolean
  /**
   * The value, or `undefined` when unavailable (not found, failing, backing off). Bounded in time.
   * `trace` is the request the value is for: a request that goes out carries a child span of it
   * (`outgoingTrace`); absent, none. Concurrent lookups of one value share the first one's request.
   */
  fetch(kind: string, key: string, trace?: TraceContext): Promise<Uint8Array | undefined>
}

export interface CollateralServiceOptions {
  /** Absolute path of the cache directory (it need not exist). */
  readonly directory: string
  readonly layouts: readonly DirectoryLayout[]
  /** The admin store; absent for offline use (CLI). */
  readonly db?: Db
  readonly fetchers?: readonly CollateralFetcher[]
  readonly log: Logger
  /**
   * How long an admin-store answer (value or absence) is reused; default STORE_CACHE_TTL_MS, 0
   * for none. Changes made through this process call `invalidate()`; other replicas see them
   * after at most this long.
   */
  readonly storeCacheTtlMs?: number
  /** Clock of the store cache (tests). */
  readonly now?: () => Date
}

export interface CollateralService {
  readonly directory: string
  /**
   * A lookup for one request; each `(kind, key)` is looked up at most once per lookup. `trace`
   * (the request's W3C trace context) is passed to the network fetchers; absent for work that no
   * request caused (then fetches carry no `traceparent`).
   */
  lookup(trace?: TraceContext): CollateralLookup
  /** Forgets cached admin-store answers (after an upload or deletion). */
  invalidate(): void
}

/** Largest file read from the cache directory; collateral files are a few KiB. */
export const MAX_COLLATERAL_FILE_BYTES = 1024 * 1024

/**
 * A store query costs ~1 ms on PostgreSQL and ~2 ms on PGlite, and an SNP report without its
 * ASK/ARK/CRL asks for three values: more than the report's signature check. Answers are
 * therefore reused for a few seconds (bounded staleness across replicas; the replica that
 * makes a change sees it at once).
 */
export const STORE_CACHE_TTL_MS = 5_000
const STORE_CACHE_MAX_ENTRIES = 1024

export function createCollateralService(options: CollateralServiceOptions): CollateralService {
  const directory = resolve(options.directory)
  const fetchers = options.fetchers ?? []
  const { log, db } = options
  const ttlMs = options.storeCacheTtlMs ?? STORE_CACHE_TTL_MS
  const clock = options.now ?? (() => new Date())
  const storeCache = new Map<string, { readonly value: Uint8Array | undefined; readonly until: number }>()
  let generation = 0

  const fromStore = async (store: Db, kind: string, key: string): Promise<Uint8Array | undefined> => {
    const id = `${kind}\u0000${key}`
    const now = clock().getTime()
    const hit = storeCache.get(id)
    if (hit !== undefined && now < hit.until) return hit.value
    const started = generation
    const value = await getCollateral(store, kind, key)
    // An invalidation while the query ran may have made this answer stale: do not keep it.
    if (ttlMs > 0 && started === generation) {
      storeCache.delete(id)
      storeCache.set(id, { value, until: now + ttlMs })
      while (storeCache.size > STORE_CACHE_MAX_ENTRIES) {
        const oldest = storeCache.keys().next()
        if (oldest.done === true) break
        storeCache.delete(oldest.value)
      }
    }
    return value
  }

  const locate = (kind: string, key: string): DirectoryEntry | undefined => {
    for (const layout of options.layouts) {
      const entry = layout.locate(kind, key)
      if (entry !== undefined) return entry
    }
    return undefined
  }

  const find = async (kind: string, key: string, trace: TraceContext | undefined): Promise<Uint8Array | undefined> => {
    const entry = locate(kind, key)
    if (entry !== undefined) {
      const file = await readCollateralFile(directory, entry.path, log)
      const value = file === undefined ? undefined : entry.pick === undefined ? file : entry.pick(file)
      if (value !== undefined) return value
    }
    if (db !== undefined) {
      const stored = await fromStore(db, kind, key)
      if (stored !== undefined) return stored
    }
    for (const fetcher of fetchers) {
      if (!fetcher.handles(kind)) continue
      const fetched = await fetcher.fetch(kind, key, trace)
      if (fetched === undefined) continue
      if (entry !== undefined && entry.pick === undefined) {
        try {
          await writeCollateralFile(directory, entry.path, fetched)
        } catch (err) {
          // The value is good for this request; only the disk cache failed, and the log says so.
          log.warn('collateral cache write failed', { kind, path: entry.path, error: describeError(err) })
        }
      }
      return fetched
    }
    return undefined
  }

  return {
    directory,
    invalidate(): void {
      generation += 1
      storeCache.clear()
    },
    lookup(trace?: TraceContext): CollateralLookup {
      const seen = new Map<string, Promise<Uint8Array | undefined>>()
      return {
        get(kind, key) {
          const id = `${kind}\u0000${key}`
          let pending = seen.get(id)
          if (pending === undefined) {
            pending = find(kind, key, trace)
            seen.set(id, pending)
          }
          return pending
        },
      }
    },
  }
}

/** `directory/path`, refusing anything that would leave the directory. */
function insideDirectory(directory: string, path: string): string {
  const full = resolve(directory, ...path.split('/'))
  const rel = relative(directory, full)
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new KeybrokerError('internal', 'collateral path leaves the cache directory')
  }
  return full
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined
}

/**
 * Reads a file of the cache directory; `undefined` when it does not exist.
 * @throws KeybrokerError `internal` when it exists but cannot be read or exceeds MAX_COLLATERAL_FILE_BYTES
 */
export async function readCollateralFile(directory: string, path: string, log: Logger): Promise<Uint8Array | undefined> {
  const full = insideDirectory(directory, path)
  let handle
  try {
    handle = await open(full, 'r')
  } catch (err) {
    const code = errnoCode(err)
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    log.warn('collateral file unreadable', { path, error: describeError(err) })
    throw new KeybrokerError('internal', 'collateral cache directory unreadable', { cause: err })
  }
  try {
    const { size } = await handle.stat()
    if (size > MAX_COLLATERAL_FILE_BYTES) {
      log.warn('collateral file too large', { path, size })
      throw new KeybrokerError('internal', 'collateral file too large')
    }
    const bytes = new Uint8Array(size)
    const { bytesRead } = await handle.read(bytes, 0, size, 0)
    return bytes.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

/** Writes a file of the cache directory atomically (temporary file + rename), creating folders. */
export async function writeCollateralFile(directory: string, path: string, bytes: Uint8Array): Promise<void> {
  const full = insideDirectory(directory, path)
  await mkdir(dirname(full), { recursive: true })
  const tmp = join(dirname(full), `.tmp-${randomBytes(8).toString('hex')}`)
  try {
    const handle = await open(tmp, 'wx', 0o644)
    try {
      await handle.writeFile(bytes)
    } finally {
      await handle.close()
    }
    await rename(tmp, full)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}
