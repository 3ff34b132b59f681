import type { z } from 'zod'
import type { BindingProfile } from './binding.js'

/** A JSON value, for the raw claims that policy authors read and tokens carry. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [k: string]: JsonValue }

/**
 * What ties the TEE report of composite evidence (a TEE report and the quote of the VM's vTPM) to
 * that quote, i.e. why the PCRs and the TPM's freshness belong to the attested TEE:
 * - `tee-report-data`: the TEE report's REPORT_DATA commits to the AK (go-tpm-tools/Cocos);
 * - `azure-var-data`: the TEE report vouches for Azure's HCL runtime claims, which hold the AK;
 * - `ak-certificate`: a registered CA (a cloud's vTPM CA, e.g. GCP's) certified the AK;
 * - `registered-ak`: an admin registered (or enrolment proved) the AK;
 * - `none`: nothing does — appraisal makes instance-identity unrecognized, which no default rule accepts.
 */
export type TeeTpmTie = 'tee-report-data' | 'azure-var-data' | 'ak-certificate' | 'registered-ak' | 'none'
export const TEE_TPM_TIES: readonly TeeTpmTie[] = ['tee-report-data', 'azure-var-data', 'ak-certificate', 'registered-ak', 'none']

/**
 * Normalized claims every verifier produces (docs/architecture.md, "Evidence types"). Field names follow
 * the specs; hex strings are lowercase. `raw` holds the type-specific decoded fields for policy
 * authors; it never holds the whole evidence blob.
 */
export interface Claims {
  readonly evidenceType: string
  /** `amd-sev-snp`, `intel-tdx`, `tpm`, `sample`, … */
  readonly platform: string
  /** False only for development evidence (`sample`); the EAR says so. */
  readonly hardwareBacked: boolean
  /** The primary launch measurement (SNP MEASUREMENT, TDX MRTD, …), lowercase hex. */
  readonly measurement: string
  /** Every named measurement the evidence carries (e.g. rtmr0…rtmr3, pcr values), lowercase hex. */
  readonly measurements: Readonly<Record<string, string>>
  /** The caller-chosen data bound into the evidence: 64 bytes (SNP, TDX) or 32 (TPM extraData). */
  readonly reportData: Uint8Array
  readonly debug: boolean
  /** TCB by component (SPL / SVN numbers, or a status string such as `UpToDate`). */
  readonly tcb: Readonly<Record<string, number | string>>
  readonly hostData?: string
  /** Chip / instance identity, hex or an opaque string. */
  readonly instanceId?: string
  readonly raw: Readonly<Record<string, JsonValue>>
  /** Composite evidence only (TEE report + vTPM quote): what ties the two (`TeeTpmTie`). */
  readonly teeTpmTie?: TeeTpmTie
  /**
   * Verified bytes the type's binding profile reads besides `reportData`, by name (e.g. an
   * agent's `magic` and `nonce`, the TEE report data, an AK public area). Never appraised and
   * never put in tokens; only the profile (`EvidenceVerifier.binding`) reads them.
   */
  readonly binding?: Readonly<Record<string, Uint8Array>>
}

/**
 * Collateral that the service looked up for a verifier (admin collateral store, cache
 * directory). The verifier never performs I/O itself; the lookup is injected and may be empty.
 */
export interface CollateralLookup {
  get(kind: string, key: string): Promise<Uint8Array | undefined>
}

export const NO_COLLATERAL: CollateralLookup = { get: async () => undefined }

/** What a verifier gets besides the evidence: time and already-configured trust. */
export interface VerifyContext {
  readonly now: Date
  readonly collateral: CollateralLookup
}

/**
 * One evidence type. `schema` validates the JSON `evidence` object (including its `type`) at
 * the route; `verify` is pure: evidence + context in, claims or a `KeybrokerError` out.
 */
export interface EvidenceVerifier<E = unknown> {
  readonly type: string
  readonly schema: z.ZodType<E>
  verify(evidence: E, ctx: VerifyContext): Promise<Claims>
  /** How the evidence carries the binding value B (src/evidence/binding.ts); checked by the service after `verify`. */
  readonly binding: BindingProfile
  /**
   * Optional, for `keybroker evidence verify --type T FILE`: the wire-form evidence object (to be
   * validated by `schema`) for a file holding the type's main binary field as the hardware gives
   * it (SNP: the raw report), with the files of `--certs`. Pure; throws `evidence-malformed`.
   */
  fromFile?(main: Uint8Array, files: EvidenceFiles): { readonly type: string; readonly [k: string]: unknown }
  /**
   * Present on a verifier whose code loads on first use (src/evidence/registry.ts): resolves to
   * the loaded verifier, `fromFile` included. `schema`, `binding` and `verify` work without it.
   */
  load?(): Promise<EvidenceVerifier<E>>
}

/** Side files given to `EvidenceVerifier.fromFile` (raw bytes, as read). */
export interface EvidenceFiles {
  /** `--certs FILE…`: certificates (PEM, DER) or a certificate table, per the type. */
  readonly certs: readonly Uint8Array[]
}
