import { join } from 'node:path'
import type { Config } from '../config/config.js'
import type { VerifierRegistry } from '../evidence/index.js'
import type { PinnedArk } from '../evidence/snp/index.js'
import type { KeybrokerError } from '../errors.js'
import { describeError, type Logger } from '../log/logger.js'
import { createMetrics, type Metrics } from '../metrics/metrics.js'
import type { KekRing } from '../secrets/index.js'
import { connectDatabase, openDatabase, type Database } from '../storage/index.js'
import { createNonceService, loadOrCreateSigningKeys, type KeySet, type NonceService } from '../tokens/index.js'
import type { AuditKey } from '../audit/index.js'
import { DeferredAuditKey, loadAuditKey, prepareAuditChain } from './audit-key.js'
import { AuditWriter } from './audit-writer.js'
import { RefusalAudit } from './refusal-audit.js'
import { Readiness } from './readiness.js'
import { createCollateralService, type CollateralFetcher, type CollateralService } from './collateral.js'
import { checkEnvelopeKeks } from './envelope-store.js'
import { loadKekRing } from './kek-ring.js'
import { deriveNonceKey } from './nonce-key.js'
import { ReleaseData } from './release-data.js'
import { createKdsFetcher, SNP_KDS_LAYOUT } from './snp-kds.js'
import { createPcsFetcher, TDX_PCS_LAYOUT } from './tdx-pcs.js'
import { TPM_DIRECTORY_LAYOUT } from './tpm-trust.js'
import { createVerifiers, type TestTrustAnchors } from './verifiers.js'
import { builtinSevRoots, type SevRoot } from '../sev/index.js'
import { StartupTimings } from './startup-timings.js'

/**
 * What the HTTP layer and the CLI call into: configuration, the database, the keys. Built once
 * at start; nothing in it depends on an earlier request (the service is stateless) except
 * `releaseData`, copies that a request uses only when the database says they are current.
 */
export interface Services {
  readonly config: Config
  readonly database: Database
  readonly keys: KeySet
  readonly nonces: NonceService
  readonly keks: KekRing
  /** The key of the audit chain's HMAC (src/services/audit-key.ts). */
  readonly auditKey: AuditKey
  readonly log: Logger
  /** Whether the database can be used now: drives `/readyz` and 503 `not-ready` answers. */
  readonly readiness: Readiness
  /** Audit entries of attestations and releases (group commit). */
  readonly audit: AuditWriter
  /** Refused attestations, audited with a bounded volume (stop it at shutdown: it flushes). */
  readonly refusals: RefusalAudit
  /** This replica's copies of the release data, valid for one release generation (release-data.ts). */
  readonly releaseData: ReleaseData
  /** The clock; tests pass a fixed one to step over expiry bounds. */
  readonly now: () => Date
  /** The evidence verifiers with their options from the configuration, built once. */
  readonly verifiers: VerifierRegistry
  /** Collateral for verifiers: cache directory → admin store → opt-in fetchers. */
  readonly collateral: CollateralService
  /** ARKs pinned beside AMD's: empty except in tests (`CreateServicesOptions.testTrustAnchors`). */
  readonly snpExtraPinnedArks: readonly PinnedArk[]
  /** Intel SGX root CAs (SPKI SHA-256) pinned beside Intel's: empty except in tests (`testTrustAnchors.tdxRoots`). */
  readonly tdxExtraPinnedRoots: readonly string[]
  /** Intel TCB Signing keys (SPKI SHA-256) trusted beyond their certificate's validity (`KEYBROKER_TDX_PINNED_TCB_SIGNING_KEYS`): the collateral upload honours them as verification does. */
  readonly tdxPinnedTcbSigningKeys: readonly string[]
  /** The SEV (pre-SNP) roots of the configured products (ARKs pinned), plus test roots in tests. */
  readonly sevRoots: readonly SevRoot[]
  /** The Prometheus series of this instance (served by `KEYBROKER_METRICS_LISTEN`). */
  readonly metrics: Metrics
}

