import { createHash } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import type { ErrorCode } from '../../errors.js'
import type { JsonValue } from '../../evidence/index.js'
import type { RefusalAudit } from '../../services/refusal-audit.js'
import { clientIp } from '../client-ip.js'
import { knownError } from '../known-error.js'
import type { AppEnv } from '../context.js'

/**
 * Refusals the attestation flow audits itself (policy denials and unknown secrets, with their
 * full trace) or that are not the client's doing (the database, a bug): not counted here.
 */
const NOT_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['policy-denied', 'not-found', 'not-ready', 'internal'])

const EVIDENCE_TYPE = /^[a-z0-9-]{1,32}$/

/**
 * Audits every refused attestation request (README, "Reliability and security"): after the
 * handler, a problem other than those in {@link NOT_REFUSALS} is recorded with the route, the
 * problem type, the client IP and a summary of the body — the evidence type when the body is JSON
 * naming one, the body's SHA-256 and size; never the evidence. `RefusalAudit` bounds the volume.
 */
export function refusalAudit(options: { readonly services: { readonly refusals: RefusalAudit } }): MiddlewareHandler<AppEnv> {
  return async function refusalAuditMiddleware(c, next) {
    await next()
    const err = knownError(c.error)
    if (err === undefined || NOT_REFUSALS.has(err.code)) return
    await options.services.refusals.record({
      route: c.req.routePath,
      reason: err.code,
      source: clientIp(c),
      requestId: c.get('requestId'),
      detail: err.detail.slice(0, 200),
      summary: err.code === 'payload-too-large' ? {} : await bodySummary(c.req),
    })
  }
}

async function bodySummary(req: { arrayBuffer(): Promise<ArrayBuffer> }): Promise<{ [k: string]: JsonValue }> {
  let bytes: Uint8Array
  try {
    // Hono caches the body the validator read; this reads the cache, not the socket again.
    bytes = new Uint8Array(await req.arrayBuffer())
  } catch {
    return { body: 'unreadable' }
  }
  const out: { [k: string]: JsonValue } = { bodySha256: createHash('sha256').update(bytes).digest('hex'), bodyBytes: bytes.byteLength }
  try {
    const parsed: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'))
    if (parsed !== null && typeof parsed === 'object' && 'evidence' in parsed) {
      const evidence: unknown = parsed.evidence
      if (evidence !== null && typeof evidence === 'object' && 'type' in evidence && typeof evidence.type === 'string' && EVIDENCE_TYPE.test(evidence.type)) {
        out['evidenceType'] = evidence.type
      }
    }
  } catch {
    out['bodyJson'] = false
  }
  return out
}
