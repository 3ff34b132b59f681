import { createRoute, z } from '@hono/zod-openapi'
import {
  createSecret,
  deleteSecret,
  getSecret,
  listSecrets,
  rotateSecret,
  setSecretEnabled,
  setSecretPolicyOf,
  updateSecret,
} from '../../services/secret-admin.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'

const MAX_SECRET_BYTES = 64 * 1024

const ValueSchema = z
  .string()
  .min(1)
  .max(Math.ceil((MAX_SECRET_BYTES * 4) / 3))
  .regex(/^[A-Za-z0-9_-]+$/, 'base64url without padding')
  .openapi({ description: `the secret bytes, base64url (at most ${MAX_SECRET_BYTES} bytes)` })

const GenerateSchema = z
  .object({ bytes: z.number().int().min(16).max(4096) })
  .strict()
  .openapi('Generate', { description: 'generate random bytes server-side (e.g. a LUKS key of 64 bytes)' })

const SecretMeta = z
  .object({
    name: z.string(),
    kind: z.enum(['opaque', 'luks']),
    version: z.number().int(),
    state: z.enum(['enabled', 'disabled']),
    referenceValues: z.array(z.string()),
    policy: z.string().nullable().openapi({ description: 'the release policy; null: the default rule set' }),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  })
  .openapi('SecretMetadata', { description: 'metadata only: the value is never returned' })

const AttachPolicy = z
  .object({ policy: NameSchema.nullable().openapi({ description: 'a policy name; null or "default": the default rule set' }) })
  .strict()
  .openapi('AttachPolicy')

const exactlyOneValue = (b: { value?: string | undefined; generate?: unknown }) => (b.value === undefined) !== (b.generate === undefined)
const ONE_VALUE = { message: 'give exactly one of value and generate', path: ['value'] }

const CreateSecret = z
  .object({
    name: NameSchema,
    kind: z.enum(['opaque', 'luks']).default('opaque'),
    value: ValueSchema.optional(),
    generate: GenerateSchema.optional(),
    referenceValues: z.array(NameSchema).max(64),
    policy: NameSchema.optional().openapi({ description: 'the release policy (default: the default rule set)' }),
  })
  .strict()
  .refine(exactlyOneValue, ONE_VALUE)
  .openapi('CreateSecret')

const UpdateSecret = z
  .object({
    value: ValueSchema.optional(),
    generate: GenerateSchema.optional(),
    referenceValues: z.array(NameSchema).max(64).optional(),
  })
  .strict()
  .refine(exactlyOneValue, ONE_VALUE)
  .openapi('UpdateSecret')

const NameParam = z.object({ name: NameSchema })
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const ERRORS = { ...ADMIN_ERRORS, 404: problemResponse('No such secret'), 415: problemResponse('Body is not application/json') }
const READERS: readonly AdminRole[] = ['admin', 'auditor']
const WRITERS: readonly AdminRole[] = ['admin']

export function registerAdminSecretRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const read = adminAuth({ services: s, roles: READERS })
  const write = adminAuth({ services: s, roles: WRITERS })
  const base = { tags: ['admin: secrets'], security: [{ adminToken: [] }] }
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer' })

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/secrets',
      summary: 'Create a secret (given or generated value) guarded by reference-value sets',
      middleware: [write] as const,
      request: { body: { required: true, content: { 'application/json': { schema: CreateSecret } } } },
      responses: { 201: json(SecretMeta, 'created'), ...ERRORS, 409: problemResponse('A secret of that name exists') },
    }),
    async (c) => c.json(await createSecret(s, c.req.valid('json'), c.get('admin')), 201),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/secrets',
      summary: 'List secret metadata',
      middleware: [read] as const,
      responses: { 200: json(z.object({ secrets: z.array(SecretMeta) }), 'secrets'), ...ERRORS },
    }),
    async (c) => c.json({ secrets: await listSecrets(s) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/secrets/{name}',
      summary: 'Read secret metadata (never the value)',
      middleware: [read] as const,
      request: { params: NameParam },
      responses: { 200: json(SecretMeta, 'metadata'), ...ERRORS },
    }),
    async (c) => c.json(await getSecret(s, c.req.valid('param').name), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'put',
      path: '/admin/v1/secrets/{name}',
      summary: 'Store a new version of the value (and optionally new reference values)',
      middleware: [write] as const,
      request: { params: NameParam, body: { required: true, content: { 'application/json': { schema: UpdateSecret } } } },
      responses: { 200: json(SecretMeta, 'new version'), ...ERRORS },
    }),
    async (c) => c.json(await updateSecret(s, c.req.valid('param').name, c.req.valid('json'), c.get('admin')), 200),
  )

  for (const action of ['rotate', 'disable', 'enable'] as const) {
    app.openapi(
      createRoute({
        ...base,
        method: 'post',
        path: `/admin/v1/secrets/{name}/${action}`,
        summary:
          action === 'rotate'
            ? 'New version with fresh random bytes of the same length'
            : action === 'disable'
              ? 'Stop releasing the secret'
              : 'Release the secret again',
        middleware: [write] as const,
        request: { params: NameParam },
        responses: { 200: json(SecretMeta, 'metadata'), ...ERRORS },
      }),
      async (c) => {
        const name = c.req.valid('param').name
        const admin = c.get('admin')
        const meta =
          action === 'rotate' ? await rotateSecret(s, name, admin) : await setSecretEnabled(s, name, action === 'enable', admin)
        return c.json(meta, 200)
      },
    )
  }

  app.openapi(
    createRoute({
      ...base,
      method: 'delete',
      path: '/admin/v1/secrets/{name}',
      summary: 'Delete a secret and all its versions',
      middleware: [write] as const,
      request: { params: NameParam },
      responses: { 204: { description: 'deleted' }, ...ERRORS },
    }),
    async (c) => {
      await deleteSecret(s, c.req.valid('param').name, c.get('admin'))
      return c.body(null, 204)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/secrets/{name}/policy',
      summary: 'Attach a release policy to a secret (or go back to the default rules); effective on the next request',
      middleware: [write] as const,
      request: { params: NameParam, body: { required: true, content: { 'application/json': { schema: AttachPolicy } } } },
      responses: { 200: json(SecretMeta, 'metadata'), ...ERRORS },
    }),
    async (c) => c.json(await setSecretPolicyOf(s, c.req.valid('param').name, c.req.valid('json').policy, c.get('admin')), 200),
  )
}
