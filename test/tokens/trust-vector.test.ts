import { describe, expect, it } from 'vitest'
import { EXECUTABLES, HARDWARE, TRUST_NONE, trustTier, worstStatus } from '../../src/tokens/index.js'

describe('AR4SI trust tiers', () => {
  it('maps the tier boundaries of the draft', () => {
    const cases: readonly [number, string][] = [
      [-128, 'contraindicated'], [-97, 'contraindicated'], [-96, 'warning'], [-33, 'warning'], [-32, 'affirming'],
      [-2, 'affirming'], [-1, 'none'], [0, 'none'], [1, 'none'], [2, 'affirming'], [31, 'affirming'],
      [32, 'warning'], [95, 'warning'], [96, 'contraindicated'], [127, 'contraindicated'],
    ]
    for (const [value, tier] of cases) expect(trustTier(value), String(value)).toBe(tier)
    expect(() => trustTier(128)).toThrow(RangeError)
    expect(() => trustTier(1.5)).toThrow(RangeError)
  })

  it('takes the worst claim as status', () => {
    expect(worstStatus({})).toBe('affirming')
    expect(worstStatus({ executables: EXECUTABLES.APPROVED_BOOT, hardware: HARDWARE.GENUINE })).toBe('affirming')
    expect(worstStatus({ executables: EXECUTABLES.UNRECOGNIZED_RUNTIME, hardware: HARDWARE.GENUINE })).toBe('warning')
    expect(worstStatus({ executables: EXECUTABLES.UNSAFE_RUNTIME, hardware: TRUST_NONE.CRYPTO_VALIDATION_FAILED })).toBe('contraindicated')
  })
})
