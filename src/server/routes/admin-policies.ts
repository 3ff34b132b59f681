import { createRoute, z } from '@hono/zod-openapi'
import {
  createPolicy,
  deletePolicy,
  explainPolicy,
  getPolicy,
  listPolicies,
  listPolicyVersionViews,
  updatePolicy,
} from '../../services/policy-admin.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, HexSchema, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'

const RuleName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_", "-"')
  .openapi({ example: 'guest-svn-at-least-3' })

const Rule = z
  .object({
    name: RuleName,
    expr: z.string().min(1).max(4096).openapi({ example: 'claims.raw.guestSvn >= 3' }),
    description: z.string().max(500).optional(),
  })
  .strict()
  .openapi('PolicyRule', { description: 'a named CEL expression over `claims`, `ear` and `request` that must evaluate to true' })

const PolicyBody = z
  .object({ description: z.string().max(1000).optional(), rules: z.array(Rule).min(1).max(64) })
  .strict()
  .openapi('PolicyInput')

const CreatePolicy = z
  .object({ name: NameSchema, description: z.string().max(1000).optional(), rules: z.array(Rule).min(1).max(64) })
  .strict()
  .openapi('CreatePolicy')

const Policy = z
  .object({
    name: z.string(),
    version: z.number().int(),
    description: z.string(),
    rules: z.array(z.object({ name: z.string(), expr: z.string(), description: z.string().optional() })),
    createdAt: TimestampSchema,
    createdBy: z.string(),
    secrets: z.array(z.string()).optional().openapi({ description: 'secrets guarded by this policy' }),
  })
  .openapi('Policy')

const RuleOutcome = z
  .object({
    rule: z.string(),
    passed: z.boolean(),
    reason: z.string(),
    error: z.string().optional().openapi({ description: 'why the rule failed closed (evaluation error)' }),
    values: z.record(z.string(), z.unknown()).optional().openapi({ description: 'the paths the rule reads and their values' }),
  })
  .openapi('RuleOutcome')

