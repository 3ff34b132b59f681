/**
 * SEV-SNP collateral in the AMD Key Distribution Service layout (AMD "Versioned Chip Endorsement
 * Key (VCEK) Certificate and KDS Interface Specification", pub. 57230): the cache directory
 * mirrors the KDS URL paths, and the optional fetcher asks the KDS itself for missing VCEKs.
 *
 * Cache directory (`KEYBROKER_COLLATERAL_DIR`): a file's path below the directory is the KDS URL
 * path, query string included — what `curl --create-dirs -o "$DIR$P" "https://kdsintf.amd.com$P"`
 * or `wget -x -nH` writes:
 *
 * | file                                                            | holds                  | kinds                 |
 * |-----------------------------------------------------------------|------------------------|-----------------------|
 * | `vcek/v1/{product}/{hwid}?blSPL=B&teeSPL=T&snpSPL=S&ucodeSPL=U` (Turin: `&fmcSPL=F`) | VCEK, DER | `snp-vcek` |
 * | `vcek/v1/{product}/cert_chain`                                  | PEM: ASK, then ARK     | `snp-ask`, `snp-ark`  |
 * | `vlek/v1/{product}/cert_chain`                                  | PEM: ASVK, then ARK    | `snp-asvk`            |
 * | `vcek/v1/{product}/crl`, `vlek/v1/{product}/crl`                | CRL, DER               | `snp-crl`             |
 *
 * `{product}` is `Milan`, `Genoa` or `Turin`; `{hwid}` lowercase hex of CHIP_ID (Turin: its
 * first 8 bytes), SPLs decimal. VLEKs are not on the public KDS: they come with the evidence or
 * from the admin store.
 */
import { EvidenceError } from '../errors.js'
import {
  decodePemCertificates,
  decodeTcb,
  hwidSize,
  isSnpProduct,
  readEndorsementExtensions,
  SNP_COLLATERAL_KINDS,
  type SnpProduct,
  type TcbParts,
} from '../evidence/snp/index.js'
import { toHex } from '../evidence/reader.js'
import { parseCertificate } from '../evidence/x509-chain.js'
import { describeError, type Logger } from '../log/logger.js'
import { outgoingTrace, type TraceContext } from '../log/trace-context.js'
import { Backoff, downloadBounded, FetchFailure, FetchNotFound, rememberBounded } from './collateral-http.js'
import type { CollateralFetcher, DirectoryEntry, DirectoryLayout } from './collateral.js'

interface VcekKey {
  readonly product: SnpProduct
  readonly hwid: string
  readonly tcb: TcbParts
}

/** Parses a `snp-vcek` key (`${product}/${hwid}/${tcb16hex}`); `undefined` unless well-formed. */
export function parseVcekKey(key: string): VcekKey | undefined {
  const m = /^([A-Za-z]+)\/([0-9a-f]+)\/([0-9a-f]{16})$/.exec(key)
  const [, product, hwid, tcb] = m ?? []
  if (product === undefined || hwid === undefined || tcb === undefined || !isSnpProduct(product)) return undefined
  if (hwid.length !== 2 * hwidSize(product)) return undefined
  return { product, hwid, tcb: decodeTcb(BigInt(`0x${tcb}`), product) }
}

/** The KDS path of a VCEK (spec 57230, "Get VCEK"). */
export function kdsVcekPathFor(k: VcekKey): string {
  const fmc = k.product === 'Turin' ? `&fmcSPL=${k.tcb.fmc ?? 0}` : ''
  return `/vcek/v1/${k.product}/${k.hwid}?blSPL=${k.tcb.bootloader}&teeSPL=${k.tcb.tee}&snpSPL=${k.tcb.snp}&ucodeSPL=${k.tcb.microcode}${fmc}`
}

function nthPemCertificate(n: number): (file: Uint8Array) => Uint8Array | undefined {
  return (file) => {
    try {
      return decodePemCertificates(Buffer.from(file).toString('latin1'), 'cert_chain')[n]
    } catch (err) {
      // A cert_chain file that is not PEM holds nothing usable; the verifier reports the role missing.
      if (err instanceof EvidenceError) return undefined
      throw err
    }
  }
}

/** The SEV-SNP part of the cache directory (table above). */
export const SNP_KDS_LAYOUT: DirectoryLayout = {
  locate(kind: string, key: string): DirectoryEntry | undefined {
    if (kind === SNP_COLLATERAL_KINDS.vcek) {
      const k = parseVcekKey(key)
      return k === undefined ? undefined : { path: kdsVcekPathFor(k).slice(1) }
    }
    if (kind === SNP_COLLATERAL_KINDS.crl) {
      const [product, scope] = key.split('/')
      if (product === undefined || !isSnpProduct(product) || (scope !== 'vcek' && scope !== 'vlek')) return undefined
      return { path: `${scope}/v1/${product}/crl` }
    }
    if (!isSnpProduct(key)) return undefined
    if (kind === SNP_COLLATERAL_KINDS.ask) return { path: `vcek/v1/${key}/cert_chain`, pick: nthPemCertificate(0) }
    if (kind === SNP_COLLATERAL_KINDS.ark) return { path: `vcek/v1/${key}/cert_chain`, pick: nthPemCertificate(1) }
    if (kind === SNP_COLLATERAL_KINDS.asvk) return { path: `vlek/v1/${key}/cert_chain`, pick: nthPemCertificate(0) }
    return undefined
  },
}

