/**
 * Synthetic go-tpm-tools attestations for tests: an `Attestation` whose vTPM part is real (the
 * Cocos or GCE vector) or synthetic (`test/generators/tpm.ts`), with a synthetic SEV-SNP part from
 * `test/generators/snp.ts` in go-sev-guest's proto form. No public go-tpm-tools attestation carries
 * a real SNP part (see test/vectors/gotpm/README.md).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { AttestationSchema, type Attestation } from '../../src/proto-gen/attest_pb.js'
import { AttestationSchema as SevSnpAttestationSchema, CertificateChainSchema, ReportSchema, SevProductSchema, SevProduct_SevProductName, type Attestation as SevSnpAttestation } from '../../src/proto-gen/sevsnp_pb.js'
import { REPORT } from '../../src/evidence/snp/report-layout.js'
import { cocosReportData, teeNonceOf } from '../../src/evidence/gotpm/tee-binding.js'
import { encodeReport, issueEndorsement, reportFields, signReport, type ReportFields, type SnpPki } from './snp.js'
import { SIGNER_INFO } from '../../src/evidence/snp/report-layout.js'
import { encodeTcb, type TcbParts } from '../../src/evidence/snp/tcb.js'
import { HEADER, HEADER_SIZE, QE_REPORT_SIZE, TD_REPORT, TD_REPORT10_SIZE } from '../../src/evidence/tdx/quote/layout.js'
import {
  CertificationDataSchema,
  Ecdsa256BitQuoteV4AuthDataSchema,
  EnclaveReportSchema,
  HeaderSchema,
  PCKCertificateChainDataSchema,
  QEReportCertificationDataSchema,
  QeAuthDataSchema,
  QuoteV4Schema,
  TDQuoteBodySchema,
} from '../../src/proto-gen/tdx_pb.js'
import type { KeyObject } from 'node:crypto'
import { HashAlgo, PCRsSchema, QuoteSchema } from '../../src/proto-gen/tpm_pb.js'
import { encodePublic, encodeQuote, quoteFields, signQuote, type PcrValueMap } from './tpm.js'

/** go-sev-guest `FmsToCpuid1Eax`. */
export function fmsToCpuid1Eax(family: number, model: number, stepping: number): number {
  const extendedFamily = family >= 0xf ? family - 0xf : 0
  const familyId = family >= 0xf ? 0xf : family
  return (extendedFamily << 20) | ((model >> 4) << 16) | (familyId << 8) | ((model & 0xf) << 4) | (stepping & 0xf)
}

/** The proto `Report` of report fields, with the signature of the raw report `signed`. */
export function reportProto(f: ReportFields, signed: Uint8Array) {
  return create(ReportSchema, {
    version: f.version,
    guestSvn: f.guestSvn,
    policy: f.policy,
    familyId: f.familyId,
    imageId: f.imageId,
    vmpl: f.vmpl,
    signatureAlgo: f.signatureAlgo,
    currentTcb: f.currentTcb,
    platformInfo: f.platformInfo,
    signerInfo: (f.authorKeyEn ? 1 << SIGNER_INFO.authorKeyEnBit : 0) | (f.maskChipKey ? 1 << SIGNER_INFO.maskChipKeyBit : 0) | (f.signingKey << SIGNER_INFO.signingKeyShift),
    reportData: f.reportData,
    measurement: f.measurement,
    hostData: f.hostData,
    idKeyDigest: f.idKeyDigest,
    authorKeyDigest: f.authorKeyDigest,
    reportId: f.reportId,
    reportIdMa: f.reportIdMa,
    reportedTcb: f.reportedTcb,
    chipId: f.chipId,
    committedTcb: f.committedTcb,
    currentBuild: f.currentVersion.build,
    currentMinor: f.currentVersion.minor,
    currentMajor: f.currentVersion.major,
    committedBuild: f.committedVersion.build,
    committedMinor: f.committedVersion.minor,
    committedMajor: f.committedVersion.major,
    launchTcb: f.launchTcb,
    signature: signed.slice(REPORT.signature.at),
    cpuid1eaxFms: f.cpuid === undefined ? 0 : fmsToCpuid1Eax(f.cpuid.family, f.cpuid.model, f.cpuid.stepping),
    launchMitVector: f.launchMitVector ?? 0n,
    currentMitVector: f.currentMitVector ?? 0n,
  })
}

const PRODUCT = { Milan: SevProduct_SevProductName.SEV_PRODUCT_MILAN, Genoa: SevProduct_SevProductName.SEV_PRODUCT_GENOA, Turin: SevProduct_SevProductName.SEV_PRODUCT_TURIN } as const

