import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type Config } from '../config/config.js'
import { KeybrokerError } from '../errors.js'
import { createLogger, describeError } from '../log/logger.js'
import { createApp } from '../server/app.js'
import { listen } from '../server/listen.js'
import { createAdminToken, ensureBootstrapAdminToken } from '../services/admin-tokens.js'
import { verifyAudit } from '../services/audit.js'
import { scheduleMaintenance } from '../services/maintenance.js'
import { createServices } from '../services/services.js'
import { EVIDENCE_VERIFY_USAGE, evidenceVerify } from './evidence-verify.js'
import { BUNDLE_USAGE, bundleCommand } from './bundle.js'
import { SEV_USAGE, sevCommand } from './sev.js'
import { ALEPH_USAGE, alephCommand } from './aleph.js'
import { ADMIN_ROLES, migrateDatabase, openDatabase, type AdminRole } from '../storage/index.js'
import { join } from 'node:path'

const USAGE = `usage: keybroker <command>

  serve                                   start the HTTPS service (migrates the database first)
  migrate                                 apply database migrations and exit
  admin token create --role ROLE [--label TEXT]
                                          create an admin API token (roles: ${ADMIN_ROLES.join(', ')}); prints it once
  audit verify                            verify the audit log hash chain; exit 1 if broken
  ${EVIDENCE_VERIFY_USAGE}
                                          verify evidence offline (all but the nonce binding); print the claims
  ${BUNDLE_USAGE}
                                          sign and verify golden-measurement bundles offline (no configuration needed)
  ${SEV_USAGE}
                                          AMD SEV (pre-SNP) guest-owner tools offline, like sevctl (no configuration needed)
  ${ALEPH_USAGE}
                                          launch an aleph.im confidential VM with keybroker as its guest owner

Configuration comes from environment variables (see README.md) and KEYBROKER_CONFIG.`

async function main(argv: readonly string[]): Promise<number> {
  const [command, sub, ...rest] = argv
  // Publisher tools: offline, independent of any service configuration.
  const out = { stdout: (t: string) => process.stdout.write(t), stderr: (t: string) => process.stderr.write(t) }
  if (command === 'bundle') return bundleCommand(sub, rest, out)
  if (command === 'sev') return sevCommand(sub, rest, out)
  if (command === 'aleph') return alephCommand(sub, rest, out)
  const config = loadConfig()
  switch (command) {
    case 'serve':
      return serve(config)
    case 'migrate':
      return migrate(config)
    case 'admin':
      if (sub === 'token' && rest[0] === 'create') return adminTokenCreate(config, rest.slice(1))
      break
    case 'audit':
      if (sub === 'verify') return auditVerify(config)
      break
    case 'evidence':
      if (sub === 'verify') {
        return evidenceVerify(config, rest, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) })
      }
      break
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`)
      return command === undefined ? 2 : 0
  }
  process.stderr.write(`keybroker: unknown command\n${USAGE}\n`)
  return 2
}

async function serve(config: Config): Promise<number> {
  const log = createLogger(config.logLevel)
  // PostgreSQL may be down at start: listen anyway (503 `not-ready`, /readyz 503) and retry.
  // Embedded PGlite is opened (and locked) before listening: there is nothing to wait for.
  const services = await createServices(config, log, { deferDatabase: config.databaseUrl !== undefined })
  if (config.allowSampleEvidence) log.warn('sample evidence is ENABLED: development only, never in production')
  let maintenance: { stop(): void } | undefined
  const startUp = async (): Promise<void> => {
    if (!(await services.readiness.waitForDatabase())) return
    if (config.bootstrapAdminToken !== undefined && (await ensureBootstrapAdminToken(services, config.bootstrapAdminToken))) {
      log.info('bootstrap admin token registered')
    }
    maintenance = scheduleMaintenance(services)
    log.info('ready')
  }
  let server: Awaited<ReturnType<typeof listen>>
  let started: Promise<void> = Promise.resolve()
  try {
    if (config.databaseUrl === undefined) await startUp()
    server = await listen(createApp({ config, services, log }), config, log)
    if (config.databaseUrl !== undefined) started = startUp()
  } catch (err) {
    await services.database.close()
    throw err
  }
  const failed = started.then(
    () => undefined,
    (err: unknown) => err,
  )
  const signal = await new Promise<string | Error>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
    void failed.then((err) => {
      if (err !== undefined) resolve(err instanceof Error ? err : new Error(String(err)))
    })
  })
  if (signal instanceof Error) log.error('start-up failed', { error: describeError(signal) })
  else log.info('shutting down', { signal })
  // Graceful shutdown: /readyz 503 → (delay) → listener closed, idle keep-alive connections
  // closed → requests in flight finish within the grace period → the database closes last.
  services.readiness.startDraining()
  services.readiness.stop()
  maintenance?.stop()
  // Bounded: a stuck close cannot hang us.
  const timer = setTimeout(() => {
    log.error('shutdown timed out')
    process.exit(1)
  }, config.http.shutdownDelayMs + config.http.shutdownGraceMs + 10_000)
  timer.unref()
  if (config.http.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, config.http.shutdownDelayMs))
  await server.close({ graceMs: config.http.shutdownGraceMs })
  log.info('connections closed; closing the database')
  await services.database.close()
  log.info('stopped')
  return signal instanceof Error ? 1 : 0
}

async function openConfiguredDatabase(config: Config) {
  return openDatabase({ databaseUrl: config.databaseUrl, dataDir: join(config.dataDir, 'pglite'), migrate: false })
}

async function migrate(config: Config): Promise<number> {
  const database = await openConfiguredDatabase(config)
  try {
    await migrateDatabase(database)
    process.stderr.write(`migrations applied (${database.engine})\n`)
    return 0
  } finally {
    await database.close()
  }
}

async function adminTokenCreate(config: Config, args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { role: { type: 'string' }, label: { type: 'string', default: '' } },
    strict: true,
  })
  const role = ADMIN_ROLES.find((r) => r === values.role)
  if (role === undefined) {
    process.stderr.write(`keybroker: --role must be one of ${ADMIN_ROLES.join(', ')}\n`)
    return 2
  }
  const database = await openConfiguredDatabase(config)
  try {
    await migrateDatabase(database)
    const { id, token } = await createAdminToken({ database, now: () => new Date() }, role satisfies AdminRole, values.label ?? '', 'cli')
    process.stderr.write(`created ${role} token ${id}; it is shown once:\n`)
    process.stdout.write(`${token}\n`)
    return 0
  } finally {
    await database.close()
  }
}

async function auditVerify(config: Config): Promise<number> {
  const database = await openConfiguredDatabase(config)
  try {
    const result = await verifyAudit({ database })
    process.stdout.write(`${JSON.stringify(result)}\n`)
    return result.ok ? 0 : 1
  } finally {
    await database.close()
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`keybroker: ${err.message}\n`)
    else if (err instanceof KeybrokerError) process.stderr.write(`keybroker: ${err.code}: ${err.detail}\n`)
    else process.stderr.write(`keybroker: ${describeError(err)}\n`)
    process.exitCode = 1
  },
)
