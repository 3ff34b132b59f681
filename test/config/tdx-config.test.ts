import { describe, expect, test } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { tdxVerifyOptions } from '../../src/services/verifiers.js'

describe('Intel TDX settings', () => {
  test('defaults: UpToDate and SWHardeningNeeded, no pinned signing keys, CRLs optional', () => {
    const c = loadConfig({})
    expect(c.tdx).toEqual({
      acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded'],
      pinnedTcbSigningKeys: [],
      requireCrls: false,
      pcsFetch: false,
      pcsUrl: 'https://api.trustedservices.intel.com',
      pcsTimeoutMs: 5000,
    })
    expect(tdxVerifyOptions(c)).toEqual({
      allowDebug: false,
      acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded'],
      pinnedTcbSigningKeys: [],
      requireCrls: false,
      extraPinnedRoots: [],
    })
  })

  test('statuses and pins parse from comma-separated lists (environment or config file)', () => {
    const pin = 'BD7D4B9C805D92607DEE34683A104ABFA7B2A487E06AF2EDF0740A8666CBC22F'
    const c = loadConfig({ KEYBROKER_TDX_ACCEPTED_TCB_STATUSES: 'UpToDate, OutOfDate', KEYBROKER_TDX_PINNED_TCB_SIGNING_KEYS: pin, KEYBROKER_TDX_REQUIRE_CRLS: '1' })
    expect(c.tdx).toMatchObject({ acceptedTcbStatuses: ['UpToDate', 'OutOfDate'], pinnedTcbSigningKeys: [pin.toLowerCase()], requireCrls: true })
    expect(loadConfig({ KEYBROKER_TDX_PCS_FETCH: '1', KEYBROKER_TDX_PCS_URL: 'https://pccs.example:8081/' }).tdx).toMatchObject({ pcsFetch: true, pcsUrl: 'https://pccs.example:8081' })
  })

  test('an unknown status, an empty list or a malformed pin stops start-up naming the setting', () => {
    for (const [env, value] of [
      ['KEYBROKER_TDX_ACCEPTED_TCB_STATUSES', 'UpToDate,Good'],
      ['KEYBROKER_TDX_ACCEPTED_TCB_STATUSES', ' , '],
      ['KEYBROKER_TDX_PINNED_TCB_SIGNING_KEYS', 'abcd'],
    ] as const) {
      let err: unknown
      try {
        loadConfig({ [env]: value })
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as ConfigError).setting).toBe(env)
    }
  })
})
