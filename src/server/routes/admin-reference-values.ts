import { createRoute, z } from '@hono/zod-openapi'
import {
  createReferenceValues,
  deleteReferenceValues,
  getReferenceValues,
  listReferenceValues,
  replaceReferenceValues,
  revokeReferenceValue,
} from '../../services/reference-value-admin.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, HexSchema, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'

const ReferenceValueSet = z
  .object({
    name: z.string(),
    version: z.number().int(),
    allowDebug: z.boolean(),
    measurements: z.array(
      z.object({
        value: z.string(),
        createdAt: TimestampSchema,
        revokedAt: TimestampSchema.nullable(),
        revokeReason: z.string().nullable(),
      }),
    ),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  })
  .openapi('ReferenceValueSet')

const Measurements = z.array(HexSchema).min(1).max(1000)

const CreateReferenceValues = z
  .object({ name: NameSchema, measurements: Measurements, allowDebug: z.boolean().default(false) })
  .strict()
  .openapi('CreateReferenceValueSet')

const ReplaceReferenceValues = z
  .object({ measurements: Measurements, allowDebug: z.boolean().default(false) })
  .strict()
  .openapi('ReplaceReferenceValueSet')

const Revoke = z
  .object({ measurement: HexSchema, reason: z.string().min(1).max(500) })
  .strict()
  .openapi('RevokeMeasurement')

const NameParam = z.object({ name: NameSchema })
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const ERRORS = {
  ...ADMIN_ERRORS,
  404: problemResponse('No such reference-value set or value'),
  415: problemResponse('Body is not application/json'),
}
const READERS: readonly AdminRole[] = ['admin', 'registrar', 'auditor']
const WRITERS: readonly AdminRole[] = ['admin', 'registrar']

export function registerAdminReferenceValueRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const read = adminAuth({ services: s, roles: READERS })
  const write = adminAuth({ services: s, roles: WRITERS })
  const base = { tags: ['admin: reference values'], security: [{ adminToken: [] }] }

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/reference-values',
      summary: 'Register a named set of golden measurements',
      middleware: [write] as const,
      request: { body: { required: true, content: { 'application/json': { schema: CreateReferenceValues } } } },
      responses: { 201: json(ReferenceValueSet, 'created'), ...ERRORS, 409: problemResponse('A set of that name exists') },
    }),
    async (c) => c.json(await createReferenceValues(s, c.req.valid('json'), c.get('admin')), 201),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/reference-values',
      summary: 'List reference-value sets',
      middleware: [read] as const,
      responses: { 200: json(z.object({ referenceValues: z.array(ReferenceValueSet) }), 'sets'), ...ERRORS },
    }),
    async (c) => c.json({ referenceValues: await listReferenceValues(s) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/reference-values/{name}',
      summary: 'Read one reference-value set',
      middleware: [read] as const,
      request: { params: NameParam },
      responses: { 200: json(ReferenceValueSet, 'set'), ...ERRORS },
    }),
    async (c) => c.json(await getReferenceValues(s, c.req.valid('param').name), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'put',
      path: '/admin/v1/reference-values/{name}',
      summary: 'Replace the measurements of a set (new version; revocations of kept values stay)',
      middleware: [write] as const,
      request: { params: NameParam, body: { required: true, content: { 'application/json': { schema: ReplaceReferenceValues } } } },
      responses: { 200: json(ReferenceValueSet, 'new version'), ...ERRORS },
    }),
    async (c) => c.json(await replaceReferenceValues(s, c.req.valid('param').name, c.req.valid('json'), c.get('admin')), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/reference-values/{name}/revoke',
      summary: 'Revoke one measurement; effective from the next request on every replica',
      middleware: [write] as const,
      request: { params: NameParam, body: { required: true, content: { 'application/json': { schema: Revoke } } } },
      responses: { 200: json(ReferenceValueSet, 'set after revocation'), ...ERRORS },
    }),
    async (c) => c.json(await revokeReferenceValue(s, c.req.valid('param').name, c.req.valid('json'), c.get('admin')), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'delete',
      path: '/admin/v1/reference-values/{name}',
      summary: 'Delete a reference-value set',
      middleware: [write] as const,
      request: { params: NameParam },
      responses: { 204: { description: 'deleted' }, ...ERRORS },
    }),
    async (c) => {
      await deleteReferenceValues(s, c.req.valid('param').name, c.get('admin'))
      return c.body(null, 204)
    },
  )
}
