import { createRoute, z } from '@hono/zod-openapi'
import {
  advertise,
  allowDisk,
  createSealingKey,
  deleteSealingKey,
  denyDisk,
  getSealingKey,
  listDeniedDisks,
  listSealingKeys,
  retireSealingKey,
  rotateSealingKey,
  setSealingKeyEnabled,
  updateSealingKeySettings,
} from '../../services/sealing-keys.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, COMMON_ERRORS, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'
import { ThumbprintSchema } from '../schemas/sealing.js'

const CurveSchema = z.enum(['P-256', 'P-521'])

const EcJwk = z
  .object({ kty: z.literal('EC'), crv: CurveSchema, x: z.string(), y: z.string() })
  .openapi('ExchangeKey', { description: 'public exchange key of a sealing key version' })

const SealingKeyMeta = z
  .object({
    name: z.string(),
    curve: CurveSchema,
    state: z.enum(['enabled', 'disabled']),
    currentVersion: z.number().int().openapi({ description: 'the advertised version' }),
    referenceValues: z.array(z.string()),
    policy: z.string().nullable().openapi({ description: 'release policy gating recovery; null: the default rule set' }),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
    versions: z.array(
      z.object({
        version: z.number().int(),
        kid: z.string().openapi({ description: 'RFC 7638 thumbprint of publicJwk; a bound disk names it' }),
        state: z.enum(['active', 'retired']),
        publicJwk: EcJwk,
        createdAt: TimestampSchema,
        retiredAt: TimestampSchema.nullable(),
      }),
    ),
  })
  .openapi('SealingKeyMetadata', { description: 'public data only: the private keys are never returned' })

const CreateSealingKey = z
  .object({
    name: NameSchema,
    curve: CurveSchema.default('P-256'),
    referenceValues: z.array(NameSchema).max(64),
    policy: NameSchema.optional().openapi({ description: 'a release policy (/admin/v1/policies); absent or "default": the default rule set' }),
  })
  .strict()
  .openapi('CreateSealingKey')

const UpdateSealingKey = z
  .object({
    referenceValues: z.array(NameSchema).max(64).optional(),
    policy: NameSchema.nullable().optional().openapi({ description: 'a release policy; null or "default": the default rule set' }),
  })
  .strict()
  .refine((b) => b.referenceValues !== undefined || b.policy !== undefined, { message: 'give referenceValues, policy or both' })
  .openapi('UpdateSealingKey')

const DenyDisk = z
  .object({
    disk: ThumbprintSchema.openapi({ description: 'disk identity: RFC 7638 thumbprint of the binding\'s ephemeral key C (from the audit log)' }),
    reason: z.string().min(1).max(512),
  })
  .strict()
  .openapi('DenyDisk')

const DeniedDiskSchema = z
  .object({ disk: z.string(), reason: z.string(), createdAt: TimestampSchema, createdBy: z.string() })
  .openapi('DeniedDisk')

const Advertisement = z
  .object({
    payload: z.string().openapi({ description: 'base64url of {"name", "keys": [exchange key (alg ECMR, key_ops deriveKey), signing key (key_ops verify)]}' }),
    protected: z.string().openapi({ description: 'base64url of {"alg", "kid", "cty": "jwk-set+json"}' }),
    signature: z.string(),
  })
  .openapi('SealingKeyAdvertisement', { description: 'RFC 7515 flattened JWS signed by the current token key' })

const NameParam = z.object({ name: NameSchema })
const VersionParam = z.object({ name: NameSchema, version: z.coerce.number().int().min(1).max(2_147_483_647) })
const DiskParam = z.object({ disk: ThumbprintSchema })
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const ERRORS = { ...ADMIN_ERRORS, 404: problemResponse('No such sealing key'), 415: problemResponse('Body is not application/json') }
const READERS: readonly AdminRole[] = ['admin', 'auditor']
const WRITERS: readonly AdminRole[] = ['admin']

