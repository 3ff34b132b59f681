import { loadConfig } from '../config/config.js'
import { createLogger } from '../log/logger.js'
import type { Services } from '../services/services.js'
import { createApp, type App } from './app.js'
import type { AppDeps } from './context.js'

export const API_VERSION = '1.0.0'

/** The OpenAPI 3.1 document of every route, generated from the route schemas. */
export function openApiDocument(app: App): ReturnType<App['getOpenAPI31Document']> {
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'keybroker',
      version: API_VERSION,
      description:
        'Remote attestation key broker: verifies confidential-VM and TPM evidence and releases secrets sealed as JWE to the attested key. Errors are RFC 9457 problem documents.',
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    servers: [{ url: 'https://127.0.0.1:8443', description: 'default development listener' }],
  })
}

/**
 * Builds the app only to read its routes: services are not opened, and any handler that would
 * touch them fails loudly. Used by `npm run openapi` and the test that keeps openapi/ in sync.
 */
export function appForDocument(): App {
  const services = new Proxy({} as Services, {
    get(_target, property) {
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
