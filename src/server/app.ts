import { OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { KeybrokerError } from '../errors.js'
import { describeError } from '../log/logger.js'
import { isUnavailable } from '../storage/index.js'
import { NOT_READY_RETRY_AFTER_SECONDS } from '../services/readiness.js'
import type { AppDeps, AppEnv } from './context.js'
import { accessLog } from './middleware/access-log.js'
import { bodyLimit } from './middleware/body-limit.js'
import { admissionLimit } from './middleware/admission-limit.js'
import { challengeLimit, PENDING_CHALLENGE_WINDOW_MS } from './middleware/challenge-limit.js'
import { readinessGate } from './middleware/readiness-gate.js'
import { requestId } from './middleware/request-id.js'
import { traceContext } from './middleware/trace-context.js'
import { securityHeaders } from './middleware/security-headers.js'
import { problemFor } from './problem.js'
import { registerAdminAuditRoutes } from './routes/admin-audit.js'
import { registerAdminCaRoutes } from './routes/admin-ca.js'
import { registerAdminBundleRoutes } from './routes/admin-bundles.js'
import { registerAdminCosmianRoutes } from './routes/admin-cosmian.js'
import { registerAdminPolicyRoutes } from './routes/admin-policies.js'
import { registerAdminCollateralRoutes } from './routes/admin-collateral.js'
import { registerAdminReferenceValueRoutes } from './routes/admin-reference-values.js'
import { registerAdminSecretRoutes } from './routes/admin-secrets.js'
import { registerAttestRoutes } from './routes/attest.js'
import { registerCertificateRoutes } from './routes/certificates.js'
import { registerCertsCompatRoutes } from './routes/certs-compat.js'
import { registerHealthRoutes } from './routes/health.js'
import { registerOpenApiRoute } from './routes/openapi.js'
import { registerSealingKeyRoutes } from './routes/sealing-keys.js'
import { registerSevRoutes } from './routes/sev.js'
import { registerAdminTpmRoutes } from './routes/admin-tpm.js'
import { registerAdminTokenRoutes } from './routes/admin-tokens.js'
import { registerTpmEnrollmentRoutes } from './routes/tpm-enrollment.js'
import { registerWellKnownRoutes } from './routes/well-known.js'
import { validationHook } from './validation.js'
import { knownError } from './known-error.js'
import { refusalAudit } from './middleware/refusal-audit.js'

export type App = OpenAPIHono<AppEnv>

/** Routes whose requests carry evidence to verify: bounded by KEYBROKER_MAX_IN_FLIGHT_ATTESTATIONS. */
const ATTESTATION_PATHS = ['/v1/attest', '/v1/verify', '/v1/certificates', '/v1/tpm/enrollments', '/v1/tpm/enrollments/activate'] as const

/** `Retry-After` of a 503 whose error names no delay of its own. */
const DEFAULT_RETRY_AFTER_SECONDS = NOT_READY_RETRY_AFTER_SECONDS


/**
 * Builds the hono application: middleware, every route, and the one place where errors become
 * RFC 9457 problem documents. Route handlers throw `KeybrokerError`; nothing else writes an
 * error response.
 */
export function createApp(deps: AppDeps): App {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })

  app.use('*', requestId())
  app.use('*', traceContext())
  app.use('*', accessLog({ log: deps.log, metrics: () => deps.services.metrics }))
  app.use('*', securityHeaders({ hsts: !deps.config.insecureHttp }))
  app.use('*', readinessGate({ services: deps.services }))
  // The routes that verify evidence (the CPU-bound work) share one in-flight bound; while it is
  // hit, challenges waiting for their attestation are bounded too (README, "Load shedding").
  const retryAfterSeconds = deps.config.http.overloadRetryAfterSeconds
  const admission = admissionLimit({ maxInFlight: deps.config.http.maxInFlightAttestations, retryAfterSeconds })
  const challenges = challengeLimit({
    maxPending: deps.config.http.maxPendingChallenges,
    windowMs: PENDING_CHALLENGE_WINDOW_MS,
    retryAfterSeconds,
    isAttestationSaturated: admission.isSaturated,
  })
  app.on('POST', '/v1/challenge', challenges.issue)
  for (const path of ATTESTATION_PATHS) app.on('POST', path, challenges.settle, admission.middleware)
  app.use('*', bodyLimit({ maxBytes: deps.config.bodyLimitBytes }))

  // Every refused attestation leaves a bounded trace in the audit log.
  for (const path of ['/v1/attest', '/v1/verify']) app.use(path, refusalAudit({ services: deps.services }))
  registerHealthRoutes(app, deps)
  registerWellKnownRoutes(app, deps)
  registerAttestRoutes(app, deps)
  registerAdminSecretRoutes(app, deps)
  registerAdminReferenceValueRoutes(app, deps)
  registerAdminPolicyRoutes(app, deps)
  registerAdminBundleRoutes(app, deps)
  registerAdminCosmianRoutes(app, deps)
  registerAdminAuditRoutes(app, deps)
  registerAdminTokenRoutes(app, deps)
  registerAdminCollateralRoutes(app, deps)
  registerSealingKeyRoutes(app, deps)
  registerAdminTpmRoutes(app, deps)
  registerTpmEnrollmentRoutes(app, deps)
  registerSevRoutes(app, deps)
  registerCertificateRoutes(app, deps)
  registerAdminCaRoutes(app, deps)
  registerCertsCompatRoutes(app, deps)
  // Last: the document it serves covers every route registered before it (and itself).
  registerOpenApiRoute(app)
  registerMethodNotAllowed(app)

  app.notFound((c) => problemResponse(c, new KeybrokerError('not-found', 'no such route'), deps))
  app.onError((err, c) => {
    const problem = toKeybrokerError(err, deps)
    // A query found the database unreachable: refuse at once until a probe reaches it again.
    if (problem.code === 'not-ready') deps.services.readiness.reportUnavailable()
    return problemResponse(c, problem, deps)
  })
  return app
}

