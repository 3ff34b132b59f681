/**
 * The service's own commands: `serve`, `migrate`, and the ones that work on its database
 * directly (`audit verify`, `admin token create --offline`). Loaded only when one of them runs.
 */
import { join } from 'node:path'
import type { Config } from '../config/config.js'
import { createLogger } from '../log/logger.js'
import { createApp } from '../server/app.js'
import { listen } from '../server/listen.js'
import { createAdminToken, ensureBootstrapAdminToken } from '../services/admin-tokens.js'
import { verifyAudit } from '../services/audit.js'
import { scheduleMaintenance } from '../services/maintenance.js'
import { checkpointJwsFromFile } from '../services/audit-checkpoints.js'
import { loadAuditKey } from '../services/audit-key.js'
import { createServices, loadConfiguredKeys, openAuditKey } from '../services/services.js'
import { readFile } from 'node:fs/promises'
import { migrateDatabase, openDatabase, type AdminRole } from '../storage/index.js'
import type { CliOutput } from './io.js'

export async function serve(config: Config): Promise<number> {
  const log = createLogger(config.logLevel)
  const services = await createServices(config, log)
  if (config.allowSampleEvidence) log.warn('sample evidence is ENABLED: development only, never in production')
  let server: Awaited<ReturnType<typeof listen>>
  try {
    if (config.bootstrapAdminToken !== undefined && (await ensureBootstrapAdminToken(services, config.bootstrapAdminToken))) {
      log.info('bootstrap admin token registered')
    }
    server = await listen(createApp({ config, services, log }), config, log)
  } catch (err) {
    await services.database.close()
    throw err
  }
  const maintenance = scheduleMaintenance(services)
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info('shutting down', { signal })
      resolve()
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  maintenance.stop()
  // Bounded shutdown: connections are closed, then the database; a stuck close cannot hang us.
  const timer = setTimeout(() => {
    log.error('shutdown timed out')
    process.exit(1)
  }, 10_000)
  timer.unref()
  await server.close()
  // The counted refusals of the current window are written before the database closes.
  await services.refusals.stop()
  await services.database.close()
  log.info('stopped')
  return 0
}

export async function openConfiguredDatabase(config: Config) {
  return openDatabase({ databaseUrl: config.databaseUrl, dataDir: join(config.dataDir, 'pglite'), migrate: false })
}

export async function migrate(config: Config, out: CliOutput): Promise<number> {
  const database = await openConfiguredDatabase(config)
  try {
    await migrateDatabase(database)
    out.stderr(`migrations applied (${database.engine})\n`)
    return 0
  } finally {
    await database.close()
  }
}

/** Creates an admin token straight in the database (the service may be stopped): the first token. */
export async function createTokenOffline(config: Config, role: AdminRole, label: string, out: CliOutput): Promise<number> {
  const database = await openConfiguredDatabase(config)
  try {
    await migrateDatabase(database)
    const { keks } = await loadConfiguredKeys(config)
    const auditKey = await openAuditKey(database, keks, new Date())
    const { id, token } = await createAdminToken({ database, now: () => new Date(), auditKey }, role, label, 'cli')
    out.stderr(`created ${role} token ${id}; it is shown once:\n`)
    out.stdout(`${token}\n`)
    return 0
  } finally {
    await database.close()
  }
}

/**
 * `keybroker audit verify [--checkpoint FILE]…`: the keyed chain, the newest stored checkpoint and
 * every exported one. Opening the audit key never rewrites entries: a chain written before the
 * audit key existed is verified as it is (the service re-keys it at its next start).
 */
export async function verifyAuditOffline(config: Config, out: CliOutput, checkpointFiles: readonly string[] = []): Promise<number> {
  const exported: string[] = []
  for (const file of checkpointFiles) exported.push(...checkpointJwsFromFile(await readFile(file, 'utf8')))
  const database = await openConfiguredDatabase(config)
  try {
    const { keks, keys } = await loadConfiguredKeys(config)
    const auditKey = await loadAuditKey(database, keks, new Date())
    const result = await verifyAudit({ database, auditKey, keys }, exported)
    out.stdout(`${JSON.stringify(result)}\n`)
    return result.ok ? 0 : 1
  } finally {
    await database.close()
  }
}
