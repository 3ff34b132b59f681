import { createRoute, z } from '@hono/zod-openapi'
import { deleteAk, deleteCa, getAk, getCa, listAks, listCas, registerAk, registerCa } from '../../services/tpm-trust.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'

const TpmAk = z
  .object({
    id: z.string().openapi({ description: 'SHA-256 of the DER SubjectPublicKeyInfo, hex: the AK id evidence is matched by' }),
    name: z.string(),
    source: z.enum(['registered', 'enrolled']),
    publicKey: z.string().openapi({ description: 'PEM SubjectPublicKeyInfo' }),
    tpmName: z.string().nullable().openapi({ description: 'TPM Name (nameAlg ‖ digest of TPMT_PUBLIC), hex, when the public area is known' }),
    ekCertificateSha256: z.string().nullable().openapi({ description: 'enrolled AKs: SHA-256 of the EK certificate they were activated against' }),
    createdAt: TimestampSchema,
    createdBy: z.string(),
  })
  .openapi('TpmAk')

const RegisterAk = z
  .object({
    name: NameSchema,
    publicKey: z
      .string()
      .min(1)
      .max(4096)
      .openapi({ description: 'TPM2B_PUBLIC or TPMT_PUBLIC (tpm2_createak -u) or DER SPKI, base64; or PEM (tpm2_createak -f pem)' }),
  })
  .strict()
  .openapi('RegisterTpmAk')

const TpmCa = z
  .object({
    name: z.string(),
    purpose: z.enum(['ek', 'ak']),
    subject: z.string(),
    sha256: z.string().openapi({ description: 'SHA-256 of the DER certificate, hex' }),
    notAfter: TimestampSchema,
    certificate: z.string().openapi({ description: 'PEM' }),
    createdAt: TimestampSchema,
    createdBy: z.string(),
  })
  .openapi('TpmCa')

const RegisterCa = z
  .object({
    name: NameSchema,
    purpose: z.enum(['ek', 'ak']).openapi({ description: '`ek`: TPM manufacturer CA (enrollment); `ak`: CA issuing AK certificates (cloud vTPMs)' }),
    certificate: z.string().min(1).max(65_536).openapi({ description: 'one CA certificate, PEM or base64 DER' }),
  })
  .strict()
  .openapi('RegisterTpmCa')

const IdParam = z.object({ id: z.string().regex(/^[0-9a-f]{64}$/, 'an AK id: 64 hex digits') })
const NameParam = z.object({ name: NameSchema })
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const ERRORS = {
  ...ADMIN_ERRORS,
  404: problemResponse('No such AK or CA'),
  415: problemResponse('Body is not application/json'),
}
const READERS: readonly AdminRole[] = ['admin', 'registrar', 'auditor']
const AK_WRITERS: readonly AdminRole[] = ['admin', 'registrar']
const CA_WRITERS: readonly AdminRole[] = ['admin']

/**
 * The TPM trust registry: attestation keys a registrar vouches for (`/admin/v1/tpm/aks`) and the
 * CAs that certify EKs (enrollment) and AKs (`/admin/v1/tpm/cas`, admin only: a CA vouches for
 * every key it certifies).
 */
export function registerAdminTpmRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const read = adminAuth({ services: s, roles: READERS })
  const writeAk = adminAuth({ services: s, roles: AK_WRITERS })
  const writeCa = adminAuth({ services: s, roles: CA_WRITERS })
  const base = { tags: ['admin: TPM trust'], security: [{ adminToken: [] }] }

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/tpm/aks',
      summary: 'Register a TPM attestation key (201; 200 when the key was already registered or enrolled)',
      middleware: [writeAk] as const,
      request: { body: { required: true, content: { 'application/json': { schema: RegisterAk } } } },
      responses: { 201: json(TpmAk, 'registered'), 200: json(TpmAk, 'already known (unchanged)'), ...ERRORS },
    }),
    async (c) => {
      const { created, ak } = await registerAk(s, c.req.valid('json'), c.get('admin'))
      return created ? c.json(ak, 201) : c.json(ak, 200)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/tpm/aks',
      summary: 'List registered and enrolled TPM attestation keys',
      middleware: [read] as const,
      responses: { 200: json(z.object({ aks: z.array(TpmAk) }), 'AKs'), ...ERRORS },
    }),
    async (c) => c.json({ aks: await listAks(s) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/tpm/aks/{id}',
      summary: 'Read one TPM attestation key',
      middleware: [read] as const,
      request: { params: IdParam },
      responses: { 200: json(TpmAk, 'AK'), ...ERRORS },
    }),
    async (c) => c.json(await getAk(s, c.req.valid('param').id), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'delete',
      path: '/admin/v1/tpm/aks/{id}',
      summary: 'Stop trusting a TPM attestation key (from the next request on)',
      middleware: [writeAk] as const,
      request: { params: IdParam },
      responses: { 204: { description: 'deleted' }, ...ERRORS },
    }),
    async (c) => {
      await deleteAk(s, c.req.valid('param').id, c.get('admin'))
      return c.body(null, 204)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/tpm/cas',
      summary: 'Register a TPM manufacturer CA (EK certificates) or an AK CA',
      middleware: [writeCa] as const,
      request: { body: { required: true, content: { 'application/json': { schema: RegisterCa } } } },
      responses: { 201: json(TpmCa, 'registered'), ...ERRORS, 409: problemResponse('A CA of that name exists') },
    }),
    async (c) => c.json(await registerCa(s, c.req.valid('json'), c.get('admin')), 201),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/tpm/cas',
      summary: 'List TPM CAs',
      middleware: [read] as const,
      request: { query: z.object({ purpose: z.enum(['ek', 'ak']).optional() }) },
      responses: { 200: json(z.object({ cas: z.array(TpmCa) }), 'CAs'), ...ERRORS },
    }),
    async (c) => c.json({ cas: await listCas(s, c.req.valid('query').purpose) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/tpm/cas/{name}',
      summary: 'Read one TPM CA',
      middleware: [read] as const,
      request: { params: NameParam },
      responses: { 200: json(TpmCa, 'CA'), ...ERRORS },
    }),
    async (c) => c.json(await getCa(s, c.req.valid('param').name), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'delete',
      path: '/admin/v1/tpm/cas/{name}',
      summary: 'Remove a TPM CA (keys it certified are untrusted from the next request on; enrolled AKs stay)',
      middleware: [writeCa] as const,
      request: { params: NameParam },
      responses: { 204: { description: 'deleted' }, ...ERRORS },
    }),
    async (c) => {
      await deleteCa(s, c.req.valid('param').name, c.get('admin'))
      return c.body(null, 204)
    },
  )
}
