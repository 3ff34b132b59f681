import { createRoute, z } from '@hono/zod-openapi'
import { lazyImport } from '../../lazy-import.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { ADMIN_ERRORS, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'

// The bundle formats (CoRIM, go-sev-guest/go-tdx-guest protobuf, Automata, Cosmian) are admin-only:
// loaded by the first bundle or signer request, not at start (README, "Start-up and memory").
const bundleAdmin = lazyImport(() => import('../../services/bundle-admin.js'))

const Fingerprint = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'lowercase hex SHA-256 of the SPKI')
  .openapi({ description: 'hex SHA-256 of the DER SubjectPublicKeyInfo (`openssl pkey -pubin -outform DER | sha256sum`)' })

const CreateSigner = z
  .object({
    label: z.string().min(1).max(200),
    publicKey: z.string().min(1).max(16_384).openapi({ description: 'SPKI PEM ("-----BEGIN PUBLIC KEY-----")' }),
    format: z.enum(['keybroker', 'automata', 'corim']).default('keybroker').openapi({
      description:
        '`keybroker`: JWS bundles (EC P-256/P-384, Ed25519, RSA ≥ 2048 → ES256/ES384/EdDSA/PS256); `automata`: json_sig_tool documents (EC P-256, RSA); `corim`: COSE_Sign1 CoRIMs (EC P-256/P-384/P-521, RSA-PSS, Ed25519)',
    }),
  })
  .strict()
  .openapi('CreateSigner')

const Signer = z
  .object({
    fingerprint: z.string(),
    label: z.string(),
    format: z.enum(['keybroker', 'automata', 'corim']),
    algorithm: z.string(),
    publicKey: z.string(),
    createdAt: TimestampSchema,
    createdBy: z.string(),
  })
  .openapi('Signer')

/** Options of the unsigned policy documents (go-sev-guest, go-tdx-guest). */
const GO_POLICY_OPTIONS = {
  name: NameSchema.openapi({ description: 'the reference-value set to create or replace' }),
  evidenceType: z.string().min(1).max(64).optional().openapi({ description: 'overrides the type (default: gotpm for a go-sev-guest policy with pcr_values, else snp; tdx)' }),
  ignore: z
    .array(z.string().min(1).max(256))
    .max(64)
    .optional()
    .openapi({ description: 'dotted paths of fields to leave out (recorded in the provenance); any other field keybroker cannot map is a 400' }),
}

const ImportBundle = z
  .union([
    z.object({ bundle: z.string().min(1).max(512 * 1024).openapi({ description: 'a keybroker bundle: compact JWS (`keybroker bundle sign`)' }) }).strict(),
    z
      .object({
        automata: z.string().min(1).max(256 * 1024).openapi({ description: "the text of a json_sig_tool document (the file's content as a JSON string)" }),
        name: NameSchema.openapi({ description: 'the reference-value set to create or replace' }),
        evidenceType: z.string().min(1).max(64).optional().openapi({ description: 'overrides the type inferred from the document (snp, tdx, tpm, automata)' }),
      })
      .strict(),
    z
      .object({
        gosevguest: z.string().min(1).max(256 * 1024).openapi({ description: 'the text of a go-sev-guest check.Config protojson document (Cocos attestation_policy.json, with its pcr_values)' }),
        ...GO_POLICY_OPTIONS,
      })
      .strict(),
    z
      .object({
        gotdxguest: z.string().min(1).max(256 * 1024).openapi({ description: 'the text of a go-tdx-guest checkconfig.Config protojson document' }),
        ...GO_POLICY_OPTIONS,
      })
      .strict(),
    z
      .object({
        corim: z.string().min(1).max(700 * 1024).openapi({ description: 'a CoRIM (CBOR; unsigned #6.501 or COSE_Sign1 #6.18) in standard base64' }),
        name: NameSchema.openapi({ description: 'the reference-value set to create or replace' }),
        evidenceType: z.string().min(1).max(64).optional().openapi({ description: 'overrides the type inferred from the triples (snp, tdx, tpm, gotpm)' }),
      })
      .strict(),
    z
      .object({
        cosmianSnapshot: z
          .record(z.string(), z.unknown())
          .openapi({ description: "a Cosmian VM snapshot (`GET /snapshot` of the agent, `cosmian_vm snapshot`) as its JSON object: cloud_type, tee_policy, tpm_policy, filehashes" }),
        name: NameSchema.openapi({ description: 'the reference-value set to create or replace (evidence type cosmian)' }),
      })
      .strict(),
  ])
  .openapi('ImportBundle')

