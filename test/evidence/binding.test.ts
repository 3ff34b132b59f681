import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { agentNonceOf, bindingInput, checkReportData, REPORT_DATA_BINDING, type Claims } from '../../src/evidence/index.js'
import { EVIDENCE_TYPES, verifierFor } from '../../src/evidence/index.js'
import { checkEvidenceBinding, computeBinding, computeKeylessBinding } from '../../src/tokens/index.js'
import { AUTOMATA_BINDING, AUTOMATA_MAGIC, automataV1ReportData, automataV2ExtraData } from '../../src/evidence/automata/index.js'
import { codeOf } from '../support/error-code.js'

/**
 * Binding-profile vectors, printed in the README ("Binding profiles"). B is the README's binding
 * vector (nonce AAECAw…NDU2Nzg4, the RFC 7515 A.3 P-256 key).
 */
const NONCE = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4'
const JWK = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }
const B_HEX = 'a1cdbb3467687a86e5e94b81e531e547e41881dbac14863ec331e92c1b8f3a75ac755b62660ad8ab3294d76fecea5e5089cc4f04fc4c4dff3bc3ccee2785ed35'
const AGENT_NONCE = 'oc27NGdoeobl6UuB5THlR-QYgdusFIY-wzHpLBuPOnU'
const B = new Uint8Array(Buffer.from(B_HEX, 'hex'))

const claimsWith = (reportData: Uint8Array, binding?: Record<string, Uint8Array>): Claims => ({
  evidenceType: 'sample',
  platform: 'sample',
  hardwareBacked: false,
  measurement: '00',
  measurements: {},
  reportData,
  debug: false,
  tcb: {},
  raw: {},
  ...(binding === undefined ? {} : { binding }),
})

describe('agent nonce', () => {
  it('is base64url(B[0:32]) of the fixed vector', async () => {
    expect(Buffer.from(await computeBinding(NONCE, JWK)).toString('hex')).toBe(B_HEX)
    expect(agentNonceOf(B)).toBe(AGENT_NONCE)
    // Independently: the first 32 bytes, base64url without padding, 43 URL-path-safe characters.
    expect(Buffer.from(B_HEX.slice(0, 64), 'hex').toString('base64url')).toBe(AGENT_NONCE)
    expect(AGENT_NONCE).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('is what bindingInput hands every profile, with B itself', () => {
    const input = bindingInput(B)
    expect(input.agentNonce).toBe(AGENT_NONCE)
    expect(Buffer.from(input.binding).toString('hex')).toBe(B_HEX)
    expect(input.agentCertificate).toBeUndefined()
    const cert = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])
    expect(bindingInput(B, { agentCertificate: cert }).agentCertificate).toBe(cert)
  })

  it('refuses a binding that is not 64 bytes (a caller bug)', () => {
    expect(() => agentNonceOf(B.subarray(0, 32))).toThrow(RangeError)
  })

  it('differs for another key or nonce (it commits to both)', async () => {
    const otherKey = { kty: 'EC', crv: 'P-256', x: JWK.y, y: JWK.x }
    expect(agentNonceOf(await computeBinding(NONCE, otherKey))).not.toBe(AGENT_NONCE)
    expect(agentNonceOf(await computeBinding(NONCE.slice(1), JWK))).not.toBe(AGENT_NONCE)
  })
})

describe('report-data profile (native types)', () => {
  it('accepts B as 64-byte report data and B[0:32] as a TPM extraData', () => {
    expect(REPORT_DATA_BINDING.check(claimsWith(B), bindingInput(B))).toEqual({ ok: true, rule: 'report-data' })
    expect(REPORT_DATA_BINDING.check(claimsWith(B.slice(0, 32)), bindingInput(B))).toEqual({ ok: true, rule: 'report-data' })
  })

  it('refuses any other byte, any other length, and the agent nonce in place of B', () => {
    for (let i = 0; i < 64; i += 7) {
      const flipped = B.slice()
      flipped[i] = (flipped[i] ?? 0) ^ 1
      expect(checkReportData(flipped, B).ok).toBe(false)
    }
    for (const n of [0, 31, 33, 48, 63, 65]) expect(checkReportData(new Uint8Array(n), B).ok).toBe(false)
    expect(checkReportData(B.slice(32), B).ok).toBe(false)
    const agentNonceBytes = new Uint8Array(Buffer.from(AGENT_NONCE, 'ascii'))
    expect(checkReportData(agentNonceBytes, B).ok).toBe(false)
  })

  it('maps a mismatch to binding-mismatch and returns the rule otherwise', () => {
    expect(checkEvidenceBinding(REPORT_DATA_BINDING, claimsWith(B), B)).toBe('report-data')
    expect(codeOf(() => checkEvidenceBinding(REPORT_DATA_BINDING, claimsWith(new Uint8Array(64)), B))).toBe('binding-mismatch')
    expect(codeOf(() => checkEvidenceBinding(REPORT_DATA_BINDING, claimsWith(B), B.subarray(0, 32)))).toBe('internal')
  })

  it('is the declared profile of every native type', () => {
    for (const type of ['snp', 'tdx', 'tpm', 'az-snp-vtpm', 'az-tdx-vtpm', 'sample']) {
      expect(EVIDENCE_TYPES).toContain(type)
      expect(verifierFor(type, { allowSample: true }).binding).toBe(REPORT_DATA_BINDING)
    }
  })
})

