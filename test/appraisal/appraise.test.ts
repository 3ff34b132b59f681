import { describe, expect, it } from 'vitest'
import { appraise, CONFIGURATION, EXECUTABLES, HARDWARE, instanceIdentityClaim, type ReferenceValueSet } from '../../src/appraisal/index.js'
import { INSTANCE_IDENTITY } from '../../src/appraisal/trust-vector.js'

const M = 'aa'.repeat(48)
const set = (name: string, values: { value: string; revoked?: boolean }[], allowDebug = false): ReferenceValueSet => ({
  name,
  allowDebug,
  measurements: values.map((v) => ({ value: v.value, revokedAt: v.revoked ? new Date(0) : null })),
})

describe('appraise', () => {
  it('affirms a registered measurement on genuine hardware', () => {
    const a = appraise({ measurement: M.toUpperCase(), debug: false, hardwareBacked: true }, [set('a', [{ value: M }])])
    expect(a.status).toBe('affirming')
    expect(a.matched).toEqual(['a'])
    expect(a.trustVector).toEqual({ executables: EXECUTABLES.APPROVED_RUNTIME, configuration: CONFIGURATION.APPROVED, hardware: HARDWARE.GENUINE })
  })

  it('warns about an unknown measurement', () => {
    const a = appraise({ measurement: M, debug: false, hardwareBacked: true }, [set('a', [{ value: 'bb' }])])
    expect(a.status).toBe('warning')
    expect(a.trustVector.executables).toBe(EXECUTABLES.UNRECOGNIZED_RUNTIME)
  })

  it('contraindicates a revoked measurement even when another set lists it', () => {
    const a = appraise({ measurement: M, debug: false, hardwareBacked: true }, [set('a', [{ value: M, revoked: true }]), set('b', [{ value: M }])])
    expect(a.status).toBe('contraindicated')
    expect(a.revokedIn).toEqual(['a'])
  })

  it('accepts debug only where every matching set allows it', () => {
    const claims = { measurement: M, debug: true, hardwareBacked: true }
    expect(appraise(claims, [set('a', [{ value: M }], true)]).isDebugAcceptable).toBe(true)
    expect(appraise(claims, [set('a', [{ value: M }], true), set('b', [{ value: M }])]).isDebugAcceptable).toBe(false)
    expect(appraise(claims, [set('a', [{ value: 'cc' }], true)]).isDebugAcceptable).toBe(false)
    expect(appraise(claims, [set('a', [{ value: M }])]).trustVector.configuration).toBe(CONFIGURATION.UNSAFE)
  })

  it('maps the tie of composite evidence to instance-identity: a tie is trustworthy, none (or an unknown tie) contraindicated', () => {
    const claims = { measurement: M, debug: false, hardwareBacked: true }
    expect(appraise(claims, [set('a', [{ value: M }])]).trustVector['instance-identity']).toBeUndefined()
    for (const tie of ['azure-var-data', 'ak-certificate', 'registered-ak', 'tee-report-data']) {
      const a = appraise({ ...claims, teeTpmTie: tie }, [set('a', [{ value: M }])])
      expect(a.trustVector['instance-identity']).toBe(INSTANCE_IDENTITY.TRUSTWORTHY)
      expect(a.status).toBe('affirming')
    }
    for (const tie of ['none', 'something-new']) {
      const a = appraise({ ...claims, teeTpmTie: tie }, [set('a', [{ value: M }])])
      expect(a.trustVector['instance-identity']).toBe(INSTANCE_IDENTITY.UNRECOGNIZED)
      expect(a.status).toBe('contraindicated')
      expect(a.matched).toEqual(['a'])
    }
    expect(instanceIdentityClaim(undefined)).toBeUndefined()
  })

  it('makes no hardware claim for unsigned evidence', () => {
    const a = appraise({ measurement: M, debug: false, hardwareBacked: false }, [set('a', [{ value: M }])])
    expect(a.trustVector.hardware).toBe(0)
    expect(a.status).toBe('affirming')
  })
})

describe('Intel TCB status → AR4SI hardware claim', () => {
  const tdx = (status: string) => ({ measurement: M, debug: false, hardwareBacked: true, tcb: { status } })
  const sets = [set('a', [{ value: M }])]
  it.each([
    ['UpToDate', HARDWARE.GENUINE, 'affirming'],
    ['SWHardeningNeeded', HARDWARE.GENUINE, 'affirming'],
    ['ConfigurationNeeded', HARDWARE.UNSAFE, 'warning'],
    ['ConfigurationAndSWHardeningNeeded', HARDWARE.UNSAFE, 'warning'],
    ['OutOfDate', HARDWARE.UNSAFE, 'warning'],
    ['OutOfDateConfigurationNeeded', HARDWARE.UNSAFE, 'warning'],
    ['Revoked', HARDWARE.CONTRAINDICATED, 'contraindicated'],
    ['SomethingNew', HARDWARE.UNRECOGNIZED, 'contraindicated'],
  ] as const)('%s → hardware %i, status %s', (status, hardware, ear) => {
    const a = appraise(tdx(status), sets)
    expect(a.trustVector.hardware).toBe(hardware)
    expect(a.status).toBe(ear)
  })
})