const ImportResult = z
  .object({
    format: z.enum(['keybroker', 'automata', 'gosevguest', 'gotdxguest', 'corim', 'cosmian-snapshot']),
    status: z.enum(['imported', 'unchanged']),
    signer: z.string().nullable().openapi({ description: 'fingerprint of the signer; null for unsigned documents' }),
    digest: z.string(),
    fields: z.array(z.object({ field: z.string(), to: z.array(z.string()) })).optional().openapi({ description: 'what each field of an unsigned policy document became' }),
    ignored: z.array(z.string()).optional(),
    bundle: z.object({ name: z.string(), version: z.number().int(), issuedAt: z.string(), expiresAt: z.string() }).optional(),
    referenceValues: z.array(z.record(z.string(), z.unknown())),
  })
  .openapi('ImportResult')

const FingerprintParam = z.object({ fingerprint: Fingerprint })
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const ERRORS = { ...ADMIN_ERRORS, 404: problemResponse('No such signer'), 415: problemResponse('Body is not application/json') }
const READERS: readonly AdminRole[] = ['admin', 'registrar', 'auditor']
const ADMINS: readonly AdminRole[] = ['admin']
const IMPORTERS: readonly AdminRole[] = ['admin', 'registrar']

/** `/admin/v1/signers` (trust anchors: admin only) and `/admin/v1/bundles` (import: admin, registrar). */
export function registerAdminBundleRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const read = adminAuth({ services: s, roles: READERS })
  const admin = adminAuth({ services: s, roles: ADMINS })
  const importer = adminAuth({ services: s, roles: IMPORTERS })
  const base = { security: [{ adminToken: [] }] }

  app.openapi(
    createRoute({
      ...base,
      tags: ['admin: signers'],
      method: 'post',
      path: '/admin/v1/signers',
      summary: 'Register a bundle signer public key as a trust anchor (admin only)',
      middleware: [admin] as const,
      request: { body: { required: true, content: { 'application/json': { schema: CreateSigner } } } },
      responses: { 201: json(Signer, 'registered'), ...ERRORS, 409: problemResponse('The key is registered already') },
    }),
    async (c) => c.json(await (await bundleAdmin()).registerSigner(s, c.req.valid('json'), c.get('admin')), 201),
  )

  app.openapi(
    createRoute({
      ...base,
      tags: ['admin: signers'],
      method: 'get',
      path: '/admin/v1/signers',
      summary: 'List bundle signers',
      middleware: [read] as const,
      responses: { 200: json(z.object({ signers: z.array(Signer) }), 'signers'), ...ERRORS },
    }),
    async (c) => c.json({ signers: await (await bundleAdmin()).listSigners(s) }, 200),
  )

  app.openapi(
    createRoute({
      ...base,
      tags: ['admin: signers'],
      method: 'get',
      path: '/admin/v1/signers/{fingerprint}',
      summary: 'Read one bundle signer',
      middleware: [read] as const,
      request: { params: FingerprintParam },
      responses: { 200: json(Signer, 'signer'), ...ERRORS },
    }),
    async (c) => c.json(await (await bundleAdmin()).getSigner(s, c.req.valid('param').fingerprint), 200),
  )

  app.openapi(
    createRoute({
      ...base,
      tags: ['admin: signers'],
      method: 'delete',
      path: '/admin/v1/signers/{fingerprint}',
      summary: 'Remove a signer: its bundles are refused from now on (imported values stay)',
      middleware: [admin] as const,
      request: { params: FingerprintParam },
      responses: { 204: { description: 'deleted' }, ...ERRORS },
    }),
    async (c) => {
      await (await bundleAdmin()).deleteSigner(s, c.req.valid('param').fingerprint, c.get('admin'))
      return c.body(null, 204)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      tags: ['admin: reference values'],
      method: 'post',
      path: '/admin/v1/bundles',
      summary: 'Import reference values: a signed bundle (keybroker JWS, Automata json_sig_tool) or a go-sev-guest / go-tdx-guest policy',
      description:
        'Every check comes first (signer registered, signature, validity, rollback, claims), then all sets of the bundle are written in one transaction with provenance (signer fingerprint, bundle digest, signed-at). Importing the same bytes again answers `unchanged`.',
      middleware: [importer] as const,
      request: { body: { required: true, content: { 'application/json': { schema: ImportBundle } } } },
      responses: {
        200: json(ImportResult, 'imported (or unchanged)'),
        ...ERRORS,
        400: problemResponse('bundle-malformed, claim-unknown or bad-request'),
        409: problemResponse('bundle-rollback: not newer than the version imported'),
        422: problemResponse('bundle-signer-unknown, bundle-signature-invalid or bundle-expired'),
      },
    }),
    async (c) => c.json(await (await bundleAdmin()).importBundle(s, c.req.valid('json'), c.get('admin')), 200),
  )
}
