import { createRoute, z } from '@hono/zod-openapi'
import type { SchemaObject } from 'openapi3-ts/oas31'
import { toJSONSchema } from 'zod'
import { EVIDENCE_SCHEMAS } from '../../evidence/index.js'
import { attest, fetchSecret, issueChallenge, verifyEvidence } from '../../services/attestation.js'
import type { App } from '../app.js'
import type { AppDeps } from '../context.js'
import { clientIp } from '../client-ip.js'
import { bearerEar } from '../ear-bearer.js'
import { COMMON_ERRORS, JwkSchema, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'
import { CertificateRequestSchema, IssuedCertificateSchema } from '../schemas/certificates.js'
import { ThumbprintSchema } from '../schemas/sealing.js'

const ChallengeRequest = z
  .object({
    publicKey: JwkSchema.optional(),
  })
  .strict()
  .openapi('ChallengeRequest', { description: 'optional publicKey: the key the evidence will bind; the answer then carries agentNonce' })
const ChallengeResponse = z
  .object({
    nonce: z.string().openapi({ description: 'opaque, MAC-protected, single use; base64url' }),
    expiresAt: TimestampSchema,
    agentNonce: z
      .string()
      .optional()
      .openapi({ description: 'with publicKey: base64url of the first 32 bytes of the binding, the nonce to give an agent that binds its own (README, "Binding profiles")' }),
  })
  .openapi('Challenge')

/** `az-snp-vtpm` → `AzSnpVtpmEvidence`: the component documenting one evidence type. */
const evidenceComponent = (type: string): string => `${type.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')}Evidence`

// Validated here only as "an object with a type"; the verifier of that type validates the rest
// with its own schema. The document shows the real shape: one of the registered types.
const EvidenceSchema = z
  .object({ type: z.string().min(1).max(64).openapi({ example: 'snp' }) })
  .passthrough()
  .openapi('Evidence', {
    description: 'evidence of one registered type, chosen by `type` (see README, "Evidence types"); `sample` is refused unless enabled',
    oneOf: [...EVIDENCE_SCHEMAS.keys()].map((type) => ({ $ref: `#/components/schemas/${evidenceComponent(type)}` })),
    discriminator: {
      propertyName: 'type',
      mapping: Object.fromEntries([...EVIDENCE_SCHEMAS.keys()].map((type) => [type, `#/components/schemas/${evidenceComponent(type)}`])),
    },
  })

/** Disk unlock through a sealing key (issue #8): the blinded McCallum-Relyea exchange. */
const RecoverSchema = z
  .object({
    sealingKey: NameSchema.openapi({ description: 'name of the sealing key the disk is bound to' }),
    kid: ThumbprintSchema.openapi({ description: 'thumbprint of the exchange key (the bound JWE\'s `kid`)' }),
    x: JwkSchema.openapi({ description: 'X = C + E: the disk\'s ephemeral key C blinded by a fresh key E; keybroker returns s·X' }),
    disk: ThumbprintSchema.openapi({ description: 'disk identity: RFC 7638 thumbprint of C (audit, deny-list)' }),
  })
  .strict()
  .openapi('Recover')

const AttestRequest = z
  .object({
    nonce: z.string().min(1).max(512),
    evidence: EvidenceSchema,
    publicKey: JwkSchema,
    release: z.array(NameSchema).max(32).default([]),
    recover: RecoverSchema.optional(),
    certificates: z.array(CertificateRequestSchema).max(8).optional().openapi({ description: 'certificates for publicKey, issued in the same round (the CSR\'s key must be publicKey)' }),
    token: z
      .boolean()
      .optional()
      .openapi({
        description:
          '`false`: the answer carries no EAR token (none is signed), for clients that only open the JWEs of the answer, such as the clevis pin; not with `certificates`. Default `true`',
      }),
  })
  .strict()
  .openapi('AttestRequest')

const VerifyRequest = z
  .object({
    nonce: z.string().min(1).max(512),
    evidence: EvidenceSchema,
    publicKey: JwkSchema.optional(),
  })
  .strict()
  .openapi('VerifyRequest')

const VerifyResponse = z
  .object({ token: z.string().openapi({ description: 'EAR JWT of the verdict; cnf.jwk is the attested key when publicKey was sent' }) })
  .openapi('VerifyResult')

const AttestResponse = z
  .object({
    token: z.string().optional().openapi({ description: 'EAR JWT; cnf.jwk is the attested public key. Absent only when the request said `"token": false`' }),
    secrets: z.record(z.string(), z.string()).openapi({ description: 'name → compact JWE to publicKey' }),
    recovered: z.string().optional().openapi({ description: 'with `recover`: compact JWE to publicKey of the public JWK s·X (cty jwk+json)' }),
    certificates: z.array(IssuedCertificateSchema).optional().openapi({ description: 'with `certificates`: one per request, in order' }),
  })
  .openapi('AttestResult')

const SecretResponse = z
  .object({ name: z.string(), version: z.number().int(), jwe: z.string() })
  .openapi('ReleasedSecret')

const ATTEST_ERRORS = {
  ...COMMON_ERRORS,
  403: problemResponse('Evidence verified but not acceptable, or a release policy denied (failedRules lists why)'),
  404: problemResponse('A requested secret does not exist'),
  409: problemResponse('Nonce already used'),
  415: problemResponse('Body is not application/json'),
  422: problemResponse('Collateral needed to verify the evidence is missing'),
} as const

const challenge = createRoute({
  method: 'post',
  path: '/v1/challenge',
  tags: ['attestation'],
  summary: 'Get a fresh nonce to bind into evidence',
  request: { body: { required: false, content: { 'application/json': { schema: ChallengeRequest } } } },
  responses: {
    200: { description: 'nonce', content: { 'application/json': { schema: ChallengeResponse } } },
    ...COMMON_ERRORS,
  },
})

const attestRoute = createRoute({
  method: 'post',
  path: '/v1/attest',
  tags: ['attestation'],
  summary: 'Verify evidence bound to nonce + public key; release secrets as JWE',
  request: { body: { required: true, content: { 'application/json': { schema: AttestRequest } } } },
  responses: {
    200: { description: 'token and released secrets', content: { 'application/json': { schema: AttestResponse } } },
    ...ATTEST_ERRORS,
  },
})

const verifyRoute = createRoute({
  method: 'post',
  path: '/v1/verify',
  tags: ['attestation'],
  summary: 'Verify and appraise evidence bound to nonce (+ public key); answer the EAR, release nothing',
  request: { body: { required: true, content: { 'application/json': { schema: VerifyRequest } } } },
  responses: {
    200: { description: 'the verdict as an EAR', content: { 'application/json': { schema: VerifyResponse } } },
    ...COMMON_ERRORS,
    403: problemResponse('Evidence not acceptable, or the default rules failed (failedRules lists why)'),
    409: problemResponse('Nonce already used'),
    415: problemResponse('Body is not application/json'),
    422: problemResponse('Collateral needed to verify the evidence is missing'),
  },
})

const secretRoute = createRoute({
  method: 'get',
  path: '/v1/secrets/{name}',
  tags: ['attestation'],
  summary: 'Fetch one more secret with an attestation result token',
  security: [{ ear: [] }],
  request: { params: z.object({ name: NameSchema }) },
  responses: {
    200: { description: 'secret sealed to the token cnf key', content: { 'application/json': { schema: SecretResponse } } },
    ...ATTEST_ERRORS,
    401: problemResponse('Missing, invalid or expired token'),
  },
})

export function registerAttestRoutes(app: App, deps: AppDeps): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'ear', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  // The evidence of each type is validated by its verifier's own schema (plain zod, not the
  // OpenAPI-extended instance); documented here from its JSON Schema.
  for (const [type, schema] of EVIDENCE_SCHEMAS) {
    const { $schema: _dialect, $defs: defs, ...doc } = toJSONSchema(schema, { io: 'input', unrepresentable: 'any' })
    // Shared or recursive parts come out as `$defs` with refs relative to the schema's own root,
    // which an OpenAPI document cannot resolve: each becomes a component of its own.
    const name = evidenceComponent(type)
    const renamed = new Map(Object.keys(defs ?? {}).map((def, i) => [`#/$defs/${def}`, `#/components/schemas/${name}Part${i}`]))
    const relink = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(relink)
        : typeof value === 'object' && value !== null
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? (renamed.get(v) ?? v) : relink(v)]))
          : value
    for (const [def, part] of Object.entries(defs ?? {})) {
      const ref = renamed.get(`#/$defs/${def}`) ?? ''
      // A recursive part (a protojson value) is documented as any JSON value: generators such
      // as openapi-typescript cannot type a union that contains itself.
      const recursive = JSON.stringify(part).includes(`"#/$defs/${def}"`)
      app.openAPIRegistry.registerComponent('schemas', ref.split('/').pop() ?? def, recursive ? { description: 'any JSON value' } : (relink(part) as SchemaObject))
    }
    app.openAPIRegistry.registerComponent('schemas', name, relink(doc) as SchemaObject)
  }

  app.openapi(challenge, async (c) => {
    const body = c.req.valid('json')
    const { nonce, expiresAt, agentNonce } = await issueChallenge(deps.services, body?.publicKey)
    return c.json({ nonce, expiresAt: expiresAt.toISOString(), ...(agentNonce === undefined ? {} : { agentNonce }) }, 200)
  })

  app.openapi(attestRoute, async (c) => {
    const body = c.req.valid('json')
    const result = await attest(deps.services, body, c.get('requestId'), { clientIp: clientIp(c), trace: c.get('trace') })
    return c.json(result, 200)
  })

  app.openapi(verifyRoute, async (c) => {
    const body = c.req.valid('json')
    return c.json(await verifyEvidence(deps.services, body, c.get('requestId'), { clientIp: clientIp(c), trace: c.get('trace') }), 200)
  })

  app.openapi(secretRoute, async (c) => {
    const result = await fetchSecret(deps.services, bearerEar(c.req.header('Authorization')), c.req.valid('param').name, c.get('requestId'), { clientIp: clientIp(c) })
    return c.json(result, 200)
  })
}
