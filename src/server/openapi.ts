import { loadConfig } from '../config/config.js'
import { createLogger } from '../log/logger.js'
import { createMetrics } from '../metrics/metrics.js'
import type { Services } from '../services/services.js'
import { createApp, type App } from './app.js'
import type { AppDeps } from './context.js'

export { API_VERSION, openApiDocument } from './openapi-document.js'

/**
 * Builds the app only to read its routes: services are not opened, and any handler that would
 * touch them fails loudly. Used by `npm run openapi` and the test that keeps openapi/ in sync.
 */
export function appForDocument(): App {
  const metrics = createMetrics()
  const services = new Proxy({} as Services, {
    get(_target, property) {
      // Routes count their requests; the document generator's app counts into a throwaway registry.
      if (property === 'metrics') return metrics
      throw new Error(`services.${String(property)} is not available while generating the OpenAPI document`)
    },
  })
  const deps: AppDeps = {
    config: loadConfig({ KEYBROKER_ISSUER: 'https://127.0.0.1:8443' }),
    services,
    log: createLogger('silent'),
  }
  return createApp(deps)
}