export interface CreateServicesOptions {
  readonly now?: () => Date
  /** An already-open database (tests); otherwise opened from the configuration and migrated. */
  readonly database?: Database
  /** Synthetic roots for tests only; never set from configuration (see `TestTrustAnchors`). */
  readonly testTrustAnchors?: TestTrustAnchors
  /**
   * Do not wait for the database: connect lazily and leave `readiness` in `starting`; the caller
   * runs `readiness.waitForDatabase()` (ping and migrations, retried) while it already listens.
   */
  readonly deferDatabase?: boolean
  /**
   * Runs after the database steps and before `readiness` turns ready (a cluster worker waits
   * there until every worker of the group is ready, so that they turn ready together).
   */
  readonly beforeReady?: () => Promise<void>
  /** Records the phases (keys, database, audit key) for the `started` log line of `serve`. */
  readonly timings?: StartupTimings
}

/** The KEK ring and token keys of the configuration (the CLI's commands load them alike). */
export async function loadConfiguredKeys(config: Config): Promise<{ keks: KekRing; keys: KeySet }> {
  const keyDir = join(config.dataDir, 'keys')
  const keks = await loadKekRing(config)
  const keys = await loadOrCreateSigningKeys(keyDir, config.tokenAlg, config.tokenKeyFile, config.tokenPreviousKeysFile)
  return { keks, keys }
}

/**
 * The audit key of `database`, with the chain re-keyed if it was written before the key existed:
 * what `serve` and every CLI command that appends to or verifies the log need.
 */
export async function openAuditKey(database: Database, keks: KekRing, now: Date, log?: Logger): Promise<AuditKey> {
  const auditKey = await loadAuditKey(database, keks, now)
  const rekeyed = await prepareAuditChain(database, auditKey, now)
  if (rekeyed.status === 'rekeyed' && rekeyed.entries > 0) log?.warn('audit log re-keyed (HMAC under the audit key)', { entries: rekeyed.entries })
  return auditKey
}

/**
 * The most one database statement of the service may take (PostgreSQL; README "Database faults").
 * Requests read and write a few rows by key; an answer this late means a lock held elsewhere or a
 * server that went silent, and the request is better answered 503 `not-ready` than kept waiting.
 */
export const DATABASE_QUERY_TIMEOUT_MS = 5_000

/**
 * Opens the database (migrating it) and loads or creates the keys in the data directory.
 * With `deferDatabase`, the steps that need the database (the KEK check, the audit key) run in
 * `readiness.waitForDatabase()` instead.
 * @throws ConfigError when a stored envelope is sealed under a KEK that is not configured
 *   (the database is closed again unless the caller passed it in)
 */
