/**
 * The SEV-SNP settings of the configuration (README, "SEV-SNP"): their value syntax, validated at
 * start. Plain types, so that `src/config` does not depend on `src/evidence`; the service turns
 * them into `SnpVerifyOptions` (`src/services/verifiers.ts`), whose fields they match.
 */
import { z } from 'zod'

export type SnpProductName = 'Milan' | 'Genoa' | 'Turin'

/** Per-component floors for REPORTED_TCB; `fmc` exists on Turin only. */
export interface SnpTcbFloor {
  readonly bootloader?: number
  readonly tee?: number
  readonly snp?: number
  readonly microcode?: number
  readonly fmc?: number
}

export interface SnpFirmwareVersion {
  readonly major: number
  readonly minor: number
  readonly build: number
}

export interface SnpConfig {
  readonly maxVmpl: number
  readonly minTcb: Readonly<Partial<Record<SnpProductName, SnpTcbFloor>>>
  readonly minFirmware: SnpFirmwareVersion | undefined
  readonly requireCrl: boolean
  readonly allowMigrationAgent: boolean
  readonly minReportVersion: number
  /** Product line of v2 reports (they carry no CPUID); undefined: from the endorsement chain. */
  readonly product: SnpProductName | undefined
  /** Fetch missing VCEKs from AMD KDS at request time (off by default). */
  readonly kdsFetch: boolean
  /** Base URL of the KDS (no trailing slash). */
  readonly kdsUrl: string
  readonly kdsTimeoutMs: number
}

const PRODUCTS: Readonly<Record<string, SnpProductName>> = { milan: 'Milan', genoa: 'Genoa', turin: 'Turin' }

export const snpProductSchema = z
  .string()
  .transform((s) => PRODUCTS[s.toLowerCase()])
  .refine((p): p is SnpProductName => p !== undefined, 'must be milan, genoa or turin')

const spl = z.number().int().min(0).max(255)
const floor = z
  .object({ bootloader: spl, tee: spl, snp: spl, microcode: spl, fmc: spl })
  .partial()
  .strict()

/** `{"milan": {"snp": 8, "microcode": 115}, "turin": {"fmc": 1}}`: product names in any case. */
export const snpMinTcbSchema = z
  .string()
  .transform((text, ctx) => {
    try {
      const parsed: unknown = JSON.parse(text)
      return parsed
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object' })
      return z.NEVER
    }
  })
  .pipe(z.record(z.string(), floor))
  .transform((record, ctx) => {
    const out: Partial<Record<SnpProductName, SnpTcbFloor>> = {}
    for (const [name, value] of Object.entries(record)) {
      const product = PRODUCTS[name.toLowerCase()]
      if (product === undefined) {
        ctx.addIssue({ code: 'custom', message: `unknown product "${name}" (milan, genoa, turin)` })
        return z.NEVER
      }
      if (value.fmc !== undefined && product !== 'Turin') {
        ctx.addIssue({ code: 'custom', message: `${name}: fmc exists on Turin only` })
        return z.NEVER
      }
      out[product] = value
    }
    return out
  })

/** `major.minor` or `major.minor.build`, each 0-255 (SEV-SNP firmware API version). */
export const snpFirmwareSchema = z
  .string()
  .regex(/^\d{1,3}\.\d{1,3}(?:\.\d{1,3})?$/, 'must be major.minor or major.minor.build')
  .transform((s) => s.split('.').map(Number))
  .refine((parts) => parts.every((n) => n <= 255), 'each part must be 0-255')
  .transform(([major = 0, minor = 0, build = 0]): SnpFirmwareVersion => ({ major, minor, build }))
