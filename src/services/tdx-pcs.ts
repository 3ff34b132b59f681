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
import { describeError, type Logger } from '../log/logger.js'
import { outgoingTrace, type TraceContext } from '../log/trace-context.js'
import { Backoff, downloadBounded, FetchFailure, FetchNotFound, rememberBounded } from './collateral-http.js'
import type { CollateralFetcher, DirectoryEntry, DirectoryLayout } from './collateral.js'

const FMSPC = /^[0-9a-f]{12}$/
/**
 * Every TDX entry has a `pick` (the whole file) so the collateral service never writes fetched
 * values here: PCS documents expire within weeks, and a stale file, read first, would hide fresh
 * collateral. The directory is the operator's to refresh.
 */
const whole = (file: Uint8Array): Uint8Array => file

/** The TDX part of the cache directory (table above). */
export const TDX_PCS_LAYOUT: DirectoryLayout = {
  locate(kind: string, key: string): DirectoryEntry | undefined {
    switch (kind) {
      case TDX_COLLATERAL_KINDS.tcbInfo:
        return FMSPC.test(key) ? { path: `tdx/certification/v4/tcb?fmspc=${key}`, pick: whole } : undefined
      case TDX_COLLATERAL_KINDS.qeIdentity:
        return key === 'td-qe' ? { path: 'tdx/certification/v4/qe/identity', pick: whole } : undefined
      case TDX_COLLATERAL_KINDS.tcbSigningChain:
        return key === 'intel' ? { path: 'tdx/certification/v4/tcb-info-issuer-chain.pem', pick: whole } : undefined
      case TDX_COLLATERAL_KINDS.pckCrl:
        return key === 'platform' || key === 'processor' ? { path: `sgx/certification/v4/pckcrl?ca=${key}&encoding=der`, pick: whole } : undefined
      case TDX_COLLATERAL_KINDS.rootCaCrl:
        return key === 'intel' ? { path: 'IntelSGXRootCA.der', pick: whole } : undefined
      default:
        return undefined
    }
  },
}

export interface PcsFetcherOptions {
  /** `https://api.trustedservices.intel.com` or a PCCS (`https://pccs.example:8081`), no trailing slash. */
  readonly baseUrl: string
  readonly timeoutMs: number
  /** The service clock (cache lifetimes, back-off deadlines). */
  readonly now: () => Date
  readonly log: Logger
}

/** First back-off after a failure; doubles per consecutive failure up to PCS_BACKOFF_MAX_MS. */
export const PCS_BACKOFF_BASE_MS = 10_000
export const PCS_BACKOFF_MAX_MS = 15 * 60_000
/** How long a fetched value is reused before asking again (PCS documents change at most daily; nextUpdate is ~30 days out). */
export const PCS_CACHE_TTL_MS = 60 * 60_000
/** A 404/400 answer is remembered this long. */
export const PCS_NOT_FOUND_TTL_MS = 10 * 60_000
/** TCB info is a few KiB, PCK CRLs tens; anything beyond this is not collateral. */
export const PCS_MAX_RESPONSE_BYTES = 1024 * 1024
const MAX_REMEMBERED = 256



interface Fetched {
  readonly body: Uint8Array
  readonly issuerChain: string | undefined
}

/** The PCS request of a (kind, key) and the response header holding its issuer chain. */
function pcsRequest(kind: string, key: string): { path: string; chainHeader: string | undefined } | undefined {
  switch (kind) {
    case TDX_COLLATERAL_KINDS.tcbInfo:
      return FMSPC.test(key) ? { path: `/tdx/certification/v4/tcb?fmspc=${key}`, chainHeader: 'tcb-info-issuer-chain' } : undefined
    case TDX_COLLATERAL_KINDS.qeIdentity:
    case TDX_COLLATERAL_KINDS.tcbSigningChain:
      // The QE identity is the smallest document signed by the TCB Signing key: its header gives the chain.
      return key === (kind === TDX_COLLATERAL_KINDS.qeIdentity ? 'td-qe' : 'intel')
        ? { path: '/tdx/certification/v4/qe/identity', chainHeader: 'sgx-enclave-identity-issuer-chain' }
        : undefined
    case TDX_COLLATERAL_KINDS.pckCrl:
      return key === 'platform' || key === 'processor' ? { path: `/sgx/certification/v4/pckcrl?ca=${key}&encoding=der`, chainHeader: undefined } : undefined
    default:
      return undefined
  }
}

