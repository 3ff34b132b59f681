import { create, fromBinary, toBinary, toJson } from '@bufbuild/protobuf'
import { describe, expect, test } from 'vitest'
import { gotpmVerifier, type GotpmEvidence } from '../../../src/evidence/gotpm/index.js'
import { toHex } from '../../../src/evidence/reader.js'
import type { CollateralLookup } from '../../../src/evidence/types.js'
import { AttestationSchema } from '../../../src/proto-gen/attest_pb.js'
import { trustLookup } from '../tpm/vectors.js'
import { asyncCodeOf } from '../../support/error-code.js'
import { COCOS_AK_ID, COCOS_PB, cocosTrust, GCE_AK_ID, GCE_PB, GCE_ROOT, gceTrust } from './vectors.js'

const NOW = new Date('2026-11-23T00:00:00Z')
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
const evidence = (pb: Uint8Array): GotpmEvidence => ({ type: 'gotpm', attestation: b64(pb) })
const verify = (e: GotpmEvidence, lookup: CollateralLookup, now = NOW) => gotpmVerifier.verify(gotpmVerifier.schema.parse(e), { now, collateral: lookup })

/** The attestation with one byte of `field` changed (decoded, changed, re-encoded). */
function changed(pb: Uint8Array, edit: (a: ReturnType<typeof decode>) => void): Uint8Array {
  const a = decode(pb)
  edit(a)
  return toBinary(AttestationSchema, a)
}
const decode = (pb: Uint8Array) => fromBinary(AttestationSchema, pb)
const flip = (b: Uint8Array, at: number): void => {
  b[at] = (b[at] ?? 0) ^ 0x01
}

