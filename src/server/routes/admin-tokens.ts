import { createRoute, z } from '@hono/zod-openapi'
import { actorOf, createAdminToken, listAdminTokenViews, MAX_LABEL_LENGTH, revokeAdminTokenById } from '../../services/admin-tokens.js'
import { ADMIN_ROLES } from '../../storage/index.js'
import type { App } from '../app.js'
import type { AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, problemResponse, TimestampSchema } from '../schemas/common.js'

const TokenInfo = z
  .object({
    id: z.string(),
    role: z.enum(ADMIN_ROLES),
    label: z.string(),
    createdAt: TimestampSchema,
    expiresAt: TimestampSchema.nullable().openapi({ description: 'null: no expiry' }),
    revokedAt: TimestampSchema.nullable(),
  })
  .openapi('AdminToken', { description: 'an admin token without its secret (never returned after creation) or hash' })

const CreatedToken = z
  .object({
    id: z.string(),
    token: z.string().openapi({ description: 'the bearer token, shown this once' }),
    role: z.enum(ADMIN_ROLES),
    label: z.string(),
    createdAt: TimestampSchema,
    expiresAt: TimestampSchema.nullable(),
  })
  .openapi('CreatedAdminToken')

const CreateToken = z
  .object({
    role: z.enum(ADMIN_ROLES),
    label: z.string().max(MAX_LABEL_LENGTH),
    expiresAt: z.string().datetime({ offset: true }).optional().openapi({ description: 'RFC 3339; must be in the future; absent: no expiry' }),
  })
  .strict()
  .openapi('CreateAdminToken')

const IdParam = z.object({ id: z.string().min(1).max(64).regex(/^[A-Za-z0-9-]+$/, 'a token id') })
const RevokeQuery = z.object({
  force: z.enum(['true', 'false', '1', '0']).optional().openapi({ description: 'revoke even the last active admin token' }),
})

/** Admin credentials (README, "Admin tokens"): admin role only, every change audited. */
export function registerAdminTokenRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const admin = adminAuth({ services: s, roles: ['admin'] })
  const base = { tags: ['admin: tokens'], security: [{ adminToken: [] }] }

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/tokens',
      summary: 'Create an admin token with a role, a label and an optional expiry; the token is shown once',
      middleware: [admin] as const,
      request: { body: { required: true, content: { 'application/json': { schema: CreateToken } } } },
      responses: { 201: { description: 'created', content: { 'application/json': { schema: CreatedToken } } }, ...ADMIN_ERRORS },
    }),
    async (c) => {
      const b = c.req.valid('json')
      const created = await createAdminToken(s, b.role, b.label, actorOf(c.get('admin')), b.expiresAt === undefined ? undefined : new Date(b.expiresAt))
      const { revokedAt: _revoked, ...shown } = created
      return c.json(shown, 201)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/tokens',
      summary: 'List admin tokens, revoked and expired ones included (never a secret or hash)',
      middleware: [admin] as const,
      responses: { 200: { description: 'tokens', content: { 'application/json': { schema: z.object({ tokens: z.array(TokenInfo) }) } } }, ...ADMIN_ERRORS },
    }),
    async (c) => c.json({ tokens: await listAdminTokenViews(s) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'delete',
      path: '/admin/v1/tokens/{id}',
      summary: 'Revoke an admin token (401 from the next request on); the last active admin token only with ?force=true',
      middleware: [admin] as const,
      request: { params: IdParam, query: RevokeQuery },
      responses: {
        204: { description: 'revoked (or already revoked)' },
        404: problemResponse('No such token'),
        409: problemResponse('The last active admin token, without force'),
        ...ADMIN_ERRORS,
      },
    }),
    async (c) => {
      const force = c.req.valid('query').force
      await revokeAdminTokenById(s, c.req.valid('param').id, actorOf(c.get('admin')), { force: force === 'true' || force === '1' })
      return c.body(null, 204)
    },
  )
}
