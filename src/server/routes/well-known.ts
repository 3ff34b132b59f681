import { createRoute, z } from '@hono/zod-openapi'
import { EVIDENCE_TYPES } from '../../evidence/index.js'
import type { App } from '../app.js'
import type { AppDeps } from '../context.js'

const JwksSchema = z
  .object({ keys: z.array(z.record(z.string(), z.unknown())) })
  .openapi('Jwks')

const DiscoverySchema = z
  .object({
    issuer: z.string(),
    jwks_uri: z.string(),
    token_signing_alg_values_supported: z.array(z.string()),
    challenge_endpoint: z.string(),
    attestation_endpoint: z.string(),
    secrets_endpoint: z.string(),
    evidence_types_supported: z.array(z.string()),
    jwe_alg_values_supported: z.array(z.string()),
    jwe_enc_values_supported: z.array(z.string()),
  })
  .openapi('Discovery')

const jwks = createRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  tags: ['tokens'],
  summary: 'Public keys that verify attestation result tokens (EAR JWTs)',
  responses: { 200: { description: 'JWK set', content: { 'application/json': { schema: JwksSchema } } } },
})

const discovery = createRoute({
  method: 'get',
  path: '/.well-known/openid-configuration',
  tags: ['tokens'],
  summary: 'OpenID-style discovery document for relying parties',
  responses: { 200: { description: 'discovery document', content: { 'application/json': { schema: DiscoverySchema } } } },
})

export function registerWellKnownRoutes(app: App, deps: AppDeps): void {
  const { issuer } = deps.config
  app.openapi(jwks, (c) => c.json(deps.services.keys.jwks(), 200))
  app.openapi(discovery, (c) =>
    c.json(
      {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        token_signing_alg_values_supported: [deps.config.tokenAlg],
        challenge_endpoint: `${issuer}/v1/challenge`,
        attestation_endpoint: `${issuer}/v1/attest`,
        secrets_endpoint: `${issuer}/v1/secrets/{name}`,
        evidence_types_supported: EVIDENCE_TYPES.filter((t) => t !== 'sample' || deps.config.allowSampleEvidence),
        jwe_alg_values_supported: ['ECDH-ES+A256KW', 'RSA-OAEP-256'],
        jwe_enc_values_supported: ['A256GCM'],
      },
      200,
    ),
  )
}