/**
 * Fetches TDX collateral from Intel PCS or a PCCS (only when `KEYBROKER_TDX_PCS_FETCH=1`): TCB
 * info by FMSPC, the TD QE identity, the TCB Signing chain (from the response header) and PCK
 * CRLs; not the Root CA CRL (another host: put it in the cache directory or the admin store).
 * Bounded: one request per path at a time, `timeoutMs` each, responses up to
 * PCS_MAX_RESPONSE_BYTES; values are reused for PCS_CACHE_TTL_MS; after a failure (network,
 * timeout, 5xx, 429) no request goes out until the back-off has passed (10 s doubling to 15 min,
 * or `Retry-After`); a 404/400 is remembered for 10 min. Nothing fetched is trusted: the
 * verifier checks every signature, chain and date. Fetched values are not written to the cache
 * directory (they expire; the directory is the operator's).
 */
export function createPcsFetcher(options: PcsFetcherOptions): CollateralFetcher {
  const { log } = options
  const backoff = new Backoff(PCS_BACKOFF_BASE_MS, PCS_BACKOFF_MAX_MS, options.now)
  const cache = new Map<string, { value: Fetched; untilMs: number }>()
  const notFoundUntil = new Map<string, number>()
  const inFlight = new Map<string, Promise<Fetched | undefined>>()

  const remember = <V>(map: Map<string, V>, key: string, value: V): void => rememberBounded(map, key, value, MAX_REMEMBERED)

  const get = async (path: string, chainHeader: string | undefined, trace: TraceContext | undefined): Promise<Fetched | undefined> => {
    const now = options.now().getTime()
    const cached = cache.get(path)
    if (cached !== undefined && now < cached.untilMs) return cached.value
    const waitMs = backoff.remainingMs()
    if (waitMs > 0) {
      log.debug('pcs: backing off', { retryInSeconds: Math.ceil(waitMs / 1000) })
      return undefined
    }
    const negative = notFoundUntil.get(path)
    if (negative !== undefined && now < negative) return undefined
    const call = outgoingTrace(trace)
    try {
      const { body, headers } = await downloadBounded(`${options.baseUrl}${path}`, {
        timeoutMs: options.timeoutMs,
        maxBytes: PCS_MAX_RESPONSE_BYTES,
        accept: 'application/json, application/pkix-crl, application/octet-stream',
        headers: call.headers,
      })
      let issuerChain: string | undefined
      if (chainHeader !== undefined) {
        const header = headers.get(chainHeader)
        if (header === null) throw new FetchFailure(`response lacks the ${chainHeader} header`)
        try {
          issuerChain = decodeURIComponent(header)
        } catch (cause) {
          throw new FetchFailure(`${chainHeader} is not URL-encoded`, undefined, { cause })
        }
      }
      backoff.succeeded()
      const value = { body, issuerChain }
      remember(cache, path, { value, untilMs: options.now().getTime() + PCS_CACHE_TTL_MS })
      log.info('pcs: collateral fetched', { path: path.split('?')[0], bytes: body.byteLength, ...call.log })
      return value
    } catch (err) {
      if (err instanceof FetchNotFound) {
        remember(notFoundUntil, path, now + PCS_NOT_FOUND_TTL_MS)
        log.info('pcs: not found', { path: path.split('?')[0], status: err.status, ...call.log })
        return undefined
      }
      const wait = backoff.failed(err)
      log.warn('pcs: fetch failed', { path: path.split('?')[0], error: describeError(err), retryInSeconds: Math.ceil(wait / 1000), ...call.log })
      return undefined
    }
  }

  return {
    handles: (kind) => kind !== TDX_COLLATERAL_KINDS.rootCaCrl && (Object.values(TDX_COLLATERAL_KINDS) as string[]).includes(kind),
    async fetch(kind, key, trace) {
      const request = pcsRequest(kind, key)
      if (request === undefined) return undefined
      let pending = inFlight.get(request.path)
      if (pending === undefined) {
        pending = get(request.path, request.chainHeader, trace).finally(() => inFlight.delete(request.path))
        inFlight.set(request.path, pending)
      }
      const fetched = await pending
      if (fetched === undefined) return undefined
      if (kind === TDX_COLLATERAL_KINDS.tcbSigningChain) return fetched.issuerChain === undefined ? undefined : new Uint8Array(Buffer.from(fetched.issuerChain, 'utf8'))
      return fetched.body.slice()
    },
  }
}

