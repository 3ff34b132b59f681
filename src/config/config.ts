import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { snpFirmwareSchema, snpMinTcbSchema, snpProductSchema, type SnpConfig } from './snp.js'
import { sevProductsSchema, type SevConfig } from './sev.js'
import { withSecretFiles } from './secret-files.js'
import { spkiPinsSchema, tdxTcbStatusesSchema, type TdxConfig } from './tdx.js'

export type { SnpConfig, SnpFirmwareVersion, SnpProductName, SnpTcbFloor } from './snp.js'
export type { TdxConfig, TdxTcbStatusName } from './tdx.js'
export type { SevConfig, SevProductName } from './sev.js'

/**
 * The one configuration loader. Settings come from an optional JSON config file
 * (`KEYBROKER_CONFIG`) and from environment variables, which win. Everything is validated at
 * start; a bad value stops the process with a message naming the setting.
 */
export interface Config {
  readonly listen: { readonly host: string; readonly port: number }
  readonly insecureHttp: boolean
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined
  readonly dataDir: string
  readonly databaseUrl: string | undefined
  /**
   * Processes that serve requests: 1 is one process (no primary); more is a primary that starts
   * up once and forks this many node:cluster workers on one listening socket (PostgreSQL only).
   */
  readonly workers: number
  readonly production: boolean
  readonly allowSampleEvidence: boolean
  readonly issuer: string
  readonly audience: string
  readonly tokenTtlSeconds: number
  readonly nonceTtlSeconds: number
  readonly tokenAlg: 'ES256' | 'ES384'
  readonly tokenKeyFile: string | undefined
  /** base64 of 32 bytes; otherwise `kekFile`, otherwise a key file in the data directory. */
  readonly kek: string | undefined
  /** A file holding the KEK (base64 of 32 bytes); exclusive with `kek`. */
  readonly kekFile: string | undefined
  /** Earlier KEKs (base64 of 32 bytes each) that still open envelopes, until `keybroker kek rewrap`. */
  readonly kekPrevious: readonly string[]
  /** A file of earlier KEKs, one base64 key per line (`#` comments and blank lines ignored). */
  readonly kekPreviousFile: string | undefined
  /** PEM public (or private) keys of earlier token-signing keys: they verify and stay in the JWKS. */
  readonly tokenPreviousKeysFile: string | undefined
  readonly bootstrapAdminToken: string | undefined
  readonly bodyLimitBytes: number
  /** HTTP server limits and shutdown (README, "Reliability and security"). */
  readonly http: {
    readonly headersTimeoutMs: number
    readonly requestTimeoutMs: number
    readonly keepAliveTimeoutMs: number
    /** Attestations (evidence verified) answered at once per process; beyond it 503 `overloaded`. */
    readonly maxInFlightAttestations: number
    /** `Retry-After` of a 503 `overloaded`. */
    readonly overloadRetryAfterSeconds: number
    /** Challenges waiting for their attestation while attestations are being shed; beyond it 503 `overloaded`. */
    readonly maxPendingChallenges: number
    /** Open connections (TLS handshakes included); beyond it a new connection is closed at once. */
    readonly maxConnections: number
    /** Between `/readyz` turning 503 and the listener closing (load balancers stop sending). */
    readonly shutdownDelayMs: number
    /** How long requests in flight may take to finish after the listener closed. */
    readonly shutdownGraceMs: number
  }
  /** The audit log (README, "Reliability and security"). */
  readonly audit: {
    /** Seconds between signed checkpoints of the chain head; 0: only on demand. */
    readonly checkpointSeconds: number
    /** Identical refused attestations (route, reason, source) within this window share one entry. */
    readonly refusalWindowSeconds: number
  }
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  /** Where Prometheus scrapes `/metrics` (plain HTTP, a listener of its own); undefined: off. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined
  /** Collateral cache directory in the AMD KDS layout (README, "Collateral"); default `<dataDir>/collateral`. */
  readonly collateralDir: string
  readonly snp: SnpConfig
  readonly tdx: TdxConfig
  readonly sev: SevConfig
  /** The attested CA (issue 16). */
  readonly ca: {
    /** Base URL written into certificates (CRL distribution point, OCSP and issuer AIA). */
    readonly publicUrl: string
    /** `nextUpdate` of CRLs and OCSP answers, and how long a CRL is reused. */
    readonly statusTtlSeconds: number
    /** The profile behind absmach/certs' un-prefixed endpoints (Cocos); none: those answer 404. */
    readonly certsCompatProfile: string | undefined
  }
}

