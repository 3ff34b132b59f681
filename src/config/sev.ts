/**
 * The SEV (pre-SNP) guest-owner settings of the configuration (README, "AMD SEV guest owner"):
 * plain types, so that `src/config` does not depend on `src/sev`; the service maps the product
 * names to the built-in roots (`src/services/services.ts`).
 */
import { z } from 'zod'

export type SevProductName = 'Naples' | 'Rome' | 'Milan' | 'Genoa' | 'Turin'

export interface SevConfig {
  /** Products whose AMD roots may sign a platform chain. */
  readonly products: readonly SevProductName[]
  /** Lifetime of a launch session's state token, from session to secret injection. */
  readonly stateTtlSeconds: number
}

const PRODUCTS: Readonly<Record<string, SevProductName>> = { naples: 'Naples', rome: 'Rome', milan: 'Milan', genoa: 'Genoa', turin: 'Turin' }

/** `naples,rome,milan`: product names in any case, comma-separated, at least one. */
export const sevProductsSchema = z
  .string()
  .transform((text) => text.split(',').map((s) => s.trim()).filter((s) => s !== ''))
  .refine((names) => names.length > 0 && names.every((n) => PRODUCTS[n.toLowerCase()] !== undefined), 'must list naples, rome, milan, genoa or turin, comma-separated')
  .transform((names) => [...new Set(names.map((n) => PRODUCTS[n.toLowerCase()]!))])