/** A signed synthetic report as go-sev-guest's `sevsnp.Attestation`, with the PKI's VCEK, ASK and ARK. */
export async function sevSnpAttestation(pki: SnpPki, overrides: Partial<ReportFields>, vcek?: Uint8Array): Promise<{ proto: SevSnpAttestation; raw: Uint8Array }> {
  const fields = reportFields(pki.product, overrides)
  const raw = signReport(encodeReport(fields), pki.leafPrivateKey)
  const proto = create(SevSnpAttestationSchema, {
    report: reportProto(fields, raw),
    certificateChain: create(CertificateChainSchema, { vcekCert: vcek ?? (await issueEndorsement(pki)), askCert: pki.ask.der, arkCert: pki.ark.der }),
    product: create(SevProductSchema, { name: PRODUCT[pki.product] }),
  })
  return { proto, raw }
}

export type TieRule = 'cocos' | 'gotpm' | 'none'

/** REPORT_DATA for `rule` over the vTPM part of `vtpm`. */
export function tieReportData(vtpm: Attestation, rule: TieRule): Uint8Array {
  const nonce = fromBinary(AttestationSchema, toBinary(AttestationSchema, vtpm)).quotes[0]!.quote
  // extraData: TPMS_ATTEST magic(4) type(2) qualifiedSigner(TPM2B) extraData(TPM2B)
  const view = Buffer.from(nonce)
  const signerSize = view.readUInt16BE(6)
  const at = 8 + signerSize
  const extraData = new Uint8Array(view.subarray(at + 2, at + 2 + view.readUInt16BE(at)))
  if (rule === 'cocos') return cocosReportData(teeNonceOf(extraData), vtpm.akPub)
  if (rule === 'gotpm') return teeNonceOf(extraData)
  return new Uint8Array(64).fill(0x77)
}

/** The vTPM attestation `pb` with a synthetic SNP part tied by `rule`. */
export async function withSnp(pb: Uint8Array, pki: SnpPki, rule: TieRule, overrides: Partial<ReportFields> = {}): Promise<{ pb: Uint8Array; raw: Uint8Array }> {
  const a = fromBinary(AttestationSchema, pb)
  const { proto, raw } = await sevSnpAttestation(pki, { reportData: tieReportData(a, rule), ...overrides })
  a.teeAttestation = { case: 'sevSnpAttestation', value: proto }
  return { pb: toBinary(AttestationSchema, a), raw }
}

// --- synthetic vTPM part -----------------------------------------------------------------------

export interface VtpmInput {
  readonly ak: { readonly privateKey: KeyObject; readonly publicKey: KeyObject }
  readonly nonce: Uint8Array
  /** PCR values (hex) per bank; every other PCR 0-23 is zero. */
  readonly pcrs?: { readonly sha256?: Readonly<Record<string, string>>; readonly sha384?: Readonly<Record<string, string>> }
}

/** An `Attestation` with one quote per bank (SHA-256, SHA-384) of PCRs 0-23 over `nonce`, signed RSASSA-SHA256 by the AK. */
export function syntheticVtpm(input: VtpmInput): Attestation {
  const quotes = (['sha256', 'sha384'] as const).map((bank) => {
    const size = bank === 'sha256' ? 32 : 48
    const values: Record<number, Uint8Array> = {}
    for (let i = 0; i < 24; i++) values[i] = new Uint8Array(Buffer.from(input.pcrs?.[bank]?.[String(i)] ?? '00'.repeat(size), 'hex'))
    const banks = [{ bank, pcrs: [...Array(24).keys()] }]
    const map: PcrValueMap = { [bank]: values }
    const quote = encodeQuote(quoteFields({ extraData: input.nonce, banks }), map, 'sha256')
    return create(QuoteSchema, {
      quote,
      rawSig: signQuote(quote, input.ak.privateKey, 'rsassa', 'sha256'),
      pcrs: create(PCRsSchema, { hash: bank === 'sha256' ? HashAlgo.SHA256 : HashAlgo.SHA384, pcrs: values }),
    })
  })
  return create(AttestationSchema, { akPub: encodePublic(input.ak.publicKey), quotes })
}

/** `syntheticVtpm` plus an SNP part whose REPORT_DATA is Cocos' SHA3-512(pad64(nonce) ‖ akPub). */
export async function cocosAttestation(pki: SnpPki, vtpm: VtpmInput, fields: Partial<ReportFields>, vcek: Uint8Array): Promise<Uint8Array> {
  const a = syntheticVtpm(vtpm)
  const { proto } = await sevSnpAttestation(pki, { reportData: cocosReportData(teeNonceOf(vtpm.nonce), a.akPub), ...fields }, vcek)
  a.teeAttestation = { case: 'sevSnpAttestation', value: proto }
  return toBinary(AttestationSchema, a)
}

// --- synthetic TDX part ------------------------------------------------------------------------

/**
 * A DCAP v4 quote (TDX 1.0 body, type-6 certification data) as go-tdx-guest's `QuoteV4` proto,
 * sliced through the parser's layout tables (the inverse of `quoteBytesFromProto`).
 */
