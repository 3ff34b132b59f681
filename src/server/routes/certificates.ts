import { createRoute, z } from '@hono/zod-openapi'
import { normalizeSerial } from '../../ca/certificate-terms.js'
import { KeybrokerError } from '../../errors.js'
import { caServices } from '../../services/ca-services.js'
import type { App } from '../app.js'
import { clientIp } from '../client-ip.js'
import type { AppDeps } from '../context.js'
import { bearerEar } from '../ear-bearer.js'
import { CertificateRequestSchema, CsrSchema, IssuedCertificateSchema, SerialSchema } from '../schemas/certificates.js'
import { COMMON_ERRORS, NameSchema, problemResponse } from '../schemas/common.js'

const ISSUE_ERRORS = {
  ...COMMON_ERRORS,
  401: problemResponse('Missing, invalid or expired attestation token'),
  403: problemResponse('CSR for another key (csr-key-mismatch), names outside the profile (name-not-allowed, with violations), or the profile policy denied (policy-denied, with failedRules)'),
  404: problemResponse('No such profile or certificate'),
  415: problemResponse('Body is not application/json'),
} as const

const RevokedSchema = z
  .object({ serial: z.string(), revokedAt: z.string().openapi({ format: 'date-time' }), reason: z.string() })
  .openapi('RevokedCertificate')

const binary = (type: string, description: string) => ({ description, content: { [type]: { schema: z.string().openapi({ format: 'binary' }) } } })

/** Parses a path serial into our canonical form (`bad-request` otherwise). */
export function serialParam(text: string): string {
  const serial = normalizeSerial(text)
  if (serial === undefined) throw new KeybrokerError('bad-request', 'serial: a hex serial number')
  return serial
}

/** Attested issuance, renewal and holder revocation; the CA's public chain, CRL and OCSP (issue 16). */
export function registerCertificateRoutes(app: App, deps: AppDeps): void {
  const s = deps.services

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/certificates',
      tags: ['certificates'],
      summary: 'Issue a certificate to the key of an attestation result token',
      security: [{ ear: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: CertificateRequestSchema } } } },
      responses: { 200: { description: 'issued', content: { 'application/json': { schema: IssuedCertificateSchema } } }, ...ISSUE_ERRORS },
    }),
    async (c) => {
      const token = bearerEar(c.req.header('Authorization'))
      return c.json(await (await caServices()).issueWithToken(s, token, c.req.valid('json'), c.get('requestId'), clientIp(c)), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/certificates/{serial}/renew',
      tags: ['certificates'],
      summary: 'Renew on a fresh attestation: the same key (no csr) or a new one (csr for the token key)',
      security: [{ ear: [] }],
      request: {
        params: z.object({ serial: SerialSchema }),
        body: { required: false, content: { 'application/json': { schema: z.object({ csr: CsrSchema.optional() }).strict().openapi('RenewCertificate') } } },
      },
      responses: {
        200: { description: 'the new certificate', content: { 'application/json': { schema: IssuedCertificateSchema } } },
        ...ISSUE_ERRORS,
        409: problemResponse('The certificate is revoked'),
      },
    }),
    async (c) => {
      const token = bearerEar(c.req.header('Authorization'))
      const body = (c.req.header('Content-Type') ?? '').startsWith('application/json') ? c.req.valid('json') : {}
      const { renewed: _, ...issued } = await (await caServices()).renewWithToken(s, token, serialParam(c.req.valid('param').serial), body ?? {}, c.get('requestId'), clientIp(c))
      return c.json(issued, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/certificates/{serial}/revoke',
      tags: ['certificates'],
      summary: 'Revoke by the holder: a JWS by the certificate key over {serial, reason?, nonce (from /v1/challenge)}',
      request: {
        params: z.object({ serial: SerialSchema }),
        body: { required: true, content: { 'application/json': { schema: z.object({ proof: z.string().min(1).max(16_384) }).strict().openapi('HolderRevocation') } } },
      },
      responses: {
        200: { description: 'revoked', content: { 'application/json': { schema: RevokedSchema } } },
        ...COMMON_ERRORS,
        401: problemResponse('The proof does not verify with the certificate key or names another serial'),
        404: problemResponse('No such certificate'),
        409: problemResponse('Nonce already used'),
      },
    }),
    async (c) => c.json(await (await caServices()).revokeByHolder(s, serialParam(c.req.valid('param').serial), c.req.valid('json').proof), 200),
  )

  const CaParam = z.object({ name: NameSchema })
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/ca/{name}',
      tags: ['certificates'],
      summary: 'The CA certificates to trust, PEM: the current one with its chain, then older ones still in use',
      request: { params: CaParam },
      responses: { 200: { description: 'PEM bundle', content: { 'application/pem-certificate-chain': { schema: z.string() } } }, ...COMMON_ERRORS, 404: problemResponse('No such CA') },
    }),
    async (c) => c.body(await (await caServices()).caBundlePem(s, c.req.valid('param').name), 200, { 'Content-Type': 'application/pem-certificate-chain', 'Cache-Control': 'no-cache' }),
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/ca/{name}/crl',
      tags: ['certificates'],
      summary: 'The CRL (DER) of the CA\'s current key, or of `version`; a revocation shows from the next request on',
      request: { params: CaParam, query: z.object({ version: z.coerce.number().int().min(1).max(1_000_000).optional() }) },
      responses: { 200: binary('application/pkix-crl', 'DER CRL'), ...COMMON_ERRORS, 404: problemResponse('No such CA or version') },
    }),
    async (c) => {
      const crl = await (await caServices()).currentCrl(s, c.req.valid('param').name, c.req.valid('query').version)
      return c.body(Buffer.from(crl), 200, { 'Content-Type': 'application/pkix-crl', 'Cache-Control': 'no-cache' })
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/ca/{name}/ocsp',
      tags: ['certificates'],
      summary: 'OCSP responder (RFC 6960, POST): a DER OCSPRequest in, a signed OCSPResponse out',
      request: { params: CaParam, body: { required: true, content: { 'application/ocsp-request': { schema: z.string().openapi({ format: 'binary' }) } } } },
      responses: { 200: binary('application/ocsp-response', 'DER OCSPResponse'), ...COMMON_ERRORS, 404: problemResponse('No such CA') },
    }),
    async (c) => {
      const der = new Uint8Array(await c.req.arrayBuffer())
      return c.body(Buffer.from(await (await caServices()).answerOcsp(s, c.req.valid('param').name, der)), 200, { 'Content-Type': 'application/ocsp-response', 'Cache-Control': 'no-cache' })
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/ca/{name}/ocsp/{request}',
      tags: ['certificates'],
      summary: 'OCSP responder (RFC 6960 appendix A.1, GET): the URL-encoded base64 of the DER OCSPRequest',
      request: { params: z.object({ name: NameSchema, request: z.string().min(1).max(4096) }) },
      responses: { 200: binary('application/ocsp-response', 'DER OCSPResponse'), ...COMMON_ERRORS, 404: problemResponse('No such CA') },
    }),
    async (c) => {
      const text = c.req.valid('param').request
      if (!/^[A-Za-z0-9+/=_-]+$/.test(text)) throw new KeybrokerError('bad-request', 'the OCSP request is not base64')
      const der = new Uint8Array(Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64'))
      return c.body(Buffer.from(await (await caServices()).answerOcsp(s, c.req.valid('param').name, der)), 200, { 'Content-Type': 'application/ocsp-response', 'Cache-Control': 'no-cache' })
    },
  )
}
