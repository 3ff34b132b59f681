import { describe, expect, it } from 'vitest'
import { appraise } from '../../src/appraisal/index.js'
import { evaluateReleasePolicy } from '../../src/policy/index.js'

const M = 'aa'.repeat(48)
const sets = [{ name: 'a', allowDebug: false, measurements: [{ value: M, revokedAt: null }] }]

function failed(measurement: string, debug: boolean, state: 'enabled' | 'disabled') {
  const decision = evaluateReleasePolicy({ secretState: state, appraisal: appraise({ measurement, debug, hardwareBacked: true }, sets) })
  return { allowed: decision.allowed, failed: decision.rules.filter((r) => !r.passed).map((r) => r.rule) }
}

describe('default release policy', () => {
  it('allows an enabled secret to a registered, non-debug measurement', () => {
    expect(failed(M, false, 'enabled')).toEqual({ allowed: true, failed: [] })
  })
  it('names every failed rule', () => {
    expect(failed('bb', true, 'disabled')).toEqual({
      allowed: false,
      failed: ['secret-enabled', 'measurement-in-reference-values', 'debug-disabled', 'ear-status-affirming'],
    })
  })
  it('denies debug alone', () => {
    expect(failed(M, true, 'enabled').failed).toEqual(['debug-disabled', 'ear-status-affirming'])
  })
  it('never puts reference values into reasons', () => {
    const d = evaluateReleasePolicy({ secretState: 'enabled', appraisal: appraise({ measurement: 'bb', debug: false, hardwareBacked: true }, sets) })
    expect(JSON.stringify(d)).not.toContain(M)
  })
})
