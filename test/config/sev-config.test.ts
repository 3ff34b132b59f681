import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { builtinSevRoots, parsePlatformChain, verifyPlatformChain } from '../../src/sev/index.js'
import { codeOf } from '../support/error-code.js'

const NAPLES_CHAIN = new Uint8Array(Buffer.concat(['pdh', 'pek', 'oca', 'cek'].map((n) => readFileSync(new URL(`../vectors/sev/naples/${n}.cert`, import.meta.url)))))

describe('SEV guest-owner settings', () => {
  it('default: every product, a 10-minute state', () => {
    const c = loadConfig({})
    expect(c.sev.products).toEqual(['Naples', 'Rome', 'Milan', 'Genoa', 'Turin'])
    expect(c.sev.stateTtlSeconds).toBe(600)
  })

  it('KEYBROKER_SEV_PRODUCTS restricts the roots the service builds: the real Naples chain is then refused', () => {
    const c = loadConfig({ KEYBROKER_SEV_PRODUCTS: 'Rome, milan', KEYBROKER_SEV_STATE_TTL_SECONDS: '120' })
    expect(c.sev).toEqual({ products: ['Rome', 'Milan'], stateTtlSeconds: 120 })
    expect(codeOf(() => verifyPlatformChain(parsePlatformChain(NAPLES_CHAIN), builtinSevRoots(c.sev.products)))).toBe('chain-untrusted')
    expect(verifyPlatformChain(parsePlatformChain(NAPLES_CHAIN), builtinSevRoots(loadConfig({ KEYBROKER_SEV_PRODUCTS: 'naples' }).sev.products)).product).toBe('Naples')
  })

  it('unknown products, an empty list and out-of-range lifetimes stop the start', () => {
    expect(() => loadConfig({ KEYBROKER_SEV_PRODUCTS: 'naples,venice' })).toThrow(ConfigError)
    expect(() => loadConfig({ KEYBROKER_SEV_PRODUCTS: ',' })).toThrow(ConfigError)
    expect(() => loadConfig({ KEYBROKER_SEV_STATE_TTL_SECONDS: '5' })).toThrow(ConfigError)
  })
})
