/**
 * The collaterals document of Automata's cvm-agent, exactly as `GET /collaterals/{nonce}` (v1,
 * 2025-05) and `GET /offchain/collaterals/{nonce}` (v2, 2025-08 on) return it. Source: the agent
 * API documentation of automata-network/cvm-base-image (renamed automata-linux; history in the
 * fork nuconstruct-ltd/automata-linux, `docs/cvm-agent-api.md` at 1c550df, 05bf969, 8d6e2c2,
 * dfe66c0). The agent itself is closed source; every binary value is standard base64:
 *
 * ```
 * { "sev_snp": { "attestation_report": <1184-byte SNP report>, "vek_cert": <DER VCEK/VLEK> }
 *   | "tdx":   { "attestation_report": <DCAP quote> },
 *   "tpm": { "quote": <TPMS_ATTEST>, "raw_sig": <TPMT_SIGNATURE>,
 *            "pcrs": { "hash": <TPM_ALG_ID>, "pcrs": { "<index>": <digest>, … } },
 *            "ak_cert"?: <DER X.509>, "ak_pub"?: <DER SPKI>, "var_data"?: <Azure HCL runtime claims> },
 *   "magic": <"External/collaterals">, "nonce": <the {nonce} path segment's bytes>,
 *   "uuid"?: <16 bytes, GCP TDX>, "boot_log_tpm"?: <TCG event log>, "boot_log_ccel"?: <CCEL> }
 * ```
 *
 * `pcrs` has the shape of go-tpm-tools' `PCRs` protobuf in protojson form (`hash` a TPM_ALG_ID,
 * keys decimal PCR indices). Members the agent may add later are ignored: nothing outside this
 * list is verified, so nothing else may reach the claims.
 */
import { z } from 'zod'
import { EvidenceError } from '../../errors.js'
import { fromBase64 } from '../reader.js'
import { REPORT_SIZE } from '../snp/report-layout.js'
import { hashByAlg, IMPLEMENTATION_PCR, type TpmHashName } from '../tpm/algorithms.js'
import type { PcrValues } from '../tpm/pcrs.js'

/** Base64 text of at most `bytes` decoded bytes (4/3 of it, rounded up to a quantum). */
const b64 = (bytes: number) => z.string().min(1).max(4 * Math.ceil(bytes / 3))

/** Upper bounds, in decoded bytes: the structures' own limits with room, never the body limit alone. */
export const COLLATERAL_LIMITS = {
  tdxQuote: 96 * 1024,
  certificate: 16 * 1024,
  tpmQuote: 2048,
  tpmSignature: 2048,
  akPublic: 4096,
  /** Azure's HCL runtime claims: the NV index is 2600 bytes in all. */
  varData: 16 * 1024,
  /** `magic ‖ nonce` becomes a TPM2B_DATA (≤ 64 bytes); each alone is at most that. */
  magic: 64,
  nonce: 64,
  uuid: 16,
  bootLogTpm: 8 * 1024 * 1024,
  bootLogCcel: 4 * 1024 * 1024,
} as const

const INDEX = /^(?:[0-9]|1[0-9]|2[0-3])$/

export const collateralsSchema = z.object({
  sev_snp: z.object({ attestation_report: b64(REPORT_SIZE), vek_cert: b64(COLLATERAL_LIMITS.certificate) }).optional(),
  tdx: z.object({ attestation_report: b64(COLLATERAL_LIMITS.tdxQuote) }).optional(),
  tpm: z.object({
    quote: b64(COLLATERAL_LIMITS.tpmQuote),
    raw_sig: b64(COLLATERAL_LIMITS.tpmSignature),
    pcrs: z.object({
      hash: z.number().int().min(0).max(0xffff),
      pcrs: z.record(z.string().max(2), b64(64)),
    }),
    ak_cert: b64(COLLATERAL_LIMITS.certificate).optional(),
    ak_pub: b64(COLLATERAL_LIMITS.akPublic).optional(),
    var_data: b64(COLLATERAL_LIMITS.varData).optional(),
  }),
  magic: b64(COLLATERAL_LIMITS.magic),
  nonce: b64(COLLATERAL_LIMITS.nonce),
  uuid: b64(COLLATERAL_LIMITS.uuid).optional(),
  boot_log_tpm: z.string().max(4 * Math.ceil(COLLATERAL_LIMITS.bootLogTpm / 3)).optional(),
  boot_log_ccel: z.string().max(4 * Math.ceil(COLLATERAL_LIMITS.bootLogCcel / 3)).optional(),
})
export type CollateralsJson = z.infer<typeof collateralsSchema>

/** The TEE half: an SEV-SNP report with its VCEK/VLEK, or a TDX quote. */
export type AutomataTee =
  | { readonly kind: 'snp'; readonly report: Uint8Array; readonly vekCert: Uint8Array }
  | { readonly kind: 'tdx'; readonly quote: Uint8Array }

