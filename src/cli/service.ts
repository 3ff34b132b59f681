/**
 * The service's own commands: `serve`, `migrate`, and the ones that work on its database
 * directly (`audit verify`, `admin token create --offline`). Loaded only when one of them runs.
 */
import { join } from 'node:path'
import type { Config } from '../config/config.js'
import { createLogger } from '../log/logger.js'
import { createApp } from '../server/app.js'
import { listen } from '../server/listen.js'
import { createAdminToken, prepareAdminAccess } from '../services/admin-tokens.js'
import { verifyAudit } from '../services/audit.js'
import { scheduleMaintenance } from '../services/maintenance.js'
import { createServices } from '../services/services.js'
import { migrateDatabase, openDatabase, type AdminRole } from '../storage/index.js'
import type { CliOutput } from './io.js'

export async function serve(config: Config): Promise<number> {
  const log = createLogger(config.logLevel)
  const services = await createServices(config, log)
  if (config.allowSampleEvidence) log.warn('sample evidence is ENABLED: development only, never in production')
  let server: Awaited<ReturnType<typeof listen>>
  try {
    await prepareAdminAccess(services, config.bootstrapAdminToken)
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
    const { id, token } = await createAdminToken({ database, now: () => new Date() }, role, label, 'cli')
    out.stderr(`created ${role} token ${id}; it is shown once:\n`)
    out.stdout(`${token}\n`)
    return 0
  } finally {
    await database.close()
  }
}

export async function verifyAuditOffline(config: Config, out: CliOutput): Promise<number> {
  const database = await openConfiguredDatabase(config)
  try {
    const result = await verifyAudit({ database })
    out.stdout(`${JSON.stringify(result)}\n`)
    return result.ok ? 0 : 1
  } finally {
    await database.close()
  }
}