/** Public advertisement + admin API of sealing keys and the disk deny-list (issue #8). */
export function registerSealingKeyRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const read = adminAuth({ services: s, roles: READERS })
  const write = adminAuth({ services: s, roles: WRITERS })
  const base = { tags: ['admin: sealing keys'], security: [{ adminToken: [] }] }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/sealing-keys/{name}',
      tags: ['disk unlock'],
      summary: 'Advertisement of a sealing key: its exchange key in a JWS signed by the token key (for binding)',
      request: { params: NameParam },
      responses: {
        200: { description: 'advertisement', content: { 'application/jose+json': { schema: Advertisement } } },
        ...COMMON_ERRORS,
        404: problemResponse('No such (enabled) sealing key'),
      },
    }),
    async (c) => {
      const adv = await advertise(s, c.req.valid('param').name)
      return c.json(adv, 200, { 'Content-Type': 'application/jose+json', 'Cache-Control': 'no-store' })
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/sealing-keys',
      summary: 'Create a sealing key (a fresh exchange key) gated by reference-value sets',
      middleware: [write] as const,
      request: { body: { required: true, content: { 'application/json': { schema: CreateSealingKey } } } },
      responses: { 201: json(SealingKeyMeta, 'created'), ...ERRORS, 409: problemResponse('A sealing key of that name exists') },
    }),
    async (c) => c.json(await createSealingKey(s, c.req.valid('json'), c.get('admin')), 201),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/sealing-keys',
      summary: 'List sealing keys',
      middleware: [read] as const,
      responses: { 200: json(z.object({ sealingKeys: z.array(SealingKeyMeta) }), 'sealing keys'), ...ERRORS },
    }),
    async (c) => c.json({ sealingKeys: await listSealingKeys(s) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/sealing-keys/{name}',
      summary: 'Read a sealing key (public data only)',
      middleware: [read] as const,
      request: { params: NameParam },
      responses: { 200: json(SealingKeyMeta, 'sealing key'), ...ERRORS },
    }),
    async (c) => c.json(await getSealingKey(s, c.req.valid('param').name), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'put',
      path: '/admin/v1/sealing-keys/{name}',
      summary: 'Replace the reference-value sets and/or the policy that gate recovery',
      middleware: [write] as const,
      request: { params: NameParam, body: { required: true, content: { 'application/json': { schema: UpdateSealingKey } } } },
      responses: { 200: json(SealingKeyMeta, 'updated'), ...ERRORS },
    }),
    async (c) => c.json(await updateSealingKeySettings(s, c.req.valid('param').name, c.req.valid('json'), c.get('admin')), 200),
  )

  for (const action of ['rotate', 'disable', 'enable'] as const) {
    app.openapi(
      createRoute({
        ...base,
        method: 'post',
        path: `/admin/v1/sealing-keys/{name}/${action}`,
        summary:
          action === 'rotate'
            ? 'New exchange key, advertised from now on; older versions still recover until retired'
            : action === 'disable'
              ? 'Refuse every recovery and the advertisement'
              : 'Recover and advertise again',
        middleware: [write] as const,
        request: { params: NameParam },
        responses: { 200: json(SealingKeyMeta, 'sealing key'), ...ERRORS, 409: problemResponse('Changed concurrently') },
      }),
      async (c) => {
        const name = c.req.valid('param').name
        const admin = c.get('admin')
        const meta =
          action === 'rotate' ? await rotateSealingKey(s, name, admin) : await setSealingKeyEnabled(s, name, action === 'enable', admin)
        return c.json(meta, 200)
      },
    )
  }

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/sealing-keys/{name}/versions/{version}/retire',
      summary: 'Retire an exchange key: disks bound to it no longer unlock (the current version cannot be retired)',
      middleware: [write] as const,
      request: { params: VersionParam },
      responses: { 200: json(SealingKeyMeta, 'sealing key'), ...ERRORS, 409: problemResponse('The version is current') },
    }),
    async (c) => {
      const { name, version } = c.req.valid('param')
      return c.json(await retireSealingKey(s, name, version, c.get('admin')), 200)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'delete',
      path: '/admin/v1/sealing-keys/{name}',
      summary: 'Delete a sealing key with every version (bound disks can then only be opened by other slots)',
      middleware: [write] as const,
      request: { params: NameParam },
      responses: { 204: { description: 'deleted' }, ...ERRORS },
    }),
    async (c) => {
      await deleteSealingKey(s, c.req.valid('param').name, c.get('admin'))
      return c.body(null, 204)
    },
  )

  const denyBase = { tags: ['admin: sealing keys'], security: [{ adminToken: [] }] }
  app.openapi(
    createRoute({
      ...denyBase,
      method: 'post',
      path: '/admin/v1/denied-disks',
      summary: 'Deny-list a disk identity (a stolen disk): its next recovery is refused',
      middleware: [write] as const,
      request: { body: { required: true, content: { 'application/json': { schema: DenyDisk } } } },
      responses: { 201: json(DeniedDiskSchema, 'deny-listed'), ...ADMIN_ERRORS, 409: problemResponse('Already deny-listed'), 415: problemResponse('Body is not application/json') },
    }),
    async (c) => c.json(await denyDisk(s, c.req.valid('json'), c.get('admin')), 201),
  )

  app.openapi(
    createRoute({
      ...denyBase,
      method: 'get',
      path: '/admin/v1/denied-disks',
      summary: 'List deny-listed disk identities',
      middleware: [read] as const,
      responses: { 200: json(z.object({ deniedDisks: z.array(DeniedDiskSchema) }), 'deny-list'), ...ADMIN_ERRORS },
    }),
    async (c) => c.json({ deniedDisks: await listDeniedDisks(s) }, 200),
  )

  app.openapi(
    createRoute({
      ...denyBase,
      method: 'delete',
      path: '/admin/v1/denied-disks/{disk}',
      summary: 'Remove a disk identity from the deny-list',
      middleware: [write] as const,
      request: { params: DiskParam },
      responses: { 204: { description: 'removed' }, ...ADMIN_ERRORS, 404: problemResponse('Not deny-listed') },
    }),
    async (c) => {
      await allowDisk(s, c.req.valid('param').disk, c.get('admin'))
      return c.body(null, 204)
    },
  )
}
