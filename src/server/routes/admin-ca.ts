import { createRoute, z } from '@hono/zod-openapi'
import { certificatePem, EXTENDED_KEY_USAGES, MAX_LIFETIME_SECONDS, REVOCATION_REASONS } from '../../ca/certificate-terms.js'
import { SUBJECT_ATTRIBUTE_NAMES } from '../../ca/names.js'
import { KeybrokerError } from '../../errors.js'
import { caServices } from '../../services/ca-services.js'
import { getIssuedCertificate, listIssuedCertificates, type IssuedCertificate } from '../../storage/index.js'
import type { App } from '../app.js'
import type { AdminRole, AppDeps } from '../context.js'
import { adminAuth } from '../middleware/admin-auth.js'
import { SerialSchema } from '../schemas/certificates.js'
import { ADMIN_ERRORS, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'
import { serialParam } from './certificates.js'

const Pem = z.string().min(1).max(65_536)

const CreateCa = z
  .union([
    z.object({ name: NameSchema, keyType: z.enum(['P-256', 'P-384']) }).strict(),
    z.object({ name: NameSchema, certificate: Pem.openapi({ description: 'the intermediate, PEM, optionally followed by the certificates above it' }), privateKey: Pem.openapi({ description: 'its unencrypted private key, PEM' }) }).strict(),
  ])
  .openapi('CreateCa', { description: 'generate a CA (keyType) or import an intermediate (certificate + privateKey)' })

const RotateCa = z
  .object({ certificate: Pem.optional(), privateKey: Pem.optional() })
  .strict()
  .openapi('RotateCa', { description: 'empty for a generated CA; the next intermediate for an imported one' })

const CaSchema = z
  .object({
    name: z.string(),
    keyType: z.string(),
    source: z.enum(['generated', 'imported']),
    currentVersion: z.number().int(),
    certificate: z.string().openapi({ description: 'PEM of the current key\'s certificate' }),
    chain: z.string().openapi({ description: 'PEM: the current certificate and those above it' }),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
    versions: z.array(z.object({ version: z.number().int(), certificate: z.string(), keyId: z.string(), notAfter: TimestampSchema, createdAt: TimestampSchema })),
  })
  .openapi('CertificateAuthority', { description: 'public data only: private keys are never returned' })

const Patterns = z.array(z.string().min(1).max(253)).max(64)
const ProfileFields = {
  ca: NameSchema,
  allowedDnsNames: Patterns.optional().openapi({ description: 'DNS name patterns: `*` is one label\'s characters; `{claims.instanceId}` etc. are the attested claims' }),
  allowedIpAddresses: z.array(z.string().min(2).max(64)).max(64).optional().openapi({ description: 'IP addresses or CIDR blocks' }),
  allowedSubject: z.partialRecord(z.enum(SUBJECT_ATTRIBUTE_NAMES as [string, ...string[]]), z.array(z.string().max(256)).max(32)).optional().openapi({ description: 'subject attribute → allowed value patterns; without CN the CN must be an allowed DNS name or IP' }),
  extendedKeyUsage: z.array(z.enum(EXTENDED_KEY_USAGES)).max(2).optional().openapi({ description: 'default ["serverAuth"]' }),
  lifetimeSeconds: z.number().int().min(60).max(MAX_LIFETIME_SECONDS).optional().openapi({ description: 'default 86400; requests may ask for less' }),
  referenceValues: z.array(NameSchema).max(64),
  policy: NameSchema.nullable().optional().openapi({ description: 'a release policy (/admin/v1/policies); absent, null or "default": the default rule set' }),
}
const CreateProfile = z.object({ name: NameSchema, ...ProfileFields }).strict().openapi('CreateCertificateProfile')
const ReplaceProfile = z.object(ProfileFields).strict().openapi('ReplaceCertificateProfile')
const ProfileSchema = z
  .object({
    name: z.string(),
    ca: z.string(),
    allowedDnsNames: z.array(z.string()),
    allowedIpAddresses: z.array(z.string()),
    allowedSubject: z.record(z.string(), z.array(z.string())),
    extendedKeyUsage: z.array(z.string()),
    lifetimeSeconds: z.number().int(),
    referenceValues: z.array(z.string()),
    policy: z.string().nullable(),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  })
  .openapi('CertificateProfile')

const CertificateInfo = z
  .object({
    serial: z.string(),
    ca: z.string(),
    caVersion: z.number().int(),
    profile: z.string(),
    entityId: z.string().nullable(),
    subject: z.string(),
    dnsNames: z.array(z.string()),
    ipAddresses: z.array(z.string()),
    notBefore: TimestampSchema,
    notAfter: TimestampSchema,
    earDigest: z.string(),
    earStatus: z.string(),
    evidenceType: z.string(),
    measurement: z.string(),
    referenceValues: z.array(z.string()),
    renewedFrom: z.string().nullable(),
    issuedAt: TimestampSchema,
    revokedAt: TimestampSchema.nullable(),
    revocationReason: z.string().nullable(),
    certificate: z.string().openapi({ description: 'PEM' }),
  })
  .openapi('IssuedCertificateInfo')

const Revoke = z.object({ reason: z.enum(REVOCATION_REASONS).default('unspecified') }).strict().openapi('RevokeCertificate')
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } })
const body = <T extends z.ZodType>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } })
const NameParam = z.object({ name: NameSchema })
const SerialParam = z.object({ serial: SerialSchema })
const ERRORS = { ...ADMIN_ERRORS, 404: problemResponse('Not found'), 415: problemResponse('Body is not application/json') }
const READERS: readonly AdminRole[] = ['admin', 'auditor']
const WRITERS: readonly AdminRole[] = ['admin']