export interface KdsFetcherOptions {
  /** e.g. `https://kdsintf.amd.com`, no trailing slash. */
  readonly baseUrl: string
  readonly timeoutMs: number
  /** The service clock (back-off deadlines). */
  readonly now: () => Date
  readonly log: Logger
}

/** First back-off after a failure; doubles per consecutive failure up to BACKOFF_MAX_MS. */
export const KDS_BACKOFF_BASE_MS = 10_000
export const KDS_BACKOFF_MAX_MS = 15 * 60_000
/** How long a 404/400 answer for one VCEK is remembered (the KDS does not know that chip/TCB). */
export const KDS_NOT_FOUND_TTL_MS = 10 * 60_000
/** A VCEK is ~1.3 KiB; anything much larger is not one. */
export const KDS_MAX_RESPONSE_BYTES = 16 * 1024
const MAX_NOT_FOUND_ENTRIES = 1024


/**
 * Fetches missing VCEKs from AMD KDS (only when `KEYBROKER_SNP_KDS_FETCH=1`). Bounded: one
 * request per VCEK at a time, `timeoutMs` per request, responses up to KDS_MAX_RESPONSE_BYTES.
 * After a failure (network, timeout, 5xx, 429, a response that is not the requested VCEK) no
 * request goes out until the back-off has passed (10 s doubling to 15 min, or `Retry-After`); a
 * 404/400 is remembered per VCEK for 10 min. A fetched VCEK is only returned when it is an
 * SEV-VCEK certificate whose hwID and TCB extensions are those asked for; the verifier then
 * checks its chain like any other.
 */
export function createKdsFetcher(options: KdsFetcherOptions): CollateralFetcher {
  const { log } = options
  const backoff = new Backoff(KDS_BACKOFF_BASE_MS, KDS_BACKOFF_MAX_MS, options.now)
  const notFoundUntil = new Map<string, number>()
  const inFlight = new Map<string, Promise<Uint8Array | undefined>>()

  const fetchVcek = async (k: VcekKey, trace: TraceContext | undefined): Promise<Uint8Array | undefined> => {
    const path = kdsVcekPathFor(k)
    const now = options.now().getTime()
    const waitMs = backoff.remainingMs()
    if (waitMs > 0) {
      log.debug('kds: backing off', { product: k.product, retryInSeconds: Math.ceil(waitMs / 1000) })
      return undefined
    }
    const negative = notFoundUntil.get(path)
    if (negative !== undefined && now < negative) return undefined
    const call = outgoingTrace(trace)
    try {
      const { body: der } = await downloadBounded(`${options.baseUrl}${path}`, {
        timeoutMs: options.timeoutMs,
        maxBytes: KDS_MAX_RESPONSE_BYTES,
        accept: 'application/pkix-cert, application/octet-stream',
        headers: call.headers,
      })
      checkIsRequestedVcek(der, k)
      backoff.succeeded()
      log.info('kds: VCEK fetched', { product: k.product, bootloader: k.tcb.bootloader, snp: k.tcb.snp, microcode: k.tcb.microcode, ...call.log })
      return der
    } catch (err) {
      if (err instanceof FetchNotFound) {
        rememberBounded(notFoundUntil, path, now + KDS_NOT_FOUND_TTL_MS, MAX_NOT_FOUND_ENTRIES)
        log.info('kds: no such VCEK', { product: k.product, status: err.status, ...call.log })
        return undefined
      }
      const wait = backoff.failed(err)
      log.warn('kds: VCEK fetch failed', { product: k.product, error: describeError(err), retryInSeconds: Math.ceil(wait / 1000), ...call.log })
      return undefined
    }
  }

  return {
    handles: (kind) => kind === SNP_COLLATERAL_KINDS.vcek,
    fetch(kind, key, trace) {
      const k = kind === SNP_COLLATERAL_KINDS.vcek ? parseVcekKey(key) : undefined
      if (k === undefined) return Promise.resolve(undefined)
      let pending = inFlight.get(key)
      if (pending === undefined) {
        pending = fetchVcek(k, trace).finally(() => inFlight.delete(key))
        inFlight.set(key, pending)
      }
      return pending
    },
  }
}

/** The KDS must answer with the VCEK of exactly this chip and TCB; anything else is a failure. */
function checkIsRequestedVcek(der: Uint8Array, k: VcekKey): void {
  let ok = false
  try {
    const cert = parseCertificate(der, 'KDS VCEK')
    const ext = readEndorsementExtensions(cert, hwidSize(k.product))
    ok =
      cert.subjectCommonName === 'SEV-VCEK' &&
      ext.hwId !== undefined &&
      toHex(ext.hwId) === k.hwid &&
      ext.bootloader === k.tcb.bootloader &&
      ext.tee === k.tcb.tee &&
      ext.snp === k.tcb.snp &&
      ext.microcode === k.tcb.microcode &&
      (k.product !== 'Turin' || ext.fmc === k.tcb.fmc)
  } catch (cause) {
    throw new FetchFailure('response is not a VCEK', undefined, { cause })
  }
  if (!ok) throw new FetchFailure('response is not the requested VCEK')
}
