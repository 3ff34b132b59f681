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
    expect(Object.values(PROBLEMS).filter((p) => p.status >= 500).length).toBe(2)
  })

  it('keeps the standard members when extensions try to override them', () => {
    const p = problemFor('policy-denied', 'denied', 'req-2', { status: 200, type: 'x', failedRules: [] })
    expect(p).toMatchObject({ status: 403, type: 'https://keybroker.dev/problems/policy-denied', failedRules: [] })
  })
})
