/**
 * The `gotpm` binding profile with the fixed vectors printed in the README ("Binding profiles"):
 * B of the README, the AK public area of the Cocos vector. The SHA3-512 value was also computed
 * with Python's hashlib (an independent implementation).
 */
import { fromBinary } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import { bindingInput, type Claims } from '../../../src/evidence/index.js'
import { GOTPM_BINDING, gotpmVerifier } from '../../../src/evidence/gotpm/index.js'
import { AttestationSchema } from '../../../src/proto-gen/attest_pb.js'
import { COCOS_PB } from './vectors.js'

const B = new Uint8Array(Buffer.from('a1cdbb3467687a86e5e94b81e531e547e41881dbac14863ec331e92c1b8f3a75ac755b62660ad8ab3294d76fecea5e5089cc4f04fc4c4dff3bc3ccee2785ed35', 'hex'))
const NONCE = B.slice(0, 32)
const TEE_NONCE = new Uint8Array(Buffer.from(`a1cdbb3467687a86e5e94b81e531e547e41881dbac14863ec331e92c1b8f3a75${'00'.repeat(32)}`, 'hex'))
const COCOS_REPORT_DATA = new Uint8Array(
  Buffer.from('6444a9c901f3da0aa195374f69e7eed25081f9496872c7fde5abd9320147ef9d12fcfe7bf1fede2c9cede69b01a7de5086b7215b1927654606a7c53d7780cc8d', 'hex'),
)
const AK_PUB = fromBinary(AttestationSchema, COCOS_PB()).akPub

const claims = (reportData: Uint8Array, binding?: Record<string, Uint8Array>): Claims => ({
  evidenceType: 'gotpm',
  platform: 'vtpm',
  hardwareBacked: true,
  measurement: '00',
  measurements: {},
  reportData,
  debug: false,
  tcb: {},
  raw: {},
  ...(binding === undefined ? {} : { binding }),
})
const check = (c: Claims) => GOTPM_BINDING.check(c, bindingInput(B))

describe('gotpm binding profile', () => {
  it('is the declared profile of gotpm', () => {
    expect(gotpmVerifier.binding).toBe(GOTPM_BINDING)
  })

  it('vTPM only: extraData = the 32 raw bytes B[0:32]', () => {
    expect(check(claims(NONCE))).toEqual({ ok: true, rule: 'gotpm-vtpm' })
    expect(check(claims(B)).ok).toBe(false)
    expect(check(claims(new Uint8Array(Buffer.from('oc27NGdoeobl6UuB5THlR-QYgdusFIY-wzHpLBuPOnU', 'ascii')))).ok).toBe(false)
  })

  it('Cocos: REPORT_DATA = SHA3-512(B[0:32] ‖ 0^32 ‖ ak_pub) (fixed vector)', () => {
    expect(AK_PUB.byteLength).toBe(280)
    expect(check(claims(NONCE, { teeReportData: COCOS_REPORT_DATA, akPub: AK_PUB }))).toEqual({ ok: true, rule: 'gotpm-cocos' })
    const other = AK_PUB.slice()
    other[100] = (other[100] ?? 0) ^ 1
    expect(check(claims(NONCE, { teeReportData: COCOS_REPORT_DATA, akPub: other })).ok).toBe(false)
  })

  it('go-tpm-tools: REPORT_DATA = B[0:32] ‖ 0^32', () => {
    expect(check(claims(NONCE, { teeReportData: TEE_NONCE, akPub: AK_PUB }))).toEqual({ ok: true, rule: 'gotpm-tee-nonce' })
    expect(check(claims(NONCE, { teeReportData: B, akPub: AK_PUB })).ok).toBe(false)
  })

  it('a TEE part for another nonce fails even when the quotes hold B[0:32]', () => {
    const wrong = TEE_NONCE.slice()
    wrong[0] = (wrong[0] ?? 0) ^ 1
    expect(check(claims(NONCE, { teeReportData: wrong, akPub: AK_PUB })).ok).toBe(false)
  })
})
