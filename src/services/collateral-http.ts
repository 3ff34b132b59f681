/**
 * What the opt-in collateral fetchers (AMD KDS, Intel PCS/PCCS) share: a bounded download, the
 * errors that tell "not there" from "try later", exponential back-off honouring Retry-After, and
 * small bounded memories. The vendor modules keep only their URLs and response checks.
 */

/** A failed request that is worth retrying later (network, timeout, 5xx, 429, a wrong answer). */
export class FetchFailure extends Error {
  constructor(
    readonly reason: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(reason, options)
    this.name = 'FetchFailure'
  }
}

/** The server does not know the requested item (404/400): remembered, not retried at once. */
export class FetchNotFound extends Error {
  constructor(readonly status: number) {
    super(`answered ${status}`)
    this.name = 'FetchNotFound'
  }
}

export interface DownloadOptions {
  readonly timeoutMs: number
  readonly maxBytes: number
  readonly accept: string
  /** Extra request headers (`traceparent` of the call, from `outgoingTrace`). */
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * GET `url` with a timeout and a size bound (declared and actual).
 * @throws FetchNotFound for 404/400; FetchFailure for anything else that is not a 200 with a body
 *   within bounds.
 */
export async function downloadBounded(url: string, options: DownloadOptions): Promise<{ body: Uint8Array; headers: Headers }> {
  const signal = AbortSignal.timeout(options.timeoutMs)
  let res: Response
  try {
    res = await fetch(url, { signal, headers: { ...options.headers, Accept: options.accept } })
  } catch (cause) {
    throw new FetchFailure(signal.aborted ? 'timeout' : 'network error', undefined, { cause })
  }
  if (res.status === 404 || res.status === 400) {
    await res.body?.cancel()
    throw new FetchNotFound(res.status)
  }
  if (res.status !== 200) {
    await res.body?.cancel()
    const retryAfter = Number(res.headers.get('retry-after'))
    throw new FetchFailure(`HTTP ${res.status}`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined)
  }
  if (Number(res.headers.get('content-length') ?? '0') > options.maxBytes) {
    await res.body?.cancel()
    throw new FetchFailure('response too large')
  }
  const chunks: Uint8Array[] = []
  let total = 0
  const reader = res.body?.getReader()
  try {
    for (;;) {
      const next = reader === undefined ? { done: true as const, value: undefined } : await reader.read()
      if (next.done) break
      total += next.value.byteLength
      if (total > options.maxBytes) throw new FetchFailure('response too large')
      chunks.push(next.value)
    }
  } catch (cause) {
    // Releasing the connection is best effort; the failure itself is what gets reported.
    await reader?.cancel().catch(() => undefined)
    if (cause instanceof FetchFailure) throw cause
    throw new FetchFailure(signal.aborted ? 'timeout' : 'response interrupted', undefined, { cause })
  }
  const body = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    body.set(c, at)
    at += c.byteLength
  }
  return { body, headers: res.headers }
}

/**
 * Exponential back-off: after a failure nothing goes out until `baseMs`·2^(n-1) (at most
 * `maxMs`) has passed, or longer when the server asked for it with Retry-After.
 */
export class Backoff {
  #failures = 0
  #retryAtMs = 0

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly now: () => Date,
  ) {}

  /** Milliseconds left to wait, or 0 when a request may go out. */
  remainingMs(): number {
    return Math.max(0, this.#retryAtMs - this.now().getTime())
  }

  succeeded(): void {
    this.#failures = 0
    this.#retryAtMs = 0
  }

  /** Records a failure; returns the wait it imposes. */
  failed(err: unknown): number {
    this.#failures += 1
    const backoff = Math.min(this.baseMs * 2 ** Math.min(this.#failures - 1, 20), this.maxMs)
    const wait = Math.min(Math.max(backoff, err instanceof FetchFailure ? (err.retryAfterMs ?? 0) : 0), this.maxMs)
    this.#retryAtMs = this.now().getTime() + wait
    return wait
  }
}

/** Sets `key` as the newest entry and drops the oldest beyond `max` (insertion order). */
export function rememberBounded<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key)
  map.set(key, value)
  while (map.size > max) {
    const oldest = map.keys().next()
    if (oldest.done === true) break
    map.delete(oldest.value)
  }
}
