/**
 * The SEV-SNP path of `gotpm`: real vTPM parts (the Cocos and GCE vectors) with synthetic SNP
 * reports (test/generators/gotpm.ts) — no public go-tpm-tools attestation has a real SNP part.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf'
import { beforeAll, describe, expect, test } from 'vitest'
import { createGotpmVerifier, reportBytesFromProto, type GotpmEvidence } from '../../../src/evidence/gotpm/index.js'
import { toHex } from '../../../src/evidence/reader.js'
import type { CollateralLookup } from '../../../src/evidence/types.js'
import { AttestationSchema } from '../../../src/proto-gen/attest_pb.js'
import { createSnpPki, GEN_NOW, type SnpPki } from '../../generators/snp.js'
import { sevSnpAttestation, withSnp } from '../../generators/gotpm.js'
import { asyncCodeOf } from '../../support/error-code.js'
import { COCOS_PB, cocosTrust, GCE_PB, gceTrust } from './vectors.js'

let pki: SnpPki
beforeAll(async () => {
  pki = await createSnpPki('Milan')
})
const evidence = (pb: Uint8Array): GotpmEvidence => ({ type: 'gotpm', attestation: Buffer.from(pb).toString('base64') })
const verifier = (maxVmpl = 3) => createGotpmVerifier({ snp: { extraPinnedArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }], maxVmpl } })
const verify = (pb: Uint8Array, lookup: CollateralLookup = cocosTrust(), maxVmpl = 3) => {
  const v = verifier(maxVmpl)
  return v.verify(v.schema.parse(evidence(pb)), { now: GEN_NOW, collateral: lookup })
}

describe('go-sev-guest sevsnp.Attestation to report bytes', () => {
  test('the proto re-encodes to exactly the bytes that were signed (v2, v3, v5)', async () => {
    for (const version of [2, 3, 5]) {
      const { proto, raw } = await sevSnpAttestation(pki, { version })
      expect(Buffer.from(reportBytesFromProto(proto.report!)).equals(Buffer.from(raw))).toBe(true)
    }
  })

  test('a field of the wrong size is evidence-malformed', async () => {
    const { proto } = await sevSnpAttestation(pki, {})
    proto.report!.measurement = new Uint8Array(47)
    const { codeOf } = await import('../../support/error-code.js')
    expect(codeOf(() => reportBytesFromProto(proto.report!))).toBe('evidence-malformed')
    proto.report!.measurement = new Uint8Array(48)
    proto.report!.currentMajor = 256
    expect(codeOf(() => reportBytesFromProto(proto.report!))).toBe('evidence-malformed')
  })
})

describe('Cocos: real vTPM part + synthetic SNP report with REPORT_DATA = SHA3-512(nonce ‖ akPub)', () => {
  test('accepted; SNP claims at the snp paths, vTPM claims beside them', async () => {
    const { pb } = await withSnp(COCOS_PB(), pki, 'cocos', { vmpl: 2, measurement: new Uint8Array(48).fill(0xa5) })
    const claims = await verify(pb)
    expect(claims.platform).toBe('amd-sev-snp-vtpm')
    expect(claims.measurement).toBe('a5'.repeat(48))
    expect(toHex(claims.reportData)).toBe('6b4a6e492a6299df233805b240fd664f2c94220a911b7a973d735998865584ac')
    expect(claims.raw).toMatchObject({ tee: 'sev-snp', teeBinding: 'cocos-sha3-512', vmpl: 2, product: 'Milan' })
    expect(claims.measurements['pcr1']).toBe('f47283d20841cac8154dc292368be82e25cfa5cea3411dc0fd9ce419290779cf')
    expect(claims.tcb).toMatchObject({ snp: 8, microcode: 115 })
  })

  test('a report requested at VMPL 2 is refused with the snp verifier default (maximum VMPL 0): policy-violation', async () => {
    const { pb } = await withSnp(COCOS_PB(), pki, 'cocos', { vmpl: 2 })
    expect(await asyncCodeOf(() => verify(pb, cocosTrust(), 0))).toBe('policy-violation')
  })

  test('one changed byte in the TEE report: signature-invalid', async () => {
    const { pb } = await withSnp(COCOS_PB(), pki, 'cocos')
    const a = fromBinary(AttestationSchema, pb)
    if (a.teeAttestation.case !== 'sevSnpAttestation') throw new Error('no SNP part')
    a.teeAttestation.value.report!.measurement[7]! ^= 1
    expect(await asyncCodeOf(() => verify(toBinary(AttestationSchema, a)))).toBe('signature-invalid')
  })

  test('REPORT_DATA that ties neither rule: binding-mismatch', async () => {
    const { pb } = await withSnp(COCOS_PB(), pki, 'none')
    expect(await asyncCodeOf(() => verify(pb))).toBe('binding-mismatch')
  })

  test('REPORT_DATA over another AK (the SHA3-512 names the AK): binding-mismatch', async () => {
    const gce = fromBinary(AttestationSchema, GCE_PB())
    const { pb } = await withSnp(COCOS_PB(), pki, 'cocos')
    const a = fromBinary(AttestationSchema, pb)
    if (a.teeAttestation.case !== 'sevSnpAttestation') throw new Error('no SNP part')
    const other = await withSnp(toBinary(AttestationSchema, { ...a, akPub: gce.akPub }), pki, 'cocos')
    const moved = fromBinary(AttestationSchema, other.pb)
    moved.akPub = a.akPub
    expect(await asyncCodeOf(() => verify(toBinary(AttestationSchema, moved)))).toBe('binding-mismatch')
  })

  test('without the VCEK chain the report cannot be checked: collateral-missing', async () => {
    const { pb } = await withSnp(COCOS_PB(), pki, 'cocos')
    const a = fromBinary(AttestationSchema, pb)
    if (a.teeAttestation.case !== 'sevSnpAttestation') throw new Error('no SNP part')
    a.teeAttestation.value.certificateChain = undefined
    expect(await asyncCodeOf(() => verify(toBinary(AttestationSchema, a)))).toBe('collateral-missing')
  })
})

describe('go-tpm-tools (GCP): REPORT_DATA = the quote nonce, zero-padded', () => {
  test('accepted with the GCE vTPM part', async () => {
    const { pb } = await withSnp(GCE_PB(), pki, 'gotpm')
    const claims = await verify(pb, gceTrust())
    expect(claims.raw).toMatchObject({ teeBinding: 'gotpm-nonce', tee: 'sev-snp' })
    expect(claims.raw['reportData']).toBe(`9009${'00'.repeat(62)}`)
  })

})

describe('go-tpm-tools on GCP TDX: real GCE vTPM part + synthetic TD quote (QuoteV4 proto), REPORTDATA = nonce ‖ zeros', () => {
  test('the proto re-encodes to the quote bytes; the quote verifies with its collateral and ties to the vTPM nonce', async () => {
    const { createTdxPki, makeQuote, quoteFields, defaultCollateral, GEN_NOW: TDX_NOW, GEN_FMSPC } = await import('../../generators/tdx.js')
    const { quoteV4Proto } = await import('../../generators/gotpm.js')
    const { quoteBytesFromProto } = await import('../../../src/evidence/gotpm/index.js')
    const tdx = await createTdxPki()
    const reportData = new Uint8Array(64)
    reportData.set([0x90, 0x09])
    const quote = makeQuote(tdx, quoteFields({ body: { reportData } }))
    const proto = quoteV4Proto(quote)
    expect(Buffer.from(quoteBytesFromProto(proto)).equals(Buffer.from(quote))).toBe(true)

    const a = fromBinary(AttestationSchema, GCE_PB())
    a.teeAttestation = { case: 'tdxAttestation', value: proto }
    const c = defaultCollateral(tdx)
    const base = gceTrust()
    const lookup = {
      get: async (kind: string, key: string) =>
        kind === 'tdx-tcb-info' && key === GEN_FMSPC ? c.tcbInfo : kind === 'tdx-qe-identity' ? c.qeIdentity : kind === 'tdx-tcb-signing-chain' ? c.tcbSigningChain : base.get(kind, key),
    }
    const v = createGotpmVerifier({ tdx: { extraPinnedRoots: [tdx.rootSpkiSha256] } })
    const run = (pb: Uint8Array) => v.verify(v.schema.parse(evidence(pb)), { now: TDX_NOW, collateral: lookup })
    const claims = await run(toBinary(AttestationSchema, a))
    expect(claims.platform).toBe('intel-tdx-vtpm')
    expect(claims.measurement).toBe('7d'.repeat(48))
    expect(claims.raw).toMatchObject({ tee: 'tdx', teeBinding: 'gotpm-nonce', mrTd: '7d'.repeat(48) })

    // One changed byte of the TD quote body: signature-invalid.
    proto.tdQuoteBody!.mrTd[0]! ^= 1
    expect(await asyncCodeOf(() => run(toBinary(AttestationSchema, a)))).toBe('signature-invalid')
    proto.tdQuoteBody!.mrTd[0]! ^= 1
    // REPORTDATA for another nonce: binding-mismatch.
    const other = makeQuote(tdx, quoteFields({ body: { reportData: new Uint8Array(64).fill(1) } }))
    a.teeAttestation = { case: 'tdxAttestation', value: quoteV4Proto(other) }
    expect(await asyncCodeOf(() => run(toBinary(AttestationSchema, a)))).toBe('binding-mismatch')
  })
})