/** The decoded document: bytes only, every field checked for presence, encoding and size. */
export interface AutomataCollaterals {
  readonly tee: AutomataTee
  readonly tpm: {
    readonly quote: Uint8Array
    readonly rawSig: Uint8Array
    readonly pcrBank: TpmHashName
    readonly pcrs: PcrValues
    readonly akCert: Uint8Array | undefined
    readonly akPub: Uint8Array | undefined
    readonly varData: Uint8Array | undefined
  }
  readonly magic: Uint8Array
  readonly nonce: Uint8Array
  readonly uuid: Uint8Array | undefined
  readonly bootLogTpm: Uint8Array | undefined
  readonly bootLogCcel: Uint8Array | undefined
}

const FIELD = 'collaterals'

/** Decodes one base64 member; an empty optional log is "absent" (the agent sends "" where it has none). */
function bytes(text: string, field: string, max: number): Uint8Array {
  const out = fromBase64(text, `${FIELD}.${field}`)
  if (out.byteLength === 0) throw new EvidenceError('evidence-malformed', `${FIELD}.${field}: empty`)
  if (out.byteLength > max) throw new EvidenceError('evidence-malformed', `${FIELD}.${field}: more than ${max} bytes`)
  return out
}

function optionalBytes(text: string | undefined, field: string, max: number): Uint8Array | undefined {
  return text === undefined || text === '' ? undefined : bytes(text, field, max)
}

/**
 * Decodes a schema-checked collaterals document into bytes. Each failure names its field.
 * @throws `evidence-malformed` (encoding, size, neither or both TEE reports, a CCEL without TDX,
 *   a PCR index or value of the wrong size); `evidence-unsupported` (an unknown PCR bank)
 */
export function decodeCollaterals(c: CollateralsJson): AutomataCollaterals {
  if ((c.sev_snp === undefined) === (c.tdx === undefined)) {
    throw new EvidenceError('evidence-malformed', `${FIELD}: exactly one of sev_snp and tdx is expected`)
  }
  let tee: AutomataTee
  if (c.sev_snp !== undefined) {
    const report = bytes(c.sev_snp.attestation_report, 'sev_snp.attestation_report', REPORT_SIZE)
    if (report.byteLength !== REPORT_SIZE) throw new EvidenceError('evidence-malformed', `${FIELD}.sev_snp.attestation_report: not ${REPORT_SIZE} bytes`)
    tee = { kind: 'snp', report, vekCert: bytes(c.sev_snp.vek_cert, 'sev_snp.vek_cert', COLLATERAL_LIMITS.certificate) }
    if (c.boot_log_ccel !== undefined && c.boot_log_ccel !== '') throw new EvidenceError('evidence-malformed', `${FIELD}.boot_log_ccel: only with tdx`)
  } else {
    tee = { kind: 'tdx', quote: bytes(c.tdx?.attestation_report ?? '', 'tdx.attestation_report', COLLATERAL_LIMITS.tdxQuote) }
  }
  const hash = hashByAlg(c.tpm.pcrs.hash, `${FIELD}.tpm.pcrs.hash`)
  const bank = new Map<number, Uint8Array>()
  for (const [index, value] of Object.entries(c.tpm.pcrs.pcrs)) {
    if (!INDEX.test(index)) throw new EvidenceError('evidence-malformed', `${FIELD}.tpm.pcrs.pcrs: index ${index.slice(0, 8)} is not 0-${IMPLEMENTATION_PCR - 1}`)
    const digest = fromBase64(value, `${FIELD}.tpm.pcrs.pcrs.${index}`)
    if (digest.byteLength !== hash.size) throw new EvidenceError('evidence-malformed', `${FIELD}.tpm.pcrs.pcrs.${index}: not ${hash.size} bytes`)
    bank.set(Number(index), digest)
  }
  if (bank.size === 0) throw new EvidenceError('evidence-malformed', `${FIELD}.tpm.pcrs.pcrs: no PCR value`)
  const uuid = optionalBytes(c.uuid, 'uuid', COLLATERAL_LIMITS.uuid)
  if (uuid !== undefined && uuid.byteLength !== COLLATERAL_LIMITS.uuid) throw new EvidenceError('evidence-malformed', `${FIELD}.uuid: not 16 bytes`)
  return {
    tee,
    tpm: {
      quote: bytes(c.tpm.quote, 'tpm.quote', COLLATERAL_LIMITS.tpmQuote),
      rawSig: bytes(c.tpm.raw_sig, 'tpm.raw_sig', COLLATERAL_LIMITS.tpmSignature),
      pcrBank: hash.name,
      pcrs: new Map([[hash.name, bank]]),
      akCert: optionalBytes(c.tpm.ak_cert, 'tpm.ak_cert', COLLATERAL_LIMITS.certificate),
      akPub: optionalBytes(c.tpm.ak_pub, 'tpm.ak_pub', COLLATERAL_LIMITS.akPublic),
      varData: optionalBytes(c.tpm.var_data, 'tpm.var_data', COLLATERAL_LIMITS.varData),
    },
    magic: bytes(c.magic, 'magic', COLLATERAL_LIMITS.magic),
    nonce: bytes(c.nonce, 'nonce', COLLATERAL_LIMITS.nonce),
    uuid,
    bootLogTpm: optionalBytes(c.boot_log_tpm, 'boot_log_tpm', COLLATERAL_LIMITS.bootLogTpm),
    bootLogCcel: optionalBytes(c.boot_log_ccel, 'boot_log_ccel', COLLATERAL_LIMITS.bootLogCcel),
  }
}