export async function createServices(config: Config, log: Logger, options: CreateServicesOptions = {}): Promise<Services> {
  const timings = options.timings ?? new StartupTimings()
  const { keks, keys } = await timings.time('keys', () => loadConfiguredKeys(config))
  // Set once the Readiness exists; a connection error before that has no state to change.
  let onConnectionError: () => void = () => {}
  const databaseOptions = {
    databaseUrl: config.databaseUrl,
    dataDir: join(config.dataDir, 'pglite'),
    // A database fault must not hang a request: no statement of the service waits longer.
    queryTimeoutMs: DATABASE_QUERY_TIMEOUT_MS,
    onBackgroundError: (err: KeybrokerError) => {
      log.warn('database connection error', { code: err.code, detail: err.detail, error: describeError(err.cause) })
      onConnectionError()
    },
  }
  const deferred = options.database === undefined && options.deferDatabase === true
  const database =
    options.database ??
    (await timings.time('database', () => (deferred ? connectDatabase(databaseOptions) : openDatabase({ ...databaseOptions, migrate: true }))))
  if (config.production && database.engine === 'pglite') {
    log.warn('production mode on the embedded database (PGlite): a single-node setup, one process, no replicas; use PostgreSQL (DATABASE_URL) to run several')
  }
  const now = options.now ?? (() => new Date())
  const metrics = createMetrics()
  metrics.watchPool(() => database.poolStats?.())
  const auditKey = new DeferredAuditKey()
  const databaseSteps = async (): Promise<void> => {
    await checkEnvelopeKeks({ database, keks })
    auditKey.set(await openAuditKey(database, keks, now(), log))
  }
  if (!deferred) {
    try {
      await timings.time('auditKey', databaseSteps)
    } catch (err) {
      if (options.database === undefined) await database.close()
      throw err
    }
  }
  const readiness = new Readiness(database, log, deferred ? 'starting' : 'ready', {
    onDatabaseReady: async () => {
      await databaseSteps()
      await options.beforeReady?.()
    },
  })
  onConnectionError = () => readiness.reportUnavailable()
  const audit = new AuditWriter(database, auditKey)
  const fetchers: CollateralFetcher[] = []
  if (config.snp.kdsFetch) {
    fetchers.push(countedFetcher('amd-kds', createKdsFetcher({ baseUrl: config.snp.kdsUrl, timeoutMs: config.snp.kdsTimeoutMs, now, log }), metrics))
  }
  if (config.tdx.pcsFetch) {
    fetchers.push(countedFetcher('intel-pcs', createPcsFetcher({ baseUrl: config.tdx.pcsUrl, timeoutMs: config.tdx.pcsTimeoutMs, now, log }), metrics))
  }
  log.info('services ready', {
    database: database.engine,
    tokenKid: keys.current.kid,
    kekId: keks.current.id,
    previousKekIds: keks.ids().slice(1),
    collateralDir: config.collateralDir,
    snpKdsFetch: config.snp.kdsFetch,
  })
  return {
    config,
    database,
    keys,
    nonces: createNonceService({
      key: deriveNonceKey(keks.current),
      previousKeys: keks.ids().slice(1).flatMap((id) => {
        const kek = keks.get(id)
        return kek === undefined ? [] : [deriveNonceKey(kek)]
      }),
      ttlSeconds: config.nonceTtlSeconds,
    }),
    keks,
    log,
    readiness,
    auditKey,
    audit,
    refusals: new RefusalAudit({ writer: audit, windowSeconds: config.audit.refusalWindowSeconds, now, log }),
    releaseData: new ReleaseData(),
    now,
    verifiers: createVerifiers(config, options.testTrustAnchors, true),
    collateral: createCollateralService({ directory: config.collateralDir, layouts: [SNP_KDS_LAYOUT, TDX_PCS_LAYOUT, TPM_DIRECTORY_LAYOUT], db: database.db, fetchers, log, now }),
    snpExtraPinnedArks: options.testTrustAnchors?.snpArks ?? [],
    tdxExtraPinnedRoots: options.testTrustAnchors?.tdxRoots ?? [],
    tdxPinnedTcbSigningKeys: config.tdx.pinnedTcbSigningKeys,
    sevRoots: [...builtinSevRoots(config.sev.products), ...(options.testTrustAnchors?.sevRoots ?? [])],
    metrics,
  }
}

/**
 * Counts a fetcher's answers: `ok`, `unavailable` (not found, failing or backing off: the
 * fetcher logs which) or `error` (it threw).
 */
function countedFetcher(source: string, fetcher: CollateralFetcher, metrics: Metrics): CollateralFetcher {
  return {
    handles: (kind) => fetcher.handles(kind),
    async fetch(kind, key, trace) {
      try {
        const value = await fetcher.fetch(kind, key, trace)
        metrics.collateralFetches.inc({ source, outcome: value === undefined ? 'unavailable' : 'ok' })
        return value
      } catch (err) {
        metrics.collateralFetches.inc({ source, outcome: 'error' })
        throw err
      }
    },
  }
}