export class ConfigError extends Error {
  constructor(readonly setting: string, message: string) {
    super(`invalid setting ${setting}: ${message}`)
    this.name = 'ConfigError'
  }
}

interface Setting {
  readonly env: string
  readonly file: string
  readonly schema: z.ZodType
  readonly doc: string
  readonly default?: string
}

const bool = z.enum(['1', '0', 'true', 'false', 'yes', 'no']).transform((v) => v === '1' || v === 'true' || v === 'yes')
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max)
const base64KeyList = z
  .string()
  .transform((s) => s.split(',').map((k) => k.trim()).filter((k) => k !== ''))
  .pipe(z.array(z.string().regex(/^[A-Za-z0-9+/_-]+={0,2}$/, 'must be base64 keys, comma-separated').refine((s) => Buffer.from(s, 'base64').byteLength === 32, 'each key must decode to 32 bytes')).max(16))
const base64Key = z
  .string()
  .regex(/^[A-Za-z0-9+/_-]+={0,2}$/, 'must be base64')
  .refine((s) => Buffer.from(s, 'base64').byteLength === 32, 'must decode to 32 bytes')

/** Every setting with its environment variable, config-file key and documentation (README table). */
export const SETTINGS = {
  listen: { env: 'KEYBROKER_LISTEN', file: 'listen', schema: z.string(), default: '127.0.0.1:8443', doc: 'host:port to listen on (IPv6 as [::1]:8443)' },
  insecureHttp: { env: 'KEYBROKER_INSECURE_HTTP', file: 'insecureHttp', schema: bool, default: '0', doc: 'serve plain HTTP, only behind a TLS-terminating proxy' },
  tlsCert: { env: 'KEYBROKER_TLS_CERT', file: 'tlsCert', schema: z.string().min(1), doc: 'PEM certificate chain file; without it a self-signed development certificate is created in the data directory' },
  tlsKey: { env: 'KEYBROKER_TLS_KEY', file: 'tlsKey', schema: z.string().min(1), doc: 'PEM private key file for KEYBROKER_TLS_CERT' },
  dataDir: { env: 'KEYBROKER_DATA_DIR', file: 'dataDir', schema: z.string().min(1), default: './data', doc: 'embedded database (PGlite) and generated keys' },
  databaseUrl: { env: 'DATABASE_URL', file: 'databaseUrl', schema: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'), doc: 'PostgreSQL instead of the embedded database' },
  workers: { env: 'KEYBROKER_WORKERS', file: 'workers', schema: int(1, 1024), doc: 'processes serving requests: node:cluster workers sharing one listening socket (PostgreSQL only); default: the number of cores with DATABASE_URL, 1 on the embedded database, where more is refused' },
  production: { env: 'KEYBROKER_PRODUCTION', file: 'production', schema: bool, default: '0', doc: 'production mode: refuses sample evidence, the self-signed development certificate, a KEK generated in the data directory, and plain HTTP unless KEYBROKER_INSECURE_HTTP=1' },
  allowSampleEvidence: { env: 'KEYBROKER_ALLOW_SAMPLE_EVIDENCE', file: 'allowSampleEvidence', schema: bool, default: '0', doc: 'accept the unsigned `sample` evidence type (development and tests only)' },
  issuer: { env: 'KEYBROKER_ISSUER', file: 'issuer', schema: z.string().url(), doc: 'token issuer (`iss`); default https://<listen>' },
  audience: { env: 'KEYBROKER_AUDIENCE', file: 'audience', schema: z.string().min(1).max(200), default: 'keybroker', doc: 'token audience (`aud`)' },
  tokenTtlSeconds: { env: 'KEYBROKER_TOKEN_TTL_SECONDS', file: 'tokenTtlSeconds', schema: int(10, 86_400), default: '300', doc: 'lifetime of attestation result tokens' },
  nonceTtlSeconds: { env: 'KEYBROKER_NONCE_TTL_SECONDS', file: 'nonceTtlSeconds', schema: int(5, 3_600), default: '120', doc: 'lifetime of challenge nonces' },
  tokenAlg: { env: 'KEYBROKER_TOKEN_ALG', file: 'tokenAlg', schema: z.enum(['ES256', 'ES384']), default: 'ES256', doc: 'token signature algorithm' },
  tokenKeyFile: { env: 'KEYBROKER_TOKEN_KEY_FILE', file: 'tokenKeyFile', schema: z.string().min(1), doc: 'PKCS#8 PEM token-signing key; otherwise created in the data directory' },
  kek: { env: 'KEYBROKER_KEK', file: 'kek', schema: base64Key, doc: 'key-encryption key for secrets at rest (base64, 32 bytes), the same on every replica (the nonce MAC key is derived from it); otherwise created in the data directory' },
  kekFile: { env: 'KEYBROKER_KEK_FILE', file: 'kekFile', schema: z.string().min(1), doc: 'file holding the key-encryption key (base64, 32 bytes); instead of KEYBROKER_KEK' },
  kekPrevious: { env: 'KEYBROKER_KEK_PREVIOUS', file: 'kekPrevious', schema: base64KeyList, doc: 'earlier key-encryption keys (base64, comma-separated) that still open envelopes sealed before a rotation, until `keybroker kek rewrap`' },
  kekPreviousFile: { env: 'KEYBROKER_KEK_PREVIOUS_FILE', file: 'kekPreviousFile', schema: z.string().min(1), doc: 'file of earlier key-encryption keys, one base64 key per line' },
  tokenPreviousKeysFile: { env: 'KEYBROKER_TOKEN_PREVIOUS_KEYS_FILE', file: 'tokenPreviousKeysFile', schema: z.string().min(1), doc: 'PEM file of earlier (or next) token-signing public keys: they verify tokens and stay in the JWKS while configured' },
  bootstrapAdminToken: { env: 'KEYBROKER_BOOTSTRAP_ADMIN_TOKEN', file: 'bootstrapAdminToken', schema: z.string().min(32, 'at least 32 characters').max(512), doc: 'an admin token created at start if absent' },
  bodyLimitBytes: { env: 'KEYBROKER_BODY_LIMIT_BYTES', file: 'bodyLimitBytes', schema: int(1024, 64 * 1024 * 1024), default: String(1024 * 1024), doc: 'largest accepted request body (413 above)' },
  httpHeadersTimeoutMs: { env: 'KEYBROKER_HTTP_HEADERS_TIMEOUT_MS', file: 'httpHeadersTimeoutMs', schema: int(1_000, 120_000), default: '10000', doc: 'time a client has to send the request headers (slow-loris bound)' },
  httpRequestTimeoutMs: { env: 'KEYBROKER_HTTP_REQUEST_TIMEOUT_MS', file: 'httpRequestTimeoutMs', schema: int(1_000, 600_000), default: '30000', doc: 'time a client has to send the whole request, body included' },
  httpKeepAliveTimeoutMs: { env: 'KEYBROKER_HTTP_KEEP_ALIVE_TIMEOUT_MS', file: 'httpKeepAliveTimeoutMs', schema: int(0, 600_000), default: '5000', doc: 'how long an idle keep-alive connection stays open (0: close after each answer)' },
  maxInFlightAttestations: { env: 'KEYBROKER_MAX_IN_FLIGHT_ATTESTATIONS', file: 'maxInFlightAttestations', schema: int(1, 100_000), default: '64', doc: 'attestations (evidence verified) a process works on at once; more are answered 503 `overloaded` with Retry-After at once (how the default was measured: README, "Load shedding")' },
  maxPendingChallenges: { env: 'KEYBROKER_MAX_PENDING_CHALLENGES', file: 'maxPendingChallenges', schema: int(1, 1_000_000), default: '256', doc: 'while attestations are being shed, challenges a process lets wait for their attestation; more are answered 503 `overloaded` with Retry-After (README, "Load shedding")' },
  maxConnections: { env: 'KEYBROKER_MAX_CONNECTIONS', file: 'maxConnections', schema: int(1, 1_000_000), default: '4096', doc: 'open connections a process accepts, TLS handshakes included; a new connection beyond it is closed at once, before its handshake (README, "Load shedding")' },
  overloadRetryAfterSeconds: { env: 'KEYBROKER_OVERLOAD_RETRY_AFTER_SECONDS', file: 'overloadRetryAfterSeconds', schema: int(1, 300), default: '1', doc: '`Retry-After` of a 503 `overloaded` (clients add jitter)' },
  shutdownDelaySeconds: { env: 'KEYBROKER_SHUTDOWN_DELAY_SECONDS', file: 'shutdownDelaySeconds', schema: int(0, 300), default: '0', doc: 'on SIGTERM, how long /readyz answers 503 before the listener closes (time for a load balancer to stop sending)' },
  shutdownGraceSeconds: { env: 'KEYBROKER_SHUTDOWN_GRACE_SECONDS', file: 'shutdownGraceSeconds', schema: int(0, 600), default: '10', doc: 'on SIGTERM, how long requests in flight may take to finish before their connections are closed' },
  collateralDir: { env: 'KEYBROKER_COLLATERAL_DIR', file: 'collateralDir', schema: z.string().min(1), doc: 'collateral cache directory in the AMD KDS layout, read before the admin store; KDS-fetched VCEKs are written here; default <data>/collateral' },
  snpMaxVmpl: { env: 'KEYBROKER_SNP_MAX_VMPL', file: 'snpMaxVmpl', schema: int(0, 3), default: '0', doc: 'highest VMPL an SNP report may come from' },
  snpMinTcb: { env: 'KEYBROKER_SNP_MIN_TCB', file: 'snpMinTcb', schema: snpMinTcbSchema, doc: 'per-product floors of REPORTED_TCB, JSON {"milan": {"snp": 8, "microcode": 115}, …}' },
  snpMinFirmware: { env: 'KEYBROKER_SNP_MIN_FIRMWARE', file: 'snpMinFirmware', schema: snpFirmwareSchema, doc: 'lowest SNP firmware (major.minor[.build]) of CURRENT and COMMITTED' },
  snpRequireCrl: { env: 'KEYBROKER_SNP_REQUIRE_CRL', file: 'snpRequireCrl', schema: bool, default: '0', doc: 'refuse SNP reports unless a current ARK-signed CRL is available' },
  snpAllowMigrationAgent: { env: 'KEYBROKER_SNP_ALLOW_MIGRATION_AGENT', file: 'snpAllowMigrationAgent', schema: bool, default: '0', doc: 'accept guest policy MIGRATE_MA' },
  snpMinReportVersion: { env: 'KEYBROKER_SNP_MIN_REPORT_VERSION', file: 'snpMinReportVersion', schema: int(2, 5), default: '2', doc: 'lowest SNP report version accepted' },
  snpProduct: { env: 'KEYBROKER_SNP_PRODUCT', file: 'snpProduct', schema: snpProductSchema, doc: 'product line of v2 SNP reports (milan, genoa, turin); default: from the certificate chain' },
  snpKdsFetch: { env: 'KEYBROKER_SNP_KDS_FETCH', file: 'snpKdsFetch', schema: bool, default: '0', doc: 'fetch a missing VCEK from AMD KDS at request time' },
  snpKdsUrl: { env: 'KEYBROKER_SNP_KDS_URL', file: 'snpKdsUrl', schema: z.string().url().regex(/^https?:\/\//, 'must be an http(s) URL'), default: 'https://kdsintf.amd.com', doc: 'AMD KDS base URL' },
  tdxAcceptedTcbStatuses: { env: 'KEYBROKER_TDX_ACCEPTED_TCB_STATUSES', file: 'tdxAcceptedTcbStatuses', schema: tdxTcbStatusesSchema, default: 'UpToDate,SWHardeningNeeded', doc: 'TDX TCB statuses accepted after Intel\'s evaluation, comma-separated' },
  tdxPinnedTcbSigningKeys: { env: 'KEYBROKER_TDX_PINNED_TCB_SIGNING_KEYS', file: 'tdxPinnedTcbSigningKeys', schema: spkiPinsSchema, doc: 'SPKI SHA-256 of Intel TCB Signing keys trusted beyond their certificate\'s validity (comma-separated)' },
  tdxRequireCrls: { env: 'KEYBROKER_TDX_REQUIRE_CRLS', file: 'tdxRequireCrls', schema: bool, default: '0', doc: 'refuse TDX quotes unless current Root CA and PCK CRLs are available' },
  tdxPcsFetch: { env: 'KEYBROKER_TDX_PCS_FETCH', file: 'tdxPcsFetch', schema: bool, default: '0', doc: 'fetch missing TDX collateral from Intel PCS or a PCCS at request time' },
  tdxPcsUrl: { env: 'KEYBROKER_TDX_PCS_URL', file: 'tdxPcsUrl', schema: z.string().url().regex(/^https?:\/\//, 'must be an http(s) URL'), default: 'https://api.trustedservices.intel.com', doc: 'Intel PCS or PCCS base URL' },
  tdxPcsTimeoutMs: { env: 'KEYBROKER_TDX_PCS_TIMEOUT_MS', file: 'tdxPcsTimeoutMs', schema: int(100, 60_000), default: '5000', doc: 'timeout of one PCS request' },
  snpKdsTimeoutMs: { env: 'KEYBROKER_SNP_KDS_TIMEOUT_MS', file: 'snpKdsTimeoutMs', schema: int(100, 60_000), default: '5000', doc: 'timeout of one KDS request' },
  sevProducts: { env: 'KEYBROKER_SEV_PRODUCTS', file: 'sevProducts', schema: sevProductsSchema, default: 'naples,rome,milan,genoa,turin', doc: 'AMD products whose SEV (pre-SNP) roots may sign a platform chain, comma-separated' },
  sevStateTtlSeconds: { env: 'KEYBROKER_SEV_STATE_TTL_SECONDS', file: 'sevStateTtlSeconds', schema: int(60, 3_600), default: '600', doc: 'lifetime of a SEV launch session (its sealed state token), from session to secret injection' },
  caPublicUrl: { env: 'KEYBROKER_CA_PUBLIC_URL', file: 'caPublicUrl', schema: z.string().url().regex(/^https?:\/\//, 'must be an http(s) URL'), doc: 'base URL relying parties reach keybroker at, written into issued certificates (CRL, OCSP, issuer); default: the token issuer' },
  caStatusTtlSeconds: { env: 'KEYBROKER_CA_STATUS_TTL_SECONDS', file: 'caStatusTtlSeconds', schema: int(60, 7 * 86_400), default: '3600', doc: 'nextUpdate of CRLs and OCSP answers (a revocation shows from the next request on regardless)' },
  certsCompatProfile: { env: 'KEYBROKER_CERTS_COMPAT_PROFILE', file: 'certsCompatProfile', schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a profile name'), doc: 'certificate profile of the absmach/certs-compatible endpoints without a domain (/certs/…, Cocos); unset: they answer 404' },
  auditCheckpointSeconds: { env: 'KEYBROKER_AUDIT_CHECKPOINT_SECONDS', file: 'auditCheckpointSeconds', schema: int(0, 7 * 86_400), default: '3600', doc: 'seconds between signed audit checkpoints (head id + hash, JWS with the token key), written when the head moved; 0: only on demand (POST /admin/v1/audit/checkpoints)' },
  auditRefusalWindowSeconds: { env: 'KEYBROKER_AUDIT_REFUSAL_WINDOW_SECONDS', file: 'auditRefusalWindowSeconds', schema: int(1, 3_600), default: '60', doc: 'refused attestations with the same route, reason and client IP within this window are audited as one entry with a count' },
  metricsListen: { env: 'KEYBROKER_METRICS_LISTEN', file: 'metricsListen', schema: z.string().min(1), doc: 'host:port of a separate plain-HTTP listener serving Prometheus /metrics (e.g. 127.0.0.1:9464); unset: no metrics listener' },
  logLevel: { env: 'KEYBROKER_LOG_LEVEL', file: 'logLevel', schema: z.enum(['debug', 'info', 'warn', 'error', 'silent']), default: 'info', doc: 'log level' },
} as const satisfies Record<string, Setting>

type Key = keyof typeof SETTINGS
type Values = { [K in Key]: z.output<(typeof SETTINGS)[K]['schema']> | undefined }

function readConfigFile(path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError('KEYBROKER_CONFIG', `cannot read ${path} (${err instanceof Error ? err.message : String(err)})`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new ConfigError('KEYBROKER_CONFIG', `${path} is not valid JSON`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('KEYBROKER_CONFIG', `${path} must hold a JSON object`)
  }
  const known = new Set<string>(Object.values(SETTINGS).map((s) => s.file))
  for (const k of Object.keys(parsed)) {
    if (!known.has(k)) throw new ConfigError(`${path}: ${k}`, 'unknown setting')
  }
  return Object.fromEntries(Object.entries(parsed))
}

function parseListen(text: string, setting: string = SETTINGS.listen.env): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text)
  const port = m ? Number(m[3]) : NaN
  if (!m || port > 65_535) throw new ConfigError(setting, `expected host:port, got "${text}"`)
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port }
}

/**
 * Production mode (`KEYBROKER_PRODUCTION=1`) refuses what is only for development: the
 * self-signed certificate (a TLS certificate must be configured, or plain HTTP chosen explicitly
 * for a TLS-terminating proxy) and a KEK generated next to the database (whoever copies the data
 * directory would hold the key with the envelopes it opens). Sample evidence is refused above.
 */
function checkProduction(v: Values): void {
  if (v.kek === undefined && v.kekFile === undefined) {
    throw new ConfigError(SETTINGS.kek.env, 'production mode needs the KEK given (KEYBROKER_KEK or KEYBROKER_KEK_FILE), not generated next to the database')
  }
  if (v.insecureHttp !== true && (v.tlsCert === undefined || v.tlsKey === undefined)) {
    throw new ConfigError(
      SETTINGS.tlsCert.env,
      'production mode refuses the self-signed development certificate: set KEYBROKER_TLS_CERT and KEYBROKER_TLS_KEY (or KEYBROKER_INSECURE_HTTP=1 behind a TLS-terminating proxy)',
    )
  }
}

/**
 * Loads and validates the configuration. Throws `ConfigError` naming the first bad setting
 * (its environment variable, or the config-file key). Secrets given here are never echoed.
 */
export function loadConfig(environment: Readonly<Record<string, string | undefined>> = process.env): Config {
  const env = withSecretFiles(environment)
  const file = env.KEYBROKER_CONFIG ? readConfigFile(env.KEYBROKER_CONFIG) : {}
  const values: Partial<Record<Key, unknown>> = {}
  for (const [key, setting] of Object.entries(SETTINGS) as [Key, Setting][]) {
    const fromEnv = env[setting.env]
    const fromFile = file[setting.file]
    // Objects in the config file (e.g. snpMinTcb) are parsed from their JSON text like the environment's.
    const fileText = typeof fromFile === 'object' && fromFile !== null ? JSON.stringify(fromFile) : String(fromFile)
    const raw = fromEnv !== undefined && fromEnv !== '' ? fromEnv : fromFile !== undefined ? fileText : setting.default
    if (raw === undefined) continue
    const result = setting.schema.safeParse(raw)
    if (!result.success) {
      const where = fromEnv !== undefined && fromEnv !== '' ? setting.env : fromFile !== undefined ? `${env.KEYBROKER_CONFIG}: ${setting.file}` : setting.env
      throw new ConfigError(where, result.error.issues.map((i) => i.message).join('; '))
    }
    values[key] = result.data
  }
  const v = values as Values
  const listen = parseListen(v.listen ?? '127.0.0.1:8443')
  if ((v.tlsCert === undefined) !== (v.tlsKey === undefined)) {
    throw new ConfigError(v.tlsCert === undefined ? SETTINGS.tlsCert.env : SETTINGS.tlsKey.env, 'KEYBROKER_TLS_CERT and KEYBROKER_TLS_KEY go together')
  }
  if (v.production === true && v.allowSampleEvidence === true) {
    throw new ConfigError(SETTINGS.allowSampleEvidence.env, 'sample evidence cannot be enabled in production mode')
  }
  if (v.kek !== undefined && v.kekFile !== undefined) {
    throw new ConfigError(SETTINGS.kekFile.env, 'give the KEK once: KEYBROKER_KEK or KEYBROKER_KEK_FILE')
  }
  const insecureHttp = v.insecureHttp ?? false
  if (v.production === true) checkProduction(v)
  // PGlite is one process holding its data directory (a lock): workers cannot share it. Refused
  // rather than quietly run as one process, so that what runs is what was configured.
  if (v.workers !== undefined && v.workers > 1 && v.databaseUrl === undefined) {
    throw new ConfigError(SETTINGS.workers.env, `${v.workers} workers need PostgreSQL (DATABASE_URL): the embedded database (PGlite) serves from one process; set KEYBROKER_WORKERS=1 or DATABASE_URL`)
  }
  const hostForUrl = listen.host.includes(':') ? `[${listen.host}]` : listen.host
  return {
    listen,
    insecureHttp,
    tls: v.tlsCert !== undefined && v.tlsKey !== undefined ? { certFile: resolve(v.tlsCert), keyFile: resolve(v.tlsKey) } : undefined,
    dataDir: resolve(v.dataDir ?? './data'),
    databaseUrl: v.databaseUrl,
    workers: v.workers ?? (v.databaseUrl === undefined ? 1 : availableParallelism()),
    production: v.production ?? false,
    allowSampleEvidence: v.allowSampleEvidence ?? false,
    issuer: v.issuer ?? `${insecureHttp ? 'http' : 'https'}://${hostForUrl}:${listen.port}`,
    audience: v.audience ?? 'keybroker',
    tokenTtlSeconds: v.tokenTtlSeconds ?? 300,
    nonceTtlSeconds: v.nonceTtlSeconds ?? 120,
    tokenAlg: v.tokenAlg ?? 'ES256',
    tokenKeyFile: v.tokenKeyFile,
    kek: v.kek,
    kekFile: v.kekFile === undefined ? undefined : resolve(v.kekFile),
    kekPrevious: v.kekPrevious ?? [],
    kekPreviousFile: v.kekPreviousFile === undefined ? undefined : resolve(v.kekPreviousFile),
    tokenPreviousKeysFile: v.tokenPreviousKeysFile === undefined ? undefined : resolve(v.tokenPreviousKeysFile),
    bootstrapAdminToken: v.bootstrapAdminToken,
    bodyLimitBytes: v.bodyLimitBytes ?? 1024 * 1024,
    http: {
      headersTimeoutMs: v.httpHeadersTimeoutMs ?? 10_000,
      requestTimeoutMs: v.httpRequestTimeoutMs ?? 30_000,
      keepAliveTimeoutMs: v.httpKeepAliveTimeoutMs ?? 5_000,
      maxInFlightAttestations: v.maxInFlightAttestations ?? 64,
      overloadRetryAfterSeconds: v.overloadRetryAfterSeconds ?? 1,
      maxPendingChallenges: v.maxPendingChallenges ?? 256,
      maxConnections: v.maxConnections ?? 4096,
      shutdownDelayMs: (v.shutdownDelaySeconds ?? 0) * 1000,
      shutdownGraceMs: (v.shutdownGraceSeconds ?? 10) * 1000,
    },
    audit: { checkpointSeconds: v.auditCheckpointSeconds ?? 3600, refusalWindowSeconds: v.auditRefusalWindowSeconds ?? 60 },
    logLevel: v.logLevel ?? 'info',
    metricsListen: v.metricsListen === undefined ? undefined : parseListen(v.metricsListen, SETTINGS.metricsListen.env),
    collateralDir: resolve(v.collateralDir ?? join(v.dataDir ?? './data', 'collateral')),
    snp: {
      maxVmpl: v.snpMaxVmpl ?? 0,
      minTcb: v.snpMinTcb ?? {},
      minFirmware: v.snpMinFirmware,
      requireCrl: v.snpRequireCrl ?? false,
      allowMigrationAgent: v.snpAllowMigrationAgent ?? false,
      minReportVersion: v.snpMinReportVersion ?? 2,
      product: v.snpProduct,
      kdsFetch: v.snpKdsFetch ?? false,
      kdsUrl: (v.snpKdsUrl ?? 'https://kdsintf.amd.com').replace(/\/+$/, ''),
      kdsTimeoutMs: v.snpKdsTimeoutMs ?? 5000,
    },
    ca: {
      publicUrl: (v.caPublicUrl ?? v.issuer ?? `${insecureHttp ? 'http' : 'https'}://${hostForUrl}:${listen.port}`).replace(/\/+$/, ''),
      statusTtlSeconds: v.caStatusTtlSeconds ?? 3600,
      certsCompatProfile: v.certsCompatProfile,
    },
    tdx: {
      acceptedTcbStatuses: v.tdxAcceptedTcbStatuses ?? ['UpToDate', 'SWHardeningNeeded'],
      pinnedTcbSigningKeys: v.tdxPinnedTcbSigningKeys ?? [],
      requireCrls: v.tdxRequireCrls ?? false,
      pcsFetch: v.tdxPcsFetch ?? false,
      pcsUrl: (v.tdxPcsUrl ?? 'https://api.trustedservices.intel.com').replace(/\/+$/, ''),
      pcsTimeoutMs: v.tdxPcsTimeoutMs ?? 5000,
    },
    sev: {
      products: v.sevProducts ?? ['Naples', 'Rome', 'Milan', 'Genoa', 'Turin'],
      stateTtlSeconds: v.sevStateTtlSeconds ?? 600,
    },
  }
}
