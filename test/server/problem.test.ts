import { describe, expect, it } from 'vitest'
import type { ErrorCode } from '../../src/errors.js'
import { PROBLEMS, problemFor } from '../../src/server/problem.js'

describe('problem mapping', () => {
  it('maps every code to a 4xx or 5xx status and a stable type', () => {
    for (const [code, { status, title }] of Object.entries(PROBLEMS) as [ErrorCode, { status: number; title: string }][]) {
      expect(status >= 400 && status < 600).toBe(true)
      expect(title.length).toBeGreaterThan(0)
      expect(problemFor(code, 'd', 'req-1').type).toBe(`https://keybroker.dev/problems/${code}`)
    }
    expect(PROBLEMS.internal.status).toBe(500)
    // The only answers that are not the client's fault: a bug, the database, load, an agent keybroker pulls from.
    const serverSide = Object.fromEntries(Object.entries(PROBLEMS).filter(([, p]) => p.status >= 500).map(([code, p]) => [code, p.status]))
    expect(serverSide).toEqual({ internal: 500, 'not-ready': 503, overloaded: 503, 'agent-unreachable': 502 })
  })

  it('keeps the standard members when extensions try to override them', () => {
    const p = problemFor('policy-denied', 'denied', 'req-2', { status: 200, type: 'x', failedRules: [] })
    expect(p).toMatchObject({ status: 403, type: 'https://keybroker.dev/problems/policy-denied', failedRules: [] })
  })
})
