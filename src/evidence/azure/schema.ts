/**
 * The `az-snp-vtpm` and `az-tdx-vtpm` evidence schemas, without the verifiers: the registry needs
 * them at start (route validation, the API document); the rest loads with the first such evidence.
 */
import { z } from 'zod'

const b64 = (max: number) => z.string().min(1).max(max)
const Pcrs = z.record(z.string().max(16), z.record(z.string().max(2), z.string().max(128)))

/**
 * `evidence` of type `az-snp-vtpm` (README, "Azure confidential VMs"): `hclReport` the HCL report
 * (vTPM NV index 0x01400001, base64), `quote`/`signature` the vTPM quote of keybroker's binding by
 * the AK (TPMS_ATTEST; TPMT_SIGNATURE or the bare RSA signature), `pcrs` the quoted PCR values,
 * `certs`/`crl` the VCEK chain and CRL as for `snp` (else the collateral store), `eventLog`
 * the guest's TCG event log.
 */
export const azSnpVtpmEvidenceSchema = z
  .object({
    type: z.literal('az-snp-vtpm'),
    hclReport: b64(24_000),
    quote: b64(2048),
    signature: b64(2048),
    pcrs: Pcrs,
    certs: z.union([z.string().max(65_536), z.array(z.string().max(16_384)).max(8)]).optional(),
    crl: b64(65_536).optional(),
    eventLog: b64(8 * 1024 * 1024).optional(),
  })
  .strict()
export type AzSnpVtpmEvidence = z.infer<typeof azSnpVtpmEvidenceSchema>

/**
 * `evidence` of type `az-tdx-vtpm`: as `az-snp-vtpm`, with `tdQuote` (the TD quote of the HCL
 * report's TDREPORT, base64) and its `collateral` as for `tdx` (else the collateral store)
 * instead of the VCEK chain.
 */
export const azTdxVtpmEvidenceSchema = z
  .object({
    type: z.literal('az-tdx-vtpm'),
    hclReport: b64(24_000),
    tdQuote: b64(96 * 1024),
    collateral: z
      .object({
        tcbInfo: z.string().min(1).max(256 * 1024).optional(),
        qeIdentity: z.string().min(1).max(64 * 1024).optional(),
        tcbSigningChain: z.string().min(1).max(16 * 1024).optional(),
        pckCrl: z.string().min(1).max(1024 * 1024).optional(),
        rootCaCrl: z.string().min(1).max(64 * 1024).optional(),
      })
      .strict()
      .optional(),
    quote: b64(2048),
    signature: b64(2048),
    pcrs: Pcrs,
    eventLog: b64(8 * 1024 * 1024).optional(),
  })
  .strict()
export type AzTdxVtpmEvidence = z.infer<typeof azTdxVtpmEvidenceSchema>
