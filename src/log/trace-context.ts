/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/, version 00), the one place that reads
 * and writes `traceparent`: `00-<trace-id 32 hex>-<parent-id 16 hex>-<flags 2 hex>`.
 *
 * - An incoming request continues the caller's trace (`continueTrace`) or starts one; keybroker's
 *   own span id for the request is always fresh.
 * - Every outgoing HTTP(S) call made while serving a request (AMD KDS, Intel PCS/PCCS, a Cosmian
 *   agent) gets a child span (`childSpan`): the same trace id, a fresh span id sent as the
 *   parent-id of the callee, the flags (sampled) unchanged; `traceparentHeader` builds its header.
 *   The caller's `tracestate` (other vendors' data) goes along unchanged, as the specification
 *   asks; keybroker adds no entry of its own and never logs it.
 * - Work that no request caused gets no trace: such a call sends no `traceparent`, because a root
 *   span of our own would start a trace that no caller can look up. Today every outgoing call is
 *   made on behalf of a request (collateral is fetched on demand, never on a schedule).
 *
 * There is no tracing SDK and no span export: the ids go into the JSON log lines (`traceId`,
 * `spanId`) so that a caller's or a proxy's trace finds them.
 */
import { randomBytes } from 'node:crypto'

/** One span of a trace: the request keybroker serves, or a call it makes. */
export interface TraceContext {
  readonly traceId: string
  readonly spanId: string
  /** The span that caused this one: the caller's, or keybroker's request span for an outgoing call. */
  readonly parentId: string | undefined
  /** Trace flags as received (bit 0: sampled); a trace started here is not sampled (`00`). */
  readonly flags: string
  /** The caller's `tracestate`, passed on to outgoing calls unchanged (bounded, printable ASCII). */
  readonly state?: string | undefined
}

// Version 00 is exactly these four fields. A later version may append fields after a `-`: the
// specification (§3.2.4, "Versioning of traceparent") asks to read its first four as version 00's.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)
/** The specification asks to propagate at least 512 characters of `tracestate`; longer ones are dropped whole rather than cut. */
const MAX_TRACESTATE = 512
const TRACESTATE = /^[\x20-\x7e]*$/

const newSpanId = (): string => randomBytes(8).toString('hex')

/**
 * The span of a request that carried `header`: the caller's trace when the header is a valid
 * `traceparent` with non-zero ids (version 00, or a later one read as version 00; never `ff`),
 * otherwise a new trace (the specification says an invalid header is ignored). The span id is
 * always fresh.
 */
export function continueTrace(header: string | undefined, stateHeader?: string): TraceContext {
  const given = TRACEPARENT.exec(header?.trim().toLowerCase() ?? '')
  const [, version, traceId, parentId, flags, rest] = given ?? []
  const validVersion = version === '00' ? rest === undefined : version !== undefined && version !== 'ff'
  if (validVersion && traceId !== undefined && parentId !== undefined && flags !== undefined && traceId !== ZERO_TRACE && parentId !== ZERO_SPAN) {
    const state = stateHeader?.trim()
    const keep = state !== undefined && state !== '' && state.length <= MAX_TRACESTATE && TRACESTATE.test(state)
    return { traceId, spanId: newSpanId(), parentId, flags, ...(keep ? { state } : {}) }
  }
  return { traceId: randomBytes(16).toString('hex'), spanId: newSpanId(), parentId: undefined, flags: '00' }
}

/** A span for one outgoing call made within `parent`: same trace and flags, a fresh span id. */
export function childSpan(parent: TraceContext): TraceContext {
  return { traceId: parent.traceId, spanId: newSpanId(), parentId: parent.spanId, flags: parent.flags, ...(parent.state === undefined ? {} : { state: parent.state }) }
}

/** The `traceparent` value that names `span` as the parent of whatever receives it. */
export function traceparentHeader(span: TraceContext): string {
  return `00-${span.traceId}-${span.spanId}-${span.flags}`
}

/**
 * For an outgoing call within `parent` (absent: work no request caused): the headers to send and
 * the log fields naming the call's span. Both empty without a parent.
 */
export function outgoingTrace(parent: TraceContext | undefined): { readonly headers: Record<string, string>; readonly log: { traceId?: string; spanId?: string } } {
  if (parent === undefined) return { headers: {}, log: {} }
  const span = childSpan(parent)
  const headers: Record<string, string> = { traceparent: traceparentHeader(span) }
  if (span.state !== undefined) headers['tracestate'] = span.state
  return { headers, log: { traceId: span.traceId, spanId: span.spanId } }
}
