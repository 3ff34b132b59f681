/**
 * Intel TDX collateral in the Intel PCS layout (Provisioning Certification Service API v4,
 * `https://api.trustedservices.intel.com`): the cache directory mirrors the PCS URL paths, query
 * string included — what `curl --create-dirs -o "$DIR$P" "https://api.trustedservices.intel.com$P"`
 * writes. The TCB Signing chain is the (URL-decoded) `TCB-Info-Issuer-Chain` response header,
 * kept in a file of its own beside the TCB info.
 *
 * | file                                                   | holds                                   | kind (key)                              |
 * |--------------------------------------------------------|-----------------------------------------|-----------------------------------------|
 * | `tdx/certification/v4/tcb?fmspc={fmspc}`               | TCB info JSON, as served                | `tdx-tcb-info` (fmspc, 12 lowercase hex)|
 * | `tdx/certification/v4/qe/identity`                     | TD QE identity JSON, as served          | `tdx-qe-identity` (`td-qe`)             |
 * | `tdx/certification/v4/tcb-info-issuer-chain.pem`       | PEM: TCB Signing certificate, root CA   | `tdx-tcb-signing-chain` (`intel`)       |
 * | `sgx/certification/v4/pckcrl?ca={platform|processor}&encoding=der` | PCK CRL, DER                | `tdx-pck-crl` (`platform`, `processor`) |
 * | `IntelSGXRootCA.der`                                   | Root CA CRL, DER (from certificates.trustedservices.intel.com) | `tdx-root-ca-crl` (`intel`) |
 *
 * Nothing here judges a file: the verifier checks every signature and validity window.
 */
import { TDX_COLLATERAL_KINDS } from '../evidence/tdx/index.js'
import type { DirectoryEntry, DirectoryLayout } from './collateral.js'

const FMSPC = /^[0-9a-f]{12}$/

/** The TDX part of the cache directory (table above). */
export const TDX_PCS_LAYOUT: DirectoryLayout = {
  locate(kind: string, key: string): DirectoryEntry | undefined {
    switch (kind) {
      case TDX_COLLATERAL_KINDS.tcbInfo:
        return FMSPC.test(key) ? { path: `tdx/certification/v4/tcb?fmspc=${key}` } : undefined
      case TDX_COLLATERAL_KINDS.qeIdentity:
        return key === 'td-qe' ? { path: 'tdx/certification/v4/qe/identity' } : undefined
      case TDX_COLLATERAL_KINDS.tcbSigningChain:
        return key === 'intel' ? { path: 'tdx/certification/v4/tcb-info-issuer-chain.pem' } : undefined
      case TDX_COLLATERAL_KINDS.pckCrl:
        return key === 'platform' || key === 'processor' ? { path: `sgx/certification/v4/pckcrl?ca=${key}&encoding=der` } : undefined
      case TDX_COLLATERAL_KINDS.rootCaCrl:
        return key === 'intel' ? { path: 'IntelSGXRootCA.der' } : undefined
      default:
        return undefined
    }
  },
}
