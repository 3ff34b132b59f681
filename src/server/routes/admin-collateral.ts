import { createRoute, z } from '@hono/zod-openapi'
import { listCollateralViews, removeCollateral, storeVerifiedCollateral } from '../../services/collateral-admin.js'
import { verifySnpUpload } from '../../services/snp-collateral.js'
import { verifyTdxUpload } from '../../services/tdx-collateral.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, problemResponse, TimestampSchema } from '../schemas/common.js'

const Collateral = z
  .object({
    kind: z.string().openapi({ example: 'snp-vcek' }),
    key: z.string().openapi({ example: 'Milan/c38427a3…77524e/7308000000000003' }),
    sha256: z.string().openapi({ description: 'SHA-256 of the stored bytes, hex' }),
    size: z.number().int(),
    uploadedAt: TimestampSchema,
    uploadedBy: z.string(),
    notAfter: TimestampSchema.nullable().openapi({ description: 'certificate notAfter or CRL nextUpdate' }),
  })
  .openapi('Collateral')

const Stored = z.object({ stored: z.array(Collateral) }).openapi('CollateralStored')

const SnpCollateralUpload = z
  .object({
    certificate: z
      .string()
      .min(1)
      .max(65_536)
      .optional()
      .openapi({ description: 'PEM (one or more certificates, e.g. a KDS cert_chain) or base64 DER of one: VCEK, VLEK, ASK, ASVK or ARK' }),
    crl: z.string().min(1).max(262_144).optional().openapi({ description: 'a CRL signed by an AMD ARK: base64 DER or PEM' }),
    crlFor: z.enum(['vcek', 'vlek']).default('vcek').openapi({ description: 'which KDS CRL it is: /vcek/v1/{product}/crl or /vlek/…' }),
  })
  .strict()
  .refine((b) => b.certificate !== undefined || b.crl !== undefined, { message: 'certificate or crl is required' })
  .openapi('SnpCollateralUpload')

const IssuerChain = z
  .string()
  .min(1)
  .max(32_768)
  .openapi({ description: 'the issuer chain PCS sends in the response header: PEM, or URL-encoded PEM as the header carries it' })
const SignedDocument = (what: string, header: string) =>
  z
    .object({
      body: z.string().min(2).max(262_144).openapi({ description: `the ${what} response body exactly as PCS served it (its signature covers these bytes)` }),
      issuerChain: IssuerChain.openapi({ description: `${header} response header: TCB Signing certificate, then the root CA (PEM or URL-encoded PEM)` }),
    })
    .strict()
const CrlUpload = (header: string) =>
  z
    .object({
      crl: z.string().min(1).max(1_048_576).openapi({ description: 'the CRL: base64 DER, PEM, or hex as PCS serves it without encoding=der' }),
      issuerChain: IssuerChain.optional().openapi({ description: `${header}: issuing CA then root (PEM or URL-encoded PEM)` }),
    })
    .strict()

const TdxCollateralUpload = z
  .object({
    tcbInfo: SignedDocument('GET /tdx/certification/v4/tcb?fmspc=…', 'TCB-Info-Issuer-Chain').optional(),
    qeIdentity: SignedDocument('GET /tdx/certification/v4/qe/identity', 'SGX-Enclave-Identity-Issuer-Chain').optional(),
    pckCrl: CrlUpload('SGX-PCK-CRL-Issuer-Chain (required)').optional(),
    rootCaCrl: CrlUpload('optional; default the built-in Intel SGX Root CA').optional(),
  })
  .strict()
  .refine((b) => b.tcbInfo !== undefined || b.qeIdentity !== undefined || b.pckCrl !== undefined || b.rootCaCrl !== undefined, {
    message: 'tcbInfo, qeIdentity, pckCrl or rootCaCrl is required',
  })
  .openapi('TdxCollateralUpload')

/** Kinds and keys as the verifiers name them; `/` in a key is sent percent-encoded (`%2F`). */
const KindSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'a collateral kind such as snp-vcek')
const KeySchema = z.string().min(1).max(256).regex(/^[A-Za-z0-9._/-]+$/, 'a collateral key')

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const ERRORS = {
  ...ADMIN_ERRORS,
  404: problemResponse('No such collateral'),
  415: problemResponse('Body is not application/json'),
}
const UPLOAD_ERRORS = {
  ...ERRORS,
  403: problemResponse('The token lacks the role, or the value does not chain to a pinned root (chain-untrusted)'),
}
const READERS: readonly AdminRole[] = ['admin', 'auditor']
const WRITERS: readonly AdminRole[] = ['admin']

/**
 * The admin collateral store: one upload route per evidence type (`/admin/v1/collateral/snp`;
 * a `tdx` upload goes beside it with its own body schema and service check), and the generic
 * listing and deletion by kind and key.
 */
export function registerAdminCollateralRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const read = adminAuth({ services: s, roles: READERS })
  const write = adminAuth({ services: s, roles: WRITERS })
  const base = { tags: ['admin: collateral'], security: [{ adminToken: [] }] }

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/collateral/snp',
      summary: 'Upload AMD SEV-SNP certificates (VCEK, VLEK, ASK, ASVK, ARK) or an ARK-signed CRL; kind and key are derived by the server',
      middleware: [write] as const,
      request: { body: { required: true, content: { 'application/json': { schema: SnpCollateralUpload } } } },
      responses: { 201: json(Stored, 'stored (replacing any value of the same kind and key)'), ...UPLOAD_ERRORS },
    }),
    async (c) => {
      const items = await verifySnpUpload(s, c.req.valid('json'))
      return c.json({ stored: await storeVerifiedCollateral(s, items, c.get('admin')) }, 201)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/admin/v1/collateral/tdx',
      summary:
        'Upload Intel PCS responses for TDX (TCB info, TD QE identity, PCK CRL, Root CA CRL) with their issuer chains; verified against the pinned Intel SGX Root CA, kind and key derived by the server',
      middleware: [write] as const,
      request: { body: { required: true, content: { 'application/json': { schema: TdxCollateralUpload } } } },
      responses: {
        201: json(Stored, 'stored (replacing any value of the same kind and key)'),
        ...UPLOAD_ERRORS,
        400: problemResponse('Not the documented shape: not JSON / PEM / a CRL (bad-request), or another document id or version (evidence-unsupported)'),
        422: problemResponse('A document that is not current at the server time (collateral-missing)'),
      },
    }),
    async (c) => {
      const items = await verifyTdxUpload(s, c.req.valid('json'))
      return c.json({ stored: await storeVerifiedCollateral(s, items, c.get('admin')) }, 201)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'get',
      path: '/admin/v1/collateral',
      summary: 'List stored collateral (metadata only)',
      middleware: [read] as const,
      request: { query: z.object({ kind: KindSchema.optional() }) },
      responses: { 200: json(z.object({ collateral: z.array(Collateral) }), 'stored collateral, by kind and key'), ...ERRORS },
    }),
    async (c) => c.json({ collateral: await listCollateralViews(s, c.req.valid('query').kind) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'delete',
      path: '/admin/v1/collateral/{kind}/{key}',
      summary: 'Delete one stored value (key percent-encoded: Milan%2F…)',
      middleware: [write] as const,
      request: { params: z.object({ kind: KindSchema, key: KeySchema }) },
      responses: { 204: { description: 'deleted' }, ...ERRORS },
    }),
    async (c) => {
      const { kind, key } = c.req.valid('param')
      await removeCollateral(s, kind, key, c.get('admin'))
      return c.body(null, 204)
    },
  )
}
