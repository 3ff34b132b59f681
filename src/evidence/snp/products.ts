import { EvidenceError } from '../../errors.js'

/** The AMD EPYC product lines whose SEV-SNP roots keybroker knows. */
export type SnpProduct = 'Milan' | 'Genoa' | 'Turin'
export const SNP_PRODUCTS: readonly SnpProduct[] = ['Milan', 'Genoa', 'Turin']

export function isSnpProduct(name: string): name is SnpProduct {
  return (SNP_PRODUCTS as readonly string[]).includes(name)
}

/**
 * SPKI SHA-256 (over the DER SubjectPublicKeyInfo) of each product's AMD Root Key. These pins, not
 * the certificate files, are what makes a chain trusted. Computed from the ARK certificates of
 * AMD KDS `https://kdsintf.amd.com/vcek/v1/{product}/cert_chain` (copies in
 * `reference-values/amd/<product>/ark-<product>.pem`; facts also in the vectors' MANIFEST.md,
 * "roots/amd"), and checked against those files by a test.
 */
export const PINNED_ARK_SPKI_SHA256: Readonly<Record<SnpProduct, string>> = {
  // ARK-Milan, serial 0x010000, 2020-10-22 .. 2045-10-22
  Milan: '9f056bee44377e29308cb5ffa895bdfb62d18881fa6bed8d6f075b0204089cb9',
  // ARK-Genoa, serial 0x020000, 2022-01-26 .. 2047-01-26
  Genoa: '429a69c9422aa258ee4d8db5fcda9c6470ef15f8cd5a9cebd6cbc7d90b863831',
  // ARK-Turin, serial 0x030000, 2023-05-15 .. 2048-05-15
  Turin: '4f125410563a2ab9a50356f9243f6fe0b6f73de98603f53f90339c70e9d7ad08',
}

/**
 * Product line from the CPUID family/model a v3+ report carries (CPUID_FAM_ID, CPUID_MOD_ID are
 * the combined "extended + base" values of CPUID Fn0000_0001_EAX). Model ranges per AMD KDS
 * spec 57230, "Determining the Product Name", and the processor programming references:
 * family 19h models 00h-0Fh Milan; 10h-1Fh and A0h-AFh Genoa (incl. Bergamo/Siena, which use the
 * Genoa ARK); family 1Ah models 00h-1Fh Turin. Anything else is `evidence-unsupported`: an
 * unknown product has no pinned root.
 */
export function productFromCpuid(family: number, model: number): SnpProduct {
  if (family === 0x19 && model <= 0x0f) return 'Milan'
  if (family === 0x19 && ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf))) return 'Genoa'
  if (family === 0x1a && model <= 0x1f) return 'Turin'
  throw new EvidenceError(
    'evidence-unsupported',
    `CPUID family 0x${family.toString(16)} model 0x${model.toString(16)} is not a known SEV-SNP product`,
  )
}

/**
 * Size of the hardware id the KDS certifies (VCEK extension hwID, KDS URL path): Turin
 * certifies only the first 8 bytes of CHIP_ID; earlier products the full 64.
 */
export function hwidSize(product: SnpProduct): number {
  return product === 'Turin' ? 8 : 64
}
