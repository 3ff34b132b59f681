import type { App } from './app.js'

export const API_VERSION = '1.0.0'

type Document = ReturnType<App['getOpenAPI31Document']>
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const

/**
 * The OpenAPI 3.1 document of every route, generated from the route schemas, with two rules
 * applied in this one place so that no route can miss them:
 * - a route that declares no `security` is public and says so (`security: []`);
 * - every operation has an `operationId`: its own, else one derived from method and path
 *   (`GET /admin/v1/secrets/{name}` → `getAdminSecretsByName`), stable while the path is.
 */
export function openApiDocument(app: App): Document {
  // A copy: the generator hands out the route definitions' own objects, which must stay as written.
  const doc = structuredClone(app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'keybroker',
      version: API_VERSION,
      description:
        'Remote attestation key broker: verifies confidential-VM and TPM evidence and releases secrets sealed as JWE to the attested key. Errors are RFC 9457 problem documents.',
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    servers: [{ url: 'https://127.0.0.1:8443', description: 'default development listener' }],
  }))
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item?.[method]
      if (operation === undefined) continue
      operation.operationId ??= operationIdOf(method, path)
      operation.security ??= []
    }
  }
  return doc
}

function operationIdOf(method: string, path: string): string {
  const words = path
    .split('/')
    .filter((segment) => segment !== '' && segment !== 'v1')
    .map((segment) => {
      const param = /^\{(.+)\}$/.exec(segment)?.[1]
      return param === undefined ? pascal(segment) : `By${pascal(param)}`
    })
  return `${method}${words.join('')}`
}

function pascal(text: string): string {
  return text
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')
}