export function quoteV4Proto(quote: Uint8Array) {
  const u16 = (at: number) => quote[at]! | (quote[at + 1]! << 8)
  const u32 = (at: number) => new DataView(quote.buffer, quote.byteOffset).getUint32(at, true)
  const cut = (at: number, size: number) => quote.slice(at, at + size)
  const body = (f: { at: number; size: number }) => cut(HEADER_SIZE + f.at, f.size)
  const sigAt = HEADER_SIZE + TD_REPORT10_SIZE
  const signedDataSize = u32(sigAt)
  const sd = sigAt + 4
  const cdType = u16(sd + 128)
  const cdSize = u32(sd + 130)
  const qe = sd + 134
  const rep = (at: number, size: number) => cut(qe + at, size)
  const authSize = u16(qe + QE_REPORT_SIZE + 64)
  const pckAt = qe + QE_REPORT_SIZE + 64 + 2 + authSize
  const pckSize = u32(pckAt + 2)
  return create(QuoteV4Schema, {
    header: create(HeaderSchema, {
      version: u16(HEADER.version.at),
      attestationKeyType: u16(HEADER.attestationKeyType.at),
      teeType: u32(HEADER.teeType.at),
      qeSvn: cut(8, 2),
      pceSvn: cut(10, 2),
      qeVendorId: cut(HEADER.qeVendorId.at, 16),
      userData: cut(HEADER.userData.at, 20),
    }),
    tdQuoteBody: create(TDQuoteBodySchema, {
      teeTcbSvn: body(TD_REPORT.teeTcbSvn),
      mrSeam: body(TD_REPORT.mrSeam),
      mrSignerSeam: body(TD_REPORT.mrSignerSeam),
      seamAttributes: body(TD_REPORT.seamAttributes),
      tdAttributes: body(TD_REPORT.tdAttributes),
      xfam: body(TD_REPORT.xfam),
      mrTd: body(TD_REPORT.mrTd),
      mrConfigId: body(TD_REPORT.mrConfigId),
      mrOwner: body(TD_REPORT.mrOwner),
      mrOwnerConfig: body(TD_REPORT.mrOwnerConfig),
      rtmrs: [body(TD_REPORT.rtmr0), body(TD_REPORT.rtmr1), body(TD_REPORT.rtmr2), body(TD_REPORT.rtmr3)],
      reportData: body(TD_REPORT.reportData),
    }),
    signedDataSize,
    signedData: create(Ecdsa256BitQuoteV4AuthDataSchema, {
      signature: cut(sd, 64),
      ecdsaAttestationKey: cut(sd + 64, 64),
      certificationData: create(CertificationDataSchema, {
        certificateDataType: cdType,
        size: cdSize,
        qeReportCertificationData: create(QEReportCertificationDataSchema, {
          qeReport: create(EnclaveReportSchema, {
            cpuSvn: rep(0, 16),
            miscSelect: u32(qe + 16),
            reserved1: rep(20, 28),
            attributes: rep(48, 16),
            mrEnclave: rep(64, 32),
            reserved2: rep(96, 32),
            mrSigner: rep(128, 32),
            reserved3: rep(160, 96),
            isvProdId: u16(qe + 256),
            isvSvn: u16(qe + 258),
            reserved4: rep(260, 60),
            reportData: rep(320, 64),
          }),
          qeReportSignature: cut(qe + QE_REPORT_SIZE, 64),
          qeAuthData: create(QeAuthDataSchema, { parsedDataSize: authSize, data: cut(qe + QE_REPORT_SIZE + 66, authSize) }),
          pckCertificateChainData: create(PCKCertificateChainDataSchema, { certificateDataType: u16(pckAt), size: pckSize, pckCertChain: cut(pckAt + 6, pckSize) }),
        }),
      }),
    }),
    extraBytes: quote.slice(sd + signedDataSize),
  })
}

// --- report fields matching the Cocos SEV-SNP policy (test/vectors/cocos/attestation_policy.json) ---

/** The TCB the Cocos policy's minimum_tcb and minimum_launch_tcb name (0xd50e000000000003, Milan). */
export const COCOS_TCB: TcbParts = { bootloader: 3, tee: 0, snp: 14, microcode: 213 }

/** Report fields that satisfy every expectation the Cocos policy maps to (its `policy` member, base64 bytes). */
export function cocosPolicyFields(policy: { readonly measurement: string; readonly chipId: string }): Partial<ReportFields> {
  const tcb = encodeTcb(COCOS_TCB, 'Milan')
  return {
    measurement: new Uint8Array(Buffer.from(policy.measurement, 'base64')),
    chipId: new Uint8Array(Buffer.from(policy.chipId, 'base64')),
    familyId: new Uint8Array(16),
    imageId: new Uint8Array(16),
    hostData: new Uint8Array(32),
    reportIdMa: new Uint8Array(32).fill(0xff),
    vmpl: 2,
    currentTcb: tcb,
    reportedTcb: tcb,
    committedTcb: tcb,
    launchTcb: tcb,
    currentVersion: { major: 1, minor: 55, build: 8 },
    committedVersion: { major: 1, minor: 55, build: 8 },
  }
}