describe('GCE Shielded VM attestation (go-tpm-tools internal/test/attestations/gce-cos-85-nonce9009.pb)', () => {
  test('verifies with Google root 1 + intermediate 2 registered; claims per MANIFEST', async () => {
    const claims = await verify(evidence(GCE_PB()), gceTrust())
    expect(claims.evidenceType).toBe('gotpm')
    expect(claims.platform).toBe('vtpm')
    expect(toHex(claims.reportData)).toBe('9009')
    expect(claims.measurement).toBe('048937cbaaf28af85a5b0c0997e725097a0d94e05fcda104a82ee3fb6b2e1808')
    expect(claims.instanceId).toBe(GCE_AK_ID)
    expect(claims.measurements['pcr0']).toBe('0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf')
    expect(claims.measurements['pcr10']).toBe('63b093fd26fd34dc09ec621ff349f1053145d559422f11dbce734b3b00b5d673')
    expect(claims.measurements['pcr17']).toBe('ff'.repeat(32))
    const raw = claims.raw as Record<string, any>
    expect(raw['ak']).toMatchObject({ id: GCE_AK_ID, trust: 'certificate', tpmName: '000bf175bdb57297b2b289973f819863d6c9d09c236725676914f4248c9a2404c2a4' })
    expect(raw['ak'].certifiedBy).toContain('tpm_ek_v1_cloud_host-signer-0-2020-10-22')
    expect(raw['quotes'].map((q: { pcrDigest: string }) => q.pcrDigest)).toEqual([
      'fda327d4ba5d5978fe3a23db1a47964050e872639ef5d6a99c123cca39e56d8b',
      '048937cbaaf28af85a5b0c0997e725097a0d94e05fcda104a82ee3fb6b2e1808',
      '6c250f48d304517716f4a5a9127bf8762a80b63df783cb724630b180a3a66bea',
    ])
    expect(raw['quotes'][0]).toMatchObject({ resetCount: 10, restartCount: 0, firmwareVersion: '2016051100162800', extraData: '9009' })
    expect(Object.keys(raw['pcrs'])).toEqual(['sha1', 'sha256', 'sha384'])
    expect(raw['eventLog']).toMatchObject({ format: 'crypto-agile', banks: ['sha1', 'sha256', 'sha384'], verifiedPcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] })
    expect(raw['tee']).toBe('none')
  })

  test('the protojson form gives the same claims', async () => {
    const json = toJson(AttestationSchema, decode(GCE_PB()))
    const fromJson = await verify({ type: 'gotpm', attestation: json as Record<string, never> }, gceTrust())
    const fromBinaryClaims = await verify(evidence(GCE_PB()), gceTrust())
    expect(fromJson).toEqual(fromBinaryClaims)
  })

  test('without the intermediate (not in the attestation) the AK certificate does not chain: chain-untrusted', async () => {
    expect(await asyncCodeOf(() => verify(evidence(GCE_PB()), trustLookup({ cas: { ak: [GCE_ROOT()] } })))).toBe('chain-untrusted')
  })

  test('the intermediate carried in the attestation (intermediate_certs) completes the chain', async () => {
    const { GCE_INTERMEDIATE } = await import('./vectors.js')
    const der = new Uint8Array(Buffer.from(GCE_INTERMEDIATE().replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'))
    const pb = changed(GCE_PB(), (a) => a.intermediateCerts.push(der))
    expect((await verify(evidence(pb), trustLookup({ cas: { ak: [GCE_ROOT()] } }))).raw['ak']).toMatchObject({ trust: 'certificate' })
  })

  test('no CA registered: chain-untrusted', async () => {
    expect(await asyncCodeOf(() => verify(evidence(GCE_PB()), trustLookup({})))).toBe('chain-untrusted')
  })

  test('one changed byte in a quote: signature-invalid', async () => {
    for (const i of [0, 1, 2]) {
      const pb = changed(GCE_PB(), (a) => flip(a.quotes[i]!.quote, 40))
      expect(await asyncCodeOf(() => verify(evidence(pb), gceTrust()))).toBe('signature-invalid')
    }
  })

  test('one changed byte in a quote signature or a PCR value: signature-invalid', async () => {
    expect(await asyncCodeOf(() => verify(evidence(changed(GCE_PB(), (a) => flip(a.quotes[1]!.rawSig, 100))), gceTrust()))).toBe('signature-invalid')
    expect(await asyncCodeOf(() => verify(evidence(changed(GCE_PB(), (a) => flip(a.quotes[2]!.pcrs!.pcrs[5]!, 0))), gceTrust()))).toBe('signature-invalid')
  })

  test('one changed byte in the AK certificate: chain-untrusted (its signature no longer verifies)', async () => {
    // 1300 is in the signature value, 200 in the signed validity/issuer area.
    for (const at of [1300, 200]) {
      const pb = changed(GCE_PB(), (a) => flip(a.akCert, at))
      expect(await asyncCodeOf(() => verify(evidence(pb), gceTrust()))).toBe('chain-untrusted')
    }
    // A byte of the certified public key: the certificate no longer certifies ak_pub.
    expect(await asyncCodeOf(() => verify(evidence(changed(GCE_PB(), (a) => flip(a.akCert, 600))), gceTrust()))).toBe('evidence-malformed')
  })

  test('an AK certificate for another key than ak_pub is refused (go-tpm-tools TestVerifyIgnoreAKPubWithAKCert)', async () => {
    const cocos = decode(COCOS_PB())
    const pb = changed(GCE_PB(), (a) => {
      a.akPub = cocos.akPub
    })
    expect(await asyncCodeOf(() => verify(evidence(pb), gceTrust()))).toBe('evidence-malformed')
  })

  test('a changed event log no longer replays: event-log-mismatch', async () => {
    const a = decode(GCE_PB())
    // The first crypto-agile event follows the Spec ID event (32-byte header + its event data);
    // its first digest starts 14 bytes in (PCR index, type, digest count, algorithm id).
    const specIdSize = 32 + Buffer.from(a.eventLog).readUInt32LE(28)
    flip(a.eventLog, specIdSize + 14)
    expect(await asyncCodeOf(() => verify(evidence(toBinary(AttestationSchema, a)), gceTrust()))).toBe('event-log-mismatch')
  })

  test('quotes with different nonces are refused', async () => {
    const cocos = decode(COCOS_PB())
    const pb = changed(GCE_PB(), (a) => {
      a.quotes[1] = cocos.quotes[0]!
    })
    expect(await asyncCodeOf(() => verify(evidence(pb), gceTrust()))).not.toBe('no-error')
  })
})

describe('Cocos vTPM attestation (ultravioletrs/cocos attestation.bin of 2025-03-12)', () => {
  test('verifies with its AK registered (no AK certificate); claims per MANIFEST', async () => {
    const claims = await verify(evidence(COCOS_PB()), cocosTrust())
    expect(toHex(claims.reportData)).toBe('6b4a6e492a6299df233805b240fd664f2c94220a911b7a973d735998865584ac')
    expect(claims.instanceId).toBe(COCOS_AK_ID)
    expect(claims.measurement).toBe('b50ec6d911fc55d2a63588b2fef6e8fbfb41fa0b4301e4f2df1a51ab5fff2150')
    const raw = claims.raw as Record<string, any>
    expect(raw['pcrs'].sha256['1']).toBe('f47283d20841cac8154dc292368be82e25cfa5cea3411dc0fd9ce419290779cf')
    expect(raw['pcrs'].sha384['0']).toBe('ff93a763afde2c4a152d4843d9fcabe73a70d4f34bf8861845f2ab08440c1f0742b5882ed7f2524e38a3a6e40fbcdfca')
    expect(raw['pcrs'].sha256['16']).toBe('00'.repeat(32))
    expect(raw['quotes'][1].pcrDigest).toBe('9d72964c5f5456be319fe90485cd80afdff3d8113b723d5b7c1f1e7c57c0c810')
    expect(raw['eventLog']).toMatchObject({ banks: ['sha256', 'sha384'], verifiedPcrs: [0, 1, 2, 3, 4, 5, 6, 7, 9] })
    expect(claims.measurements['sha384-pcr9']).toBe('26af1635432b7c9f8971e934cfad99a7d22a9888074e6ab6dce5fba9e095bc094cc0fbaa4b4a8a23c5c7abd5a33c2772')
  })

  test('its AK not registered: chain-untrusted', async () => {
    expect(await asyncCodeOf(() => verify(evidence(COCOS_PB()), trustLookup({})))).toBe('chain-untrusted')
  })

  test('an empty attestation, or one without quotes, is evidence-malformed', async () => {
    const akOnly = create(AttestationSchema, { akPub: decode(COCOS_PB()).akPub })
    expect(await asyncCodeOf(() => verify(evidence(toBinary(AttestationSchema, akOnly)), cocosTrust()))).toBe('evidence-malformed')
    expect(await asyncCodeOf(() => verify(evidence(new Uint8Array([0x0a, 0x05, 1])), cocosTrust()))).toBe('evidence-malformed')
    const pb = changed(COCOS_PB(), (a) => {
      a.quotes = []
    })
    expect(await asyncCodeOf(() => verify(evidence(pb), cocosTrust()))).toBe('evidence-malformed')
  })
})
