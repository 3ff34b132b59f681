import { createRoute, z } from '@hono/zod-openapi'
import { provisionCosmianAgent, verifyCosmianAgent } from '../../services/cosmian/pull.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, NameSchema, problemResponse } from '../schemas/common.js'

const AgentUrl = z
  .string()
  .min(9)
  .max(2048)
  .openapi({ description: 'the Cosmian VM agent: https://HOST[:PORT] (default port of the agent: 5555)', example: 'https://cvm.example:5555' })

const Verification = z
  .object({
    agentUrl: AgentUrl,
    referenceValues: z.array(NameSchema).min(1).max(16).openapi({ description: 'the reference-value sets to appraise against (an imported Cosmian snapshot)' }),
  })
  .strict()
  .openapi('CosmianVerificationRequest')

const Provision = Verification.extend({ secret: NameSchema.openapi({ description: "the secret whose current version is pushed to the agent's POST /app/init" }) })
  .strict()
  .openapi('CosmianProvisionRequest')

const Report = z
  .object({
    agent: z.object({ url: z.string(), certificateSha256: z.string().openapi({ description: 'SHA-256 of the agent certificate pinned and attested in this session' }) }),
    binding: z.string().openapi({ description: 'the binding rule that held: cosmian-agent or cosmian-ratls' }),
    evidence: z.record(z.string(), z.unknown()),
    rules: z.array(z.object({ rule: z.string(), passed: z.boolean(), reason: z.string() })),
    appraisal: z.unknown().openapi({ description: 'per set and per claim: expected, actual, passed (as policies :explain shows it)' }),
  })
  .openapi('CosmianReport')

const VerificationResult = z
  .object({
    passed: z.boolean(),
    token: z.string().optional().openapi({ description: 'EAR JWT (keyless) when the verification passed' }),
    report: Report,
  })
  .openapi('CosmianVerification')

const ProvisionResult = VerificationResult.extend({ provisioned: z.object({ secret: z.string(), version: z.number().int() }) }).openapi('CosmianProvision')

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } })
const ERRORS = {
  ...ADMIN_ERRORS,
  404: problemResponse('No such reference-value set or secret'),
  422: problemResponse('The evidence did not verify or did not bind (evidence-malformed, signature-invalid, binding-mismatch, …)'),
  502: problemResponse('The agent did not answer as expected (agent-unreachable)'),
}
const ADMINS: readonly AdminRole[] = ['admin']

/** `/admin/v1/cosmian/…`: keybroker pulls from a Cosmian VM agent (verification) and pushes its app secret (provisioning). Admin only. */
export function registerAdminCosmianRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const admin = adminAuth({ services: s, roles: ADMINS })
  const base = { security: [{ adminToken: [] }], tags: ['admin: cosmian'] }

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/cosmian/verifications',
      summary: 'Verify a running Cosmian VM through its agent (fresh nonce, pinned certificate) against reference values',
      middleware: [admin] as const,
      request: { body: { required: true, content: { 'application/json': { schema: Verification } } } },
      responses: { 200: json(VerificationResult, 'the verification ran: passed or not, with the report'), ...ERRORS },
    }),
    async (c) => c.json(await verifyCosmianAgent(s, c.req.valid('json'), c.get('requestId'), c.get('admin'), c.get('trace')), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/cosmian/provisions',
      summary: "Verify a Cosmian VM, then push a secret to its agent's /app/init over the attested connection",
      middleware: [admin] as const,
      request: { body: { required: true, content: { 'application/json': { schema: Provision } } } },
      responses: { 200: json(ProvisionResult, 'verified and pushed'), ...ERRORS, 403: problemResponse('Verification or the release policy failed (policy-denied): nothing was pushed') },
    }),
    async (c) => c.json(await provisionCosmianAgent(s, c.req.valid('json'), c.get('requestId'), c.get('admin'), c.get('trace')), 200),
  )
}
