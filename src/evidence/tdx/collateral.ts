/**
 * Where the `tdx` verifier finds its collateral, in this order: the evidence's own `collateral`
 * member; then the injected `CollateralLookup` (admin collateral store, cache directory —
 * implemented by the service layer). The first source that has a document wins; a document
 * that fails its checks fails the verification rather than falling back, so a source can never
 * be skipped by sending junk. Nothing is ever fetched from the network at verification time.
 *
 * Collateral lookup keys (`ctx.collateral.get(kind, key)`); values are the bytes Intel PCS
 * (API v4, `https://api.trustedservices.intel.com`) serves, unchanged:
 *
 * | kind                    | key                 | value (PCS request it mirrors)                                                     |
 * |-------------------------|---------------------|-------------------------------------------------------------------------------------|
 * | `tdx-tcb-info`          | FMSPC, 12 lowercase hex digits | body of `GET /tdx/certification/v4/tcb?fmspc={fmspc}` (`{"tcbInfo":…,"signature":…}`) |
 * | `tdx-qe-identity`       | `td-qe`             | body of `GET /tdx/certification/v4/qe/identity` (`{"enclaveIdentity":…,"signature":…}`) |
 * | `tdx-tcb-signing-chain` | `intel`             | PEM: TCB Signing certificate then Intel SGX Root CA, the URL-decoded `TCB-Info-Issuer-Chain` (same as `SGX-Enclave-Identity-Issuer-Chain`) response header |
 * | `tdx-pck-crl`           | `platform` or `processor` | body of `GET /sgx/certification/v4/pckcrl?ca={platform|processor}&encoding=der` (DER; PEM or hex accepted) |
 * | `tdx-root-ca-crl`       | `intel`             | `https://certificates.trustedservices.intel.com/IntelSGXRootCA.der` (DER; PEM or hex accepted) |
 *
 * The PCK certificate chain itself always comes from the quote (certification data type 5).
 * `pcsPath` gives the PCS path of a (kind, key) for a fetcher or a PCS-layout cache directory.
 */
import { EvidenceError } from '../../errors.js'
import type { CollateralLookup } from '../types.js'

export const TDX_COLLATERAL_KINDS = {
  tcbInfo: 'tdx-tcb-info',
  qeIdentity: 'tdx-qe-identity',
  tcbSigningChain: 'tdx-tcb-signing-chain',
  pckCrl: 'tdx-pck-crl',
  rootCaCrl: 'tdx-root-ca-crl',
} as const
export type TdxCollateralKind = (typeof TDX_COLLATERAL_KINDS)[keyof typeof TDX_COLLATERAL_KINDS]

export const QE_IDENTITY_KEY = 'td-qe'
export const TCB_SIGNING_CHAIN_KEY = 'intel'
export const ROOT_CA_CRL_KEY = 'intel'
export type PckCa = 'platform' | 'processor'

/** Collateral key of a TCB info: the FMSPC as 12 lowercase hex digits. */
export function tcbInfoCollateralKey(fmspcHex: string): string {
  return fmspcHex.toLowerCase()
}

/** The PCS path (API v4) a collateral entry mirrors. */
export function pcsPath(kind: TdxCollateralKind, key: string): string {
  switch (kind) {
    case TDX_COLLATERAL_KINDS.tcbInfo:
      return `/tdx/certification/v4/tcb?fmspc=${key}`
    case TDX_COLLATERAL_KINDS.qeIdentity:
      return '/tdx/certification/v4/qe/identity'
    case TDX_COLLATERAL_KINDS.tcbSigningChain:
      return '/tdx/certification/v4/tcb (TCB-Info-Issuer-Chain header)'
    case TDX_COLLATERAL_KINDS.pckCrl:
      return `/sgx/certification/v4/pckcrl?ca=${key}&encoding=der`
    case TDX_COLLATERAL_KINDS.rootCaCrl:
      return 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der'
  }
}

/** Looks a value up, turning a failing lookup into `collateral-missing` with the cause kept for the log. */
export async function lookupTdxCollateral(lookup: CollateralLookup, kind: TdxCollateralKind, key: string): Promise<Uint8Array | undefined> {
  try {
    return await lookup.get(kind, key)
  } catch (cause) {
    throw new EvidenceError('collateral-missing', `collateral lookup ${kind} failed`, { cause })
  }
}