/** Answers 405 with `Allow` for a known path requested with another method. */
function registerMethodNotAllowed(app: App): void {
  const methods = new Map<string, Set<string>>()
  for (const route of app.routes) {
    if (route.method === 'ALL') continue
    const set = methods.get(route.path) ?? new Set<string>()
    set.add(route.method)
    if (route.method === 'GET') set.add('HEAD')
    methods.set(route.path, set)
  }
  for (const [path, allowed] of methods) {
    const allow = [...allowed].sort().join(', ')
    app.all(path, () => {
      throw new KeybrokerError('method-not-allowed', `allowed: ${allow}`, { extensions: { allow } })
    })
  }
}

function toKeybrokerError(err: unknown, deps: AppDeps): KeybrokerError {
  if (err instanceof KeybrokerError) return err
  // A driver error that escaped the storage layer's mapping (e.g. `begin` of a transaction).
  if (isUnavailable(err)) return new KeybrokerError('not-ready', 'database unavailable', { cause: err })
  const known = knownError(err)
  if (known !== undefined) return known
  deps.log.debug('unmapped error', { error: describeError(err) })
  return new KeybrokerError('internal', 'internal error', { cause: err })
}

function problemResponse(c: Context<AppEnv>, err: KeybrokerError, deps: AppDeps): Response {
  const id = c.get('requestId')
  c.set('problem', err.code)
  if (err.code === 'internal') {
    deps.log.error('internal error', { requestId: id, route: c.req.routePath, error: describeError(err.cause ?? err) })
  } else {
    deps.log.info('request refused', { requestId: id, route: c.req.routePath, code: err.code })
  }
  const detail = err.code === 'internal' ? 'internal error; the request id identifies it in the log' : err.detail
  const { allow, retryAfterSeconds, ...extensions } = err.extensions ?? {}
  const body = problemFor(err.code, detail, id, extensions)
  const headers: Record<string, string> = {
    'Content-Type': 'application/problem+json',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  }
  if (id) headers['X-Request-Id'] = id
  const trace = c.get('trace') as AppEnv['Variables']['trace'] | undefined
  if (trace !== undefined) headers.traceparent = `00-${trace.traceId}-${trace.spanId}-${trace.flags}`
  if (typeof allow === 'string') headers.Allow = allow
  // Every 503 says when to come back (RFC 9110 §10.2.3); clients add jitter.
  if (body.status === 503) headers['Retry-After'] = String(typeof retryAfterSeconds === 'number' ? retryAfterSeconds : DEFAULT_RETRY_AFTER_SECONDS)
  if (err.code === 'unauthorized') headers['WWW-Authenticate'] = 'Bearer realm="keybroker"'
  // The body of these requests was not read: close the connection, or a keep-alive client
  // would send its next request behind the unread bytes.
  if (err.code === 'payload-too-large' || err.code === 'unsupported-media-type' || err.code === 'overloaded') headers.Connection = 'close'
  return new Response(JSON.stringify(body), { status: body.status, headers })
}
