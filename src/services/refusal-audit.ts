import type { JsonValue } from '../evidence/index.js'
import { describeError, type Logger } from '../log/logger.js'
import type { AuditWriter } from './audit-writer.js'

/** One refused attestation, as the HTTP layer saw it. */
export interface Refusal {
  /** The route pattern (`/v1/attest`). */
  readonly route: string
  /** The problem type slug (`binding-mismatch`, `nonce-reused`, …). */
  readonly reason: string
  /** The client IP ('' when unknown). */
  readonly source: string
  readonly requestId: string
  /** The problem's detail, cut to 200 characters. */
  readonly detail: string
  /** Evidence type, body digest and size — never the evidence itself. */
  readonly summary: { readonly [k: string]: JsonValue }
}

interface Bucket {
  readonly route: string
  readonly reason: string
  readonly source: string
  readonly window: number
  /** Refusals after the first (which was written at once). */
  count: number
  firstAt: Date | undefined
  lastAt: Date | undefined
  readonly evidenceTypes: Set<string>
  readonly bodies: Set<string>
}

/** Distinct (route, reason, source) keys tracked per window; further sources share one `*` bucket. */
export const MAX_REFUSAL_KEYS = 1000
const MAX_LISTED = 16

/**
 * Audits refused attestations with a bounded volume (README, "Reliability and security"): the
 * first refusal of each (route, reason, client IP) in a time window is written at once, with the
 * evidence summary; the identical ones after it in that window are counted in memory and written
 * as one `attest.refused` entry with `count` when the window ends (a timer) or the service stops
 * (`stop`). So a flood of garbage adds at most two entries per key and window, and at most
 * {@link MAX_REFUSAL_KEYS} keys per window (beyond that, sources are pooled as `*`). A crash loses
 * at most the counts of the current window, never the first refusal of a kind.
 */
export class RefusalAudit {
  readonly #writer: AuditWriter
  readonly #windowMs: number
  readonly #now: () => Date
  readonly #log: Logger | undefined
  readonly #buckets = new Map<string, Bucket>()
  readonly #timer: ReturnType<typeof setInterval>
  #flushing: Promise<void> = Promise.resolve()

  constructor(options: { writer: AuditWriter; windowSeconds: number; now: () => Date; log?: Logger }) {
    this.#writer = options.writer
    this.#windowMs = options.windowSeconds * 1000
    this.#now = options.now
    this.#log = options.log
    this.#timer = setInterval(() => void this.flush({ endedOnly: true }), Math.min(this.#windowMs, 60_000))
    this.#timer.unref()
  }

  /**
   * Records one refusal. Resolves once its entry is committed when it is the first of its key in
   * the window, at once otherwise. Never rejects: a failed write is logged (the refusal stands).
   */
  async record(r: Refusal): Promise<void> {
    const at = this.#now()
    const window = Math.floor(at.getTime() / this.#windowMs)
    let key = `${window}\n${r.route}\n${r.reason}\n${r.source}`
    let source = r.source
    if (!this.#buckets.has(key) && this.#buckets.size >= MAX_REFUSAL_KEYS) {
      source = '*'
      key = `${window}\n${r.route}\n${r.reason}\n*`
    }
    const bucket = this.#buckets.get(key)
    if (bucket !== undefined) {
      bucket.count += 1
      bucket.firstAt ??= at
      bucket.lastAt = at
      const type = r.summary['evidenceType']
      if (typeof type === 'string' && bucket.evidenceTypes.size < MAX_LISTED) bucket.evidenceTypes.add(type)
      const body = r.summary['bodySha256']
      if (typeof body === 'string' && bucket.bodies.size < MAX_LISTED * 64) bucket.bodies.add(body)
      return
    }
    this.#buckets.set(key, { route: r.route, reason: r.reason, source, window, count: 0, firstAt: undefined, lastAt: undefined, evidenceTypes: new Set(), bodies: new Set() })
    await this.#write(at, r.route, {
      reason: r.reason,
      clientIp: source,
      requestId: r.requestId,
      detail: r.detail,
      ...r.summary,
      count: 1,
      window: this.#windowStart(window),
      windowSeconds: this.#windowMs / 1000,
    })
  }

  /**
   * Writes the counted refusals as one entry per key (with `endedOnly`, only of windows that have
   * ended) and forgets those keys. Flushes run one after another.
   */
  flush(options: { endedOnly?: boolean } = {}): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      const current = Math.floor(this.#now().getTime() / this.#windowMs)
      const due: Bucket[] = []
      for (const [key, b] of this.#buckets) {
        if (options.endedOnly === true && b.window >= current) continue
        this.#buckets.delete(key)
        if (b.count > 0) due.push(b)
      }
      await Promise.all(
        due.map((b) =>
          this.#write(this.#now(), b.route, {
            reason: b.reason,
            clientIp: b.source,
            aggregated: true,
            count: b.count,
            firstAt: b.firstAt?.toISOString() ?? null,
            lastAt: b.lastAt?.toISOString() ?? null,
            evidenceTypes: [...b.evidenceTypes].sort(),
            distinctBodies: b.bodies.size,
            window: this.#windowStart(b.window),
            windowSeconds: this.#windowMs / 1000,
          }),
        ),
      )
    })
    return this.#flushing
  }

  /** Stops the timer and writes every pending count (at shutdown, before the database closes). */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.flush()
  }

  #windowStart(window: number): string {
    return new Date(window * this.#windowMs).toISOString()
  }

  async #write(at: Date, route: string, detail: { readonly [k: string]: JsonValue }): Promise<void> {
    try {
      await this.#writer.append({ at, actor: 'attester', action: 'attest.refused', subject: route, outcome: 'refused', detail })
    } catch (err) {
      this.#log?.warn('refusal audit entry not written', { route, reason: String(detail['reason']), error: describeError(err) })
    }
  }
}
