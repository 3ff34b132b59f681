/**
 * Where the `snp` verifier finds its certificates and CRL, in this order: the evidence's own
 * `certs`/`crl`; the injected `CollateralLookup` (admin collateral store, KDS-layout cache
 * directory — implemented by the service layer); the built-in AMD ASK/ASVK/ARK
 * (`amd-certs.ts`). The first source that has a role wins; a certificate of the wrong product or
 * key fails the chain rather than falling back, so a source can never be skipped by sending junk.
 *
 * Collateral lookup keys (`ctx.collateral.get(kind, key)`), values DER or PEM bytes:
 *
 * | kind        | key                                   | value (AMD KDS path it mirrors, spec 57230)                      |
 * |-------------|---------------------------------------|------------------------------------------------------------------|
 * | `snp-vcek`  | `${product}/${hwid}/${reportedTcb}`   | VCEK, `/vcek/v1/{product}/{hwid}?blSPL=…&teeSPL=…&snpSPL=…&ucodeSPL=…[&fmcSPL=…]` |
 * | `snp-vlek`  | `${product}/${reportedTcb}`           | VLEK (issued to a cloud provider; not on the public KDS)         |
 * | `snp-ask`   | `${product}`                          | ASK, `/vcek/v1/{product}/cert_chain` (first certificate)         |
 * | `snp-asvk`  | `${product}`                          | ASVK, `/vlek/v1/{product}/cert_chain` (first certificate)        |
 * | `snp-ark`   | `${product}`                          | ARK, `/vcek/v1/{product}/cert_chain` (second certificate)        |
 * | `snp-crl`   | `${product}/vcek` or `${product}/vlek`| CRL (DER) signed by the ARK, `/vcek/v1/{product}/crl`, `/vlek/v1/{product}/crl` |
 *
 * `product` is `Milan`, `Genoa` or `Turin`; `hwid` is lowercase hex of CHIP_ID (all 64 bytes; on
 * Turin its first 8 bytes, as the KDS certifies); `reportedTcb` is REPORTED_TCB as 16 lowercase
 * hex digits of the 64-bit value (`7308000000000003` for bootloader 3, tee 0, snp 8, microcode
 * 115 on Milan). `kdsVcekPath` gives the matching KDS path for a fetcher or cache directory.
 */
import { EvidenceError } from '../../errors.js'
import { toHex } from '../reader.js'
import type { CollateralLookup } from '../types.js'
import { decodePemCertificates } from './cert-table.js'
import { hwidSize, type SnpProduct } from './products.js'
import { decodeTcb, tcbHex } from './tcb.js'

export const SNP_COLLATERAL_KINDS = {
  vcek: 'snp-vcek',
  vlek: 'snp-vlek',
  ask: 'snp-ask',
  asvk: 'snp-asvk',
  ark: 'snp-ark',
  crl: 'snp-crl',
} as const

/** Hex of the hardware id the KDS certifies for `product` (64 bytes, Turin 8). */
export function hwidHex(chipId: Uint8Array, product: SnpProduct): string {
  return toHex(chipId.subarray(0, hwidSize(product)))
}

export function vcekCollateralKey(product: SnpProduct, chipId: Uint8Array, reportedTcb: bigint): string {
  return `${product}/${hwidHex(chipId, product)}/${tcbHex(reportedTcb)}`
}

export function vlekCollateralKey(product: SnpProduct, reportedTcb: bigint): string {
  return `${product}/${tcbHex(reportedTcb)}`
}

export function crlCollateralKey(product: SnpProduct, signingKey: 'vcek' | 'vlek'): string {
  return `${product}/${signingKey}`
}

/** AMD KDS path of the VCEK for a report (KDS spec 57230, "Get VCEK"): for a fetcher or a KDS-layout cache directory. */
export function kdsVcekPath(product: SnpProduct, chipId: Uint8Array, reportedTcb: bigint): string {
  const t = decodeTcb(reportedTcb, product)
  const fmc = t.fmc === undefined ? '' : `&fmcSPL=${t.fmc}`
  return `/vcek/v1/${product}/${hwidHex(chipId, product)}?blSPL=${t.bootloader}&teeSPL=${t.tee}&snpSPL=${t.snp}&ucodeSPL=${t.microcode}${fmc}`
}

/** Collateral values are DER, or PEM text (its first certificate is used). */
export function collateralCertificateDer(value: Uint8Array, what: string): Uint8Array {
  const head = Buffer.from(value.subarray(0, 64)).toString('latin1')
  if (!head.includes('-----BEGIN')) return value
  const [first] = decodePemCertificates(Buffer.from(value).toString('latin1'), what)
  if (first === undefined) throw new EvidenceError('evidence-malformed', `${what}: empty PEM`)
  return first
}

/** Looks a value up, turning a failing lookup into `collateral-missing` with the cause kept for the log. */
export async function lookupCollateral(lookup: CollateralLookup, kind: string, key: string): Promise<Uint8Array | undefined> {
  try {
    return await lookup.get(kind, key)
  } catch (cause) {
    throw new EvidenceError('collateral-missing', `collateral lookup ${kind} failed`, { cause })
  }
}