describe('profiles of every registered type', () => {
  it('each declares a named profile', () => {
    for (const type of EVIDENCE_TYPES) {
      const profile = verifierFor(type, { allowSample: true }).binding
      expect(profile.name).toMatch(/^[a-z0-9-]+$/)
    }
  })

  it('B is SHA-512 of the README definition', () => {
    const thumbprint = 'oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U'
    expect(createHash('sha512').update(`keybroker-v1:${NONCE}:${thumbprint}`, 'ascii').digest('hex')).toBe(B_HEX)
  })
})

describe('automata profile vectors (README, "Binding profiles")', () => {
  // For the agent nonce above: the v2 quote extraData and the v1 TEE report data.
  const MAGIC_NONCE_HEX = '45787465726e616c2f636f6c6c61746572616c736f6332374e47646f656f626c365575423554486c522d5159676475734649592d777a48704c4275504f6e55'
  const V1_REPORT_DATA_HEX = '00'.repeat(32) + 'be46f1e94dcd60900d7e03e7d22d7369e4cd8fcefb63ef0478396f89ee50d256'

  it('magic ‖ agent nonce (63 bytes) and 0³² ‖ SHA-256(magic ‖ agent nonce)', () => {
    const m = Buffer.from(AUTOMATA_MAGIC, 'latin1')
    const n = Buffer.from(AGENT_NONCE, 'latin1')
    expect(Buffer.from(automataV2ExtraData(m, n)).toString('hex')).toBe(MAGIC_NONCE_HEX)
    expect(MAGIC_NONCE_HEX.length / 2).toBe(63)
    expect(Buffer.from(automataV1ReportData(m, n)).toString('hex')).toBe(V1_REPORT_DATA_HEX)
    // Independently of our helpers.
    expect('00'.repeat(32) + createHash('sha256').update(Buffer.concat([m, n])).digest('hex')).toBe(V1_REPORT_DATA_HEX)
  })

  it('the profile accepts exactly these bytes for B', () => {
    const binding = (extraData: string, teeReportData: string): Claims => ({
      ...claimsWith(new Uint8Array(Buffer.from(extraData, 'hex'))),
      evidenceType: 'automata',
      binding: {
        magic: new Uint8Array(Buffer.from(AUTOMATA_MAGIC)),
        nonce: new Uint8Array(Buffer.from(AGENT_NONCE)),
        extraData: new Uint8Array(Buffer.from(extraData, 'hex')),
        teeReportData: new Uint8Array(Buffer.from(teeReportData, 'hex')),
      },
    })
    expect(AUTOMATA_BINDING.check(binding(MAGIC_NONCE_HEX, '00'.repeat(64)), bindingInput(B))).toEqual({ ok: true, rule: 'automata-v2' })
    expect(AUTOMATA_BINDING.check(binding(Buffer.from(AGENT_NONCE).toString('hex'), V1_REPORT_DATA_HEX), bindingInput(B))).toEqual({ ok: true, rule: 'automata-v1' })
    expect(AUTOMATA_BINDING.check(binding(MAGIC_NONCE_HEX, V1_REPORT_DATA_HEX), bindingInput(B)).ok).toBe(false)
  })
})

describe('keyless binding (POST /v1/verify without publicKey)', () => {
  it('is SHA-512("keybroker-v1:" + nonce + ":")', async () => {
    const b = await computeKeylessBinding(NONCE)
    expect(Buffer.from(b).toString('hex')).toBe(
      '86431345ea6b7d85453b73e0024f8f0f68722b38f7204affe378eb804867aaaab915bf38df4f514cbddf5e72a31544e74fe277112f24a8d9fb810ab1a6843ecf',
    )
    expect(agentNonceOf(b)).toBe('hkMTReprfYVFO3PgAk-PD2hyKzj3IEr_43jrgEhnqqo')
  })
})
