/**
 * W3C Trace Context parsing and the child spans of outgoing calls (src/log/trace-context.ts).
 * The end-to-end behaviour (echo, logs, the headers KDS/PCS/agents receive) is tested in
 * test/server/observability.test.ts and test/server/trace-propagation.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { childSpan, continueTrace, outgoingTrace, traceparentHeader } from '../../src/log/trace-context.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CALLER = '00f067aa0ba902b7'
const HEADER = `00-${TRACE}-${CALLER}-01`

describe('trace context', () => {
  it('continues a valid traceparent with a fresh span id; anything else starts an unsampled trace', () => {
    const t = continueTrace(` ${HEADER.toUpperCase()} `)
    expect(t).toMatchObject({ traceId: TRACE, parentId: CALLER, flags: '01' })
    expect(t.spanId).toMatch(/^[0-9a-f]{16}$/)
    expect(t.spanId).not.toBe(CALLER)
    for (const bad of [undefined, '', 'garbage', `00-${TRACE}-${CALLER}-1`, `ff-${TRACE}-${CALLER}-01`, `00-${'0'.repeat(32)}-${CALLER}-01`]) {
      const fresh = continueTrace(bad)
      expect(fresh.traceId).toMatch(/^[0-9a-f]{32}$/)
      expect(fresh.traceId).not.toBe(TRACE)
      expect(fresh).toMatchObject({ parentId: undefined, flags: '00' })
    }
  })

  it('keeps a bounded, printable tracestate only with a valid traceparent', () => {
    expect(continueTrace(HEADER, ' congo=t61rcWkgMzE ').state).toBe('congo=t61rcWkgMzE')
    expect(continueTrace(HEADER, `a=${'x'.repeat(510)}`).state).toHaveLength(512)
    expect(continueTrace(HEADER, `a=${'x'.repeat(511)}`).state).toBeUndefined()
    expect(continueTrace(HEADER, 'a=b\u0000c').state).toBeUndefined()
    expect(continueTrace(HEADER, '').state).toBeUndefined()
    expect(continueTrace('garbage', 'congo=t61rcWkgMzE').state).toBeUndefined()
  })

  it('an outgoing call is a child span: same trace, flags and tracestate, a new span id, the request span as parent', () => {
    const request = continueTrace(HEADER, 'congo=t61rcWkgMzE')
    const child = childSpan(request)
    expect(child).toMatchObject({ traceId: TRACE, parentId: request.spanId, flags: '01', state: 'congo=t61rcWkgMzE' })
    expect(child.spanId).not.toBe(request.spanId)
    expect(traceparentHeader(child)).toBe(`00-${TRACE}-${child.spanId}-01`)
    const call = outgoingTrace(request)
    expect(call.headers['tracestate']).toBe('congo=t61rcWkgMzE')
    expect(call.headers['traceparent']).toBe(`00-${TRACE}-${call.log.spanId}-01`)
    expect(call.log.traceId).toBe(TRACE)
    expect(outgoingTrace(undefined)).toEqual({ headers: {}, log: {} })
  })
})
