/**
 * Bench-only service entry for bench/snp-attest.ts: `keybroker serve`'s configuration, HTTPS
 * listener and bootstrap admin token, plus one extra pinned SEV-SNP ARK — the synthetic test
 * root of test/generators/snp.ts, given by its SPKI SHA-256 in BENCH_SNP_ARK_SPKI_SHA256 — the
 * same test-only pin the SNP tests pass to `createServices`. Everything after the pin (chain,
 * signature, policy, TCB checks, caches) is the service's own code. Never a production entry.
 */
import { loadConfig } from '../../src/config/config.js'
import { createLogger } from '../../src/log/logger.js'
import { createApp } from '../../src/server/app.js'
import { listen } from '../../src/server/listen.js'
import { prepareAdminAccess } from '../../src/services/admin-tokens.js'
import { createServices } from '../../src/services/services.js'

async function main(): Promise<void> {
  const spkiSha256 = process.env.BENCH_SNP_ARK_SPKI_SHA256
  if (spkiSha256 === undefined || !/^[0-9a-f]{64}$/.test(spkiSha256)) throw new Error('BENCH_SNP_ARK_SPKI_SHA256 must be 64 hex digits')
  const config = loadConfig(process.env)
  const log = createLogger(config.logLevel)
  const services = await createServices(config, log, { testTrustAnchors: { snpArks: [{ product: 'Milan', spkiSha256 }] } })
  await prepareAdminAccess(services, config.bootstrapAdminToken)
  const server = await listen(createApp({ config, services, log }), config, log)
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()))
  await server.close()
  await services.database.close()
}

main().catch((err: unknown) => {
  process.stderr.write(`snp-serve failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exitCode = 1
})