const ClaimsDocument = z
  .object({
    evidenceType: z.string().min(1).max(64),
    platform: z.string().max(64).optional(),
    measurement: HexSchema,
    debug: z.boolean().default(false),
    hardwareBacked: z.boolean().default(true),
    measurements: z.record(z.string().max(64), z.string().max(256)).optional(),
    tcb: z.record(z.string().max(64), z.union([z.number(), z.string().max(256)])).optional(),
    hostData: z.string().max(256).optional(),
    instanceId: z.string().max(256).optional(),
    raw: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .openapi('ClaimsDocument', { description: 'normalized claims as a verifier produces them (what a token carries)' })

const ExplainRequest = z
  .object({
    evidence: z.object({ type: z.string().min(1).max(64) }).passthrough().optional().openapi({ description: 'evidence, verified for real; the nonce binding is not checked' }),
    claims: ClaimsDocument.optional(),
    referenceValues: z.array(NameSchema).max(64).optional().openapi({ description: 'sets to appraise against (default: those of `secret`)' }),
    secret: NameSchema.optional().openapi({ description: 'use this secret\'s sets and state' }),
    version: z.number().int().min(1).optional().openapi({ description: 'explain this version (default: current)' }),
    request: z
      .object({ clientIp: z.string().max(64).optional(), time: z.iso.datetime({ offset: true }).optional(), via: z.enum(['attest', 'token']).optional() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((b) => (b.evidence === undefined) !== (b.claims === undefined), { message: 'give exactly one of evidence and claims', path: ['evidence'] })
  .openapi('ExplainRequest')

const ExplainResult = z
  .object({
    policy: z.object({ name: z.string(), version: z.number().int() }),
    allowed: z.boolean(),
    rules: z.array(RuleOutcome),
    appraisal: z.unknown().openapi({ description: 'status, trust vector, and per set: the value that matched (with provenance) and each expected claim: expected, actual, passed' }),
    claims: z.record(z.string(), z.unknown()),
    request: z.record(z.string(), z.unknown()),
  })
  .openapi('ExplainResult')

const NameParam = z.object({ name: NameSchema })
const VersionQuery = z.object({ version: z.coerce.number().int().min(1).max(2_147_483_647).optional() })
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const ERRORS = {
  ...ADMIN_ERRORS,
  404: problemResponse('No such policy (or secret, reference-value set, version)'),
  415: problemResponse('Body is not application/json'),
}
const READERS: readonly AdminRole[] = ['admin', 'registrar', 'auditor']
const WRITERS: readonly AdminRole[] = ['admin']
const EXPLAINERS: readonly AdminRole[] = ['admin', 'registrar']

/**
 * `/admin/v1/policies`: named, versioned release policies (CEL rules) and their dry run.
 * The dry run is `POST /admin/v1/policies/{name}/explain` (a path segment, as every other action).
 */
export function registerAdminPolicyRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const read = adminAuth({ services: s, roles: READERS })
  const write = adminAuth({ services: s, roles: WRITERS })
  const explain = adminAuth({ services: s, roles: EXPLAINERS })
  const base = { tags: ['admin: policies'], security: [{ adminToken: [] }] }

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/policies',
      summary: 'Create a release policy (rules compiled now: a bad rule is 400 policy-invalid naming it and its position)',
      middleware: [write] as const,
      request: { body: { required: true, content: { 'application/json': { schema: CreatePolicy } } } },
      responses: { 201: json(Policy, 'created'), ...ERRORS, 409: problemResponse('A policy of that name exists') },
    }),
    async (c) => {
      const { name, ...body } = c.req.valid('json')
      return c.json(await createPolicy(s, name, body, c.get('admin')), 201)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/policies',
      summary: 'List policies at their current version (the built-in `default` first)',
      middleware: [read] as const,
      responses: { 200: json(z.object({ policies: z.array(Policy) }), 'policies'), ...ERRORS },
    }),
    async (c) => c.json({ policies: await listPolicies(s) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/policies/{name}',
      summary: 'Read a policy (current version, or ?version=N)',
      middleware: [read] as const,
      request: { params: NameParam, query: VersionQuery },
      responses: { 200: json(Policy, 'policy'), ...ERRORS },
    }),
    async (c) => c.json(await getPolicy(s, c.req.valid('param').name, c.req.valid('query').version), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/policies/{name}/versions',
      summary: 'Every version of a policy, newest first',
      middleware: [read] as const,
      request: { params: NameParam },
      responses: { 200: json(z.object({ versions: z.array(Policy) }), 'versions'), ...ERRORS },
    }),
    async (c) => c.json({ versions: await listPolicyVersionViews(s, c.req.valid('param').name) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'put',
      path: '/admin/v1/policies/{name}',
      summary: 'New version of a policy; secrets that use it follow from the next request on',
      middleware: [write] as const,
      request: { params: NameParam, body: { required: true, content: { 'application/json': { schema: PolicyBody } } } },
      responses: { 200: json(Policy, 'new version'), ...ERRORS, 409: problemResponse('The built-in default policy cannot be replaced') },
    }),
    async (c) => c.json(await updatePolicy(s, c.req.valid('param').name, c.req.valid('json'), c.get('admin')), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'delete',
      path: '/admin/v1/policies/{name}',
      summary: 'Delete a policy that guards no secret',
      middleware: [write] as const,
      request: { params: NameParam },
      responses: { 204: { description: 'deleted' }, ...ERRORS, 409: problemResponse('The policy guards secrets') },
    }),
    async (c) => {
      await deletePolicy(s, c.req.valid('param').name, c.get('admin'))
      return c.body(null, 204)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/policies/{name}/explain',
      summary: 'Dry run: every rule with its result and the values it read, and the appraisal per claim',
      description:
        'Runs the policy (`default` for the built-in rules) against `evidence` (verified for real; the nonce binding is skipped) or a `claims` document, appraised against `referenceValues` or the sets of `secret`. Releases nothing.',
      middleware: [explain] as const,
      request: { params: NameParam, body: { required: true, content: { 'application/json': { schema: ExplainRequest } } } },
      responses: {
        200: json(ExplainResult, 'the trace'),
        ...ERRORS,
        403: problemResponse('The token lacks the role, or the evidence failed verification (its own problem type)'),
        422: problemResponse('Collateral needed to verify the evidence is missing'),
      },
    }),
    async (c) => {
      const { version, ...body } = c.req.valid('json')
      return c.json(await explainPolicy(s, c.req.valid('param').name, { ...body, version }, c.get('trace')), 200)
    },
  )
}

