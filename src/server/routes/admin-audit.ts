import { createRoute, z } from '@hono/zod-openapi'
import { checkpointNow, listAudit, verifyAudit } from '../../services/audit.js'
import { listCheckpoints } from '../../services/audit-checkpoints.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, TimestampSchema } from '../schemas/common.js'

const AuditEntry = z
  .object({
    id: z.string().openapi({ description: 'monotonic id (decimal string)' }),
    at: TimestampSchema,
    actor: z.string(),
    action: z.string(),
    subject: z.string(),
    outcome: z.string(),
    detail: z.record(z.string(), z.unknown()),
    prevHash: z.string(),
    hash: z.string(),
  })
  .openapi('AuditEntry')

const AuditQuery = z.object({
  after: z.string().regex(/^\d{1,18}$/, 'a decimal id').optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
})

const AuditVerification = z
  .object({
    ok: z.boolean(),
    entries: z.number().int(),
    keyed: z.boolean().openapi({ description: 'the chain is an HMAC under the audit key (format 2)' }),
    firstBadId: z.string().optional(),
    reason: z
      .string()
      .optional()
      .openapi({ description: 'hash-mismatch, broken-link, missing-entry, head-mismatch; truncated, checkpoint-mismatch, checkpoint-invalid' }),
    checkpoints: z.object({ checked: z.number().int(), latestHeadId: z.string().optional(), failedAt: z.string().optional() }),
  })
  .openapi('AuditVerification')

const AuditCheckpoint = z
  .object({
    id: z.string(),
    headId: z.string().openapi({ description: 'id of the last audit entry the checkpoint covers' }),
    headHash: z.string().openapi({ description: 'its hash (HMAC)' }),
    at: TimestampSchema,
    jws: z.string().openapi({ description: 'compact JWS (typ keybroker-audit-checkpoint+jws) signed with the token key; payload {iss, headId, headHash, at, format}' }),
  })
  .openapi('AuditCheckpoint')

const CheckpointQuery = z.object({
  after: z.string().regex(/^\d{1,15}$/, 'a decimal id').optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
})

const READERS: readonly AdminRole[] = ['admin', 'auditor']

export function registerAdminAuditRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const read = adminAuth({ services: s, roles: READERS })
  const base = { tags: ['admin: audit'], security: [{ adminToken: [] }] }

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/audit',
      summary: 'Read the hash-chained audit log, oldest first',
      middleware: [read] as const,
      request: { query: AuditQuery },
      responses: {
        200: {
          description: 'entries',
          content: { 'application/json': { schema: z.object({ entries: z.array(AuditEntry), next: z.string().optional() }) } },
        },
        ...ADMIN_ERRORS,
      },
    }),
    async (c) => {
      const q = c.req.valid('query')
      return c.json(await listAudit(s, q.after === undefined ? undefined : BigInt(q.after), q.limit), 200)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/audit/verify',
      summary: 'Verify the whole hash chain (detects changed, deleted or truncated entries)',
      middleware: [read] as const,
      responses: { 200: { description: 'result', content: { 'application/json': { schema: AuditVerification } } }, ...ADMIN_ERRORS },
    }),
    async (c) => c.json(await verifyAudit(s), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/audit/checkpoints',
      summary: 'Export the signed checkpoints of the audit chain, oldest first (keep them outside the database)',
      middleware: [read] as const,
      request: { query: CheckpointQuery },
      responses: {
        200: {
          description: 'checkpoints; the body is what `keybroker audit verify --checkpoint FILE` reads',
          content: { 'application/json': { schema: z.object({ checkpoints: z.array(AuditCheckpoint), next: z.string().optional() }) } },
        },
        ...ADMIN_ERRORS,
      },
    }),
    async (c) => {
      const q = c.req.valid('query')
      return c.json(await listCheckpoints(s, q.after === undefined ? undefined : Number(q.after), q.limit), 200)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/audit/checkpoints',
      summary: 'Sign and store a checkpoint of the current chain head now (audited as audit.checkpoint)',
      middleware: [adminAuth({ services: s, roles: ['admin'] })] as const,
      responses: { 201: { description: 'the checkpoint', content: { 'application/json': { schema: AuditCheckpoint } } }, ...ADMIN_ERRORS },
    }),
    async (c) => c.json(await checkpointNow(s, c.get('admin')), 201),
  )
}
