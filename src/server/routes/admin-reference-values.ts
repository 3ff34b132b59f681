import { createRoute, z } from '@hono/zod-openapi'
import {
  createReferenceValues,
  deleteReferenceValues,
  getReferenceValues,
  getReferenceValueVersion,
  listReferenceValues,
  listReferenceValueVersions,
  replaceReferenceValues,
  revokeReferenceValue,
} from '../../services/reference-value-admin.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, HexSchema, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'

const Provenance = z
  .object({ source: z.string().openapi({ description: '`admin`, `bundle` or `automata`' }) })
  .passthrough()
  .openapi('Provenance', {
    description: 'who entered the value: admin (`by` token id, `at`), a signed bundle (`signer` fingerprint, `bundleDigest`, `signedAt`, `bundle`, `bundleVersion`) or an Automata document (`signer`, `documentDigest`)',
  })

const ExpectedClaim = z
  .object({ claim: z.string().min(1).max(64) })
  .passthrough()
  .openapi('ExpectedClaim', {
    description:
      'one expected claim of the claim catalogue of the set\'s evidence type with one operator: `{"claim": "hostData", "equals": "<hex>"}`, `{"claim": "tcbStatus", "oneOf": ["UpToDate"]}`, `{"claim": "tcb.snp", "atLeast": 22}`, `{"claim": "ima", "files": [{"path" | "pattern": "…", "digests": ["<hex>"]}], "unknownFiles": "deny" | "warn"}`. Unknown claims or operators: 400 claim-unknown.',
  })
const Expect = z.array(ExpectedClaim).max(256)

const ReferenceValueSet = z
  .object({
    name: z.string(),
    version: z.number().int(),
    allowDebug: z.boolean(),
    evidenceType: z.string().nullable(),
    expect: z.array(z.unknown()),
    provenance: Provenance.nullable(),
    measurements: z.array(
      z.object({
        value: z.string(),
        createdAt: TimestampSchema,
        revokedAt: TimestampSchema.nullable(),
        revokeReason: z.string().nullable(),
        expect: z.array(z.unknown()),
        notBefore: TimestampSchema.nullable(),
        notAfter: TimestampSchema.nullable(),
        provenance: Provenance.nullable(),
      }),
    ),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  })
  .openapi('ReferenceValueSet')

const Measurements = z.array(HexSchema).min(1).max(1000)
const Time = z.iso.datetime({ offset: true }).openapi({ format: 'date-time' })
const Value = z
  .object({ measurement: HexSchema, notBefore: Time.optional(), notAfter: Time.optional(), expect: Expect.optional() })
  .strict()
  .openapi('ReferenceValue', { description: 'one value: a launch measurement with its own validity window and expected claims' })

const SetFields = {
  measurements: Measurements.optional(),
  values: z.array(Value).max(1000).optional(),
  allowDebug: z.boolean().default(false),
  evidenceType: z.string().min(1).max(64).optional().openapi({ description: 'the evidence type the set is for (snp, tdx, tpm, …); type-specific claims need it' }),
  expect: Expect.optional(),
}
const HAS_CONTENT = {
  message: 'give measurements, values or expected claims',
  path: ['measurements'],
}
const hasContent = (b: { measurements?: unknown[] | undefined; values?: unknown[] | undefined; expect?: unknown[] | undefined }) =>
  (b.measurements?.length ?? 0) + (b.values?.length ?? 0) + (b.expect?.length ?? 0) > 0

const CreateReferenceValues = z
  .object({ name: NameSchema, ...SetFields })
  .strict()
  .refine(hasContent, HAS_CONTENT)
  .openapi('CreateReferenceValueSet')

const ReplaceReferenceValues = z
  .object(SetFields)
  .strict()
  .refine(hasContent, HAS_CONTENT)
  .openapi('ReplaceReferenceValueSet')

const SetVersion = z
  .object({ version: z.number().int(), createdAt: TimestampSchema, set: z.record(z.string(), z.unknown()) })
  .openapi('ReferenceValueSetVersion')
const VersionParam = z.object({ name: NameSchema, version: z.coerce.number().int().min(1).max(2_147_483_647) })

const Revoke = z
  .object({
    measurement: HexSchema,
    reason: z.string().min(1).max(500),
    revokeCertificates: z.boolean().default(false).openapi({ description: 'also revoke every unexpired certificate issued on this value of this set (reason privilegeWithdrawn)' }),
  })
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
      description: 'A set names golden measurements (`measurements`, or `values` with validity windows and claims of their own) and claims every value expects (`expect`); `evidenceType` selects the claim catalogue (README, "Reference values").',
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
      responses: {
        200: json(ReferenceValueSet.extend({ revokedCertificates: z.array(z.string()).optional().openapi({ description: 'with revokeCertificates: the serials revoked' }) }), 'set after revocation'),
        ...ERRORS,
      },
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

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/reference-values/{name}/versions',
      summary: 'Every version of a set, newest first (snapshots)',
      middleware: [read] as const,
      request: { params: NameParam },
      responses: { 200: json(z.object({ versions: z.array(SetVersion) }), 'versions'), ...ERRORS },
    }),
    async (c) => c.json({ versions: await listReferenceValueVersions(s, c.req.valid('param').name) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/reference-values/{name}/versions/{version}',
      summary: 'One earlier (or the current) version of a set',
      middleware: [read] as const,
      request: { params: VersionParam },
      responses: { 200: json(SetVersion, 'version'), ...ERRORS },
    }),
    async (c) => {
      const { name, version } = c.req.valid('param')
      return c.json(await getReferenceValueVersion(s, name, version), 200)
    },
  )
}