function certificateInfo(r: IssuedCertificate) {
  return {
    serial: r.serial,
    ca: r.caName,
    caVersion: r.caVersion,
    profile: r.profile,
    entityId: r.entityId,
    subject: r.subject,
    dnsNames: r.dnsNames,
    ipAddresses: r.ipAddresses,
    notBefore: r.notBefore.toISOString(),
    notAfter: r.notAfter.toISOString(),
    earDigest: r.earDigest,
    earStatus: r.earStatus,
    evidenceType: r.evidenceType,
    measurement: r.measurement,
    referenceValues: r.referenceValues,
    renewedFrom: r.renewedFrom,
    issuedAt: r.issuedAt.toISOString(),
    revokedAt: r.revokedAt?.toISOString() ?? null,
    revocationReason: r.revocationReason,
    certificate: certificatePem(r.certificate),
  }
}

/** Admin API of the attested CA: CAs, certificate profiles, issued certificates (issue 16). */
export function registerAdminCaRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const read = adminAuth({ services: s, roles: READERS })
  const write = adminAuth({ services: s, roles: WRITERS })
  const sec = { security: [{ adminToken: [] }] }

  app.openapi(
    createRoute({ ...sec, tags: ['admin: certificates'], method: 'post', path: '/admin/v1/cas', summary: 'Create a CA: generated (P-256/P-384 key, self-signed root) or an imported intermediate', middleware: [write] as const, request: body(CreateCa), responses: { 201: json(CaSchema, 'created'), ...ERRORS, 409: problemResponse('A CA of that name exists') } }),
    async (c) => c.json(await (await caServices()).createCa(s, c.req.valid('json'), c.get('admin')), 201),
  )
  app.openapi(
    createRoute({ ...sec, tags: ['admin: certificates'], method: 'get', path: '/admin/v1/cas', summary: 'List CAs', middleware: [read] as const, responses: { 200: json(z.object({ cas: z.array(CaSchema) }), 'CAs'), ...ERRORS } }),
    async (c) => c.json({ cas: await (await caServices()).listCaViews(s) }, 200),
  )
  app.openapi(
    createRoute({ ...sec, tags: ['admin: certificates'], method: 'get', path: '/admin/v1/cas/{name}', summary: 'Read a CA', middleware: [read] as const, request: { params: NameParam }, responses: { 200: json(CaSchema, 'CA'), ...ERRORS } }),
    async (c) => c.json(await (await caServices()).getCaView(s, c.req.valid('param').name), 200),
  )
  app.openapi(
    createRoute({ ...sec, tags: ['admin: certificates'], method: 'post', path: '/admin/v1/cas/{name}/rotate', summary: 'New CA key for issuance; older keys keep their CRL and OCSP until their certificates expire', middleware: [write] as const, request: { params: NameParam, body: { required: false, content: { 'application/json': { schema: RotateCa } } } }, responses: { 200: json(CaSchema, 'CA'), ...ERRORS, 409: problemResponse('Rotated concurrently') } }),
    async (c) => {
      const input = (c.req.header('Content-Type') ?? '').startsWith('application/json') ? c.req.valid('json') : {}
      return c.json(await (await caServices()).rotateCa(s, c.req.valid('param').name, input ?? {}, c.get('admin')), 200)
    },
  )

  app.openapi(
    createRoute({ ...sec, tags: ['admin: certificates'], method: 'post', path: '/admin/v1/certificate-profiles', summary: 'Create a certificate profile', middleware: [write] as const, request: body(CreateProfile), responses: { 201: json(ProfileSchema, 'created'), ...ERRORS, 409: problemResponse('A profile of that name exists') } }),
    async (c) => c.json(await (await caServices()).createCertificateProfile(s, c.req.valid('json'), c.get('admin')), 201),
  )
  app.openapi(
    createRoute({ ...sec, tags: ['admin: certificates'], method: 'get', path: '/admin/v1/certificate-profiles', summary: 'List certificate profiles', middleware: [read] as const, responses: { 200: json(z.object({ profiles: z.array(ProfileSchema) }), 'profiles'), ...ERRORS } }),
    async (c) => c.json({ profiles: await (await caServices()).listCertificateProfiles(s) }, 200),
  )
  app.openapi(
    createRoute({ ...sec, tags: ['admin: certificates'], method: 'get', path: '/admin/v1/certificate-profiles/{name}', summary: 'Read a certificate profile', middleware: [read] as const, request: { params: NameParam }, responses: { 200: json(ProfileSchema, 'profile'), ...ERRORS } }),
    async (c) => c.json(await (await caServices()).getCertificateProfile(s, c.req.valid('param').name), 200),
  )
  app.openapi(
    createRoute({ ...sec, tags: ['admin: certificates'], method: 'put', path: '/admin/v1/certificate-profiles/{name}', summary: 'Replace a certificate profile\'s settings', middleware: [write] as const, request: { params: NameParam, ...body(ReplaceProfile) }, responses: { 200: json(ProfileSchema, 'profile'), ...ERRORS } }),
    async (c) => c.json(await (await caServices()).replaceCertificateProfile(s, { name: c.req.valid('param').name, ...c.req.valid('json') }, c.get('admin')), 200),
  )
  app.openapi(
    createRoute({ ...sec, tags: ['admin: certificates'], method: 'delete', path: '/admin/v1/certificate-profiles/{name}', summary: 'Delete a certificate profile (its certificates stay valid)', middleware: [write] as const, request: { params: NameParam }, responses: { 204: { description: 'deleted' }, ...ERRORS } }),
    async (c) => {
      await (await caServices()).deleteCertificateProfile(s, c.req.valid('param').name, c.get('admin'))
      return c.body(null, 204)
    },
  )

  app.openapi(
    createRoute({
      ...sec,
      tags: ['admin: certificates'],
      method: 'get',
      path: '/admin/v1/certificates',
      summary: 'List issued certificates, newest first',
      middleware: [read] as const,
      request: { query: z.object({ ca: NameSchema.optional(), profile: NameSchema.optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }) },
      responses: { 200: json(z.object({ certificates: z.array(CertificateInfo) }), 'certificates'), ...ERRORS },
    }),
    async (c) => {
      const q = c.req.valid('query')
      return c.json({ certificates: (await listIssuedCertificates(s.database.db, { ca: q.ca, profile: q.profile, limit: q.limit })).map(certificateInfo) }, 200)
    },
  )
  app.openapi(
    createRoute({ ...sec, tags: ['admin: certificates'], method: 'get', path: '/admin/v1/certificates/{serial}', summary: 'Read an issued certificate with the attestation it was issued on', middleware: [read] as const, request: { params: SerialParam }, responses: { 200: json(CertificateInfo, 'certificate'), ...ERRORS } }),
    async (c) => {
      const row = await getIssuedCertificate(s.database.db, serialParam(c.req.valid('param').serial))
      if (row === undefined) throw new KeybrokerError('not-found', 'no such certificate')
      return c.json(certificateInfo(row), 200)
    },
  )
  app.openapi(
    createRoute({
      ...sec,
      tags: ['admin: certificates'],
      method: 'post',
      path: '/admin/v1/certificates/{serial}/revoke',
      summary: 'Revoke a certificate; CRL and OCSP show it from the next request on',
      middleware: [write] as const,
      request: { params: SerialParam, ...body(Revoke) },
      responses: { 200: json(z.object({ serial: z.string(), revokedAt: TimestampSchema, reason: z.string() }), 'revoked'), ...ERRORS },
    }),
    async (c) => c.json(await (await caServices()).revokeByAdmin(s, serialParam(c.req.valid('param').serial), c.req.valid('json').reason, c.get('admin')), 200),
  )
}
