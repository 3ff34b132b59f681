import type { MiddlewareHandler } from 'hono'
import { KeybrokerError } from '../../errors.js'
import type { AppEnv } from '../context.js'

/**
 * How long an issued challenge counts at most. Long enough for a client to produce its evidence
 * (a TPM quote or a TDX quote through a quote service takes seconds), short enough that rounds
 * abandoned in a storm free their places quickly.
 */
export const PENDING_CHALLENGE_WINDOW_MS = 10_000

export interface ChallengeLimitOptions {
  /** Challenges issued and not yet followed by an attestation; the next is refused. */
  readonly maxPending: number
  /** How long an issued challenge counts at most (a client that never comes back). */
  readonly windowMs: number
  /** `Retry-After` of a refusal. */
  readonly retryAfterSeconds: number
  /** Whether the attestation bound is being hit (see `AdmissionLimit.isSaturated`). */
  readonly isAttestationSaturated: () => boolean
  /** The clock (tests). */
  readonly now?: () => number
}

export interface ChallengeLimit {
  /** On the challenge route: refuses (503 `overloaded`) beyond `maxPending`, else counts it. */
  readonly issue: MiddlewareHandler<AppEnv>
  /** On the attestation routes: an arriving attestation settles the oldest pending challenge. */
  readonly settle: MiddlewareHandler<AppEnv>
  /** Challenges counted now. */
  pending(): number
}

/**
 * Load shedding at the start of a round: a challenge starts a round whose expensive part (the
 * attestation) comes later, within the nonce's lifetime. Issuing more challenges than the
 * attestation bound can work off only makes rounds that will be shed or find their nonce expired.
 * So while the attestation bound is being hit, at most `maxPending` challenges issued by this
 * process may be waiting for their attestation; beyond that a challenge is answered 503
 * `overloaded` with `Retry-After`. While attestations have room, challenges are never refused:
 * otherwise anyone could lock boot clients out by asking for challenges and never attesting.
 *
 * Nonces are stateless, so the count is approximate, on purpose: each arriving attestation request
 * (admitted or shed: either way that round's nonce is spent) settles the oldest pending challenge,
 * and a challenge stops counting after `windowMs` (a client that crashed or took its time: its
 * nonce stays valid, it just no longer holds a place). One ring buffer of issue times, O(1) per
 * request.
 */
export function challengeLimit(options: ChallengeLimitOptions): ChallengeLimit {
  const now = options.now ?? Date.now
  const issuedAt = new Float64Array(options.maxPending)
  let head = 0
  let size = 0
  const dropOldest = () => {
    head = (head + 1) % issuedAt.length
    size--
  }
  const expire = (t: number) => {
    while (size > 0 && (issuedAt[head] ?? 0) <= t - options.windowMs) dropOldest()
  }
  return {
    pending: () => {
      expire(now())
      return size
    },
    issue: async function challengeLimitMiddleware(_c, next) {
      const t = now()
      expire(t)
      if (size >= issuedAt.length) {
        if (options.isAttestationSaturated()) {
          throw new KeybrokerError('overloaded', `more than ${options.maxPending} challenges are waiting for their attestation`, {
            extensions: { retryAfterSeconds: options.retryAfterSeconds },
          })
        }
        // Full, but attestations have room: the oldest pending challenge stops counting.
        dropOldest()
      }
      // Counted before the nonce is made, so that concurrent challenges cannot overshoot.
      issuedAt[(head + size) % issuedAt.length] = t
      size++
      await next()
    },
    settle: async function challengeSettleMiddleware(_c, next) {
      if (size > 0) dropOldest()
      await next()
    },
  }
}
