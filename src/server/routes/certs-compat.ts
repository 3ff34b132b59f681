import { X509Certificate } from 'node:crypto'
import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { normalizeSerial } from '../../ca/certificate-terms.js'
import { parseGoDurationSeconds } from '../../ca/go-duration.js'
import { storedZip } from '../../ca/zip.js'
import { KeybrokerError } from '../../errors.js'
import { caServices } from '../../services/ca-services.js'
import type { IssuedCertificateView } from '../../services/ca/index.js'
import type { App } from '../app.js'
import { clientIp } from '../client-ip.js'
import type { AppDeps, AppEnv } from '../context.js'
import { bearerEar } from '../ear-bearer.js'
import { COMMON_ERRORS, NameSchema, problemResponse } from '../schemas/common.js'

/**
 * absmach/certs-compatible endpoints (the CA service Cocos agents were configured with through
 * `AGENT_CVM_CA_URL`), mapped onto the attested CA. Shapes from absmach/certs `api/http/`
 * (transport.go, requests.go, responses.go) and its Go SDK (`sdk/sdk.go`):
 *
 * - `POST /certs/csrs/{entityID}?ttl=` (the agent's `IssueFromCSRInternal`) and
 *   `POST /{domainID}/certs/csrs/{entityID}?ttl=`: body `{"csr": <base64 of the PEM>}` (a Go
 *   `[]byte`), `Authorization: Bearer <token>` → 200 `{serial_number, certificate (PEM),
 *   revoked, expiry_time, entity_id}`. Here the bearer token must be a keybroker EAR for the
 *   CSR's key (absmach/certs compares a shared secret; keybroker never issues on one). The
 *   profile is `{domainID}`, or KEYBROKER_CERTS_COMPAT_PROFILE for the un-prefixed route; `ttl`
 *   (a Go duration) is capped by the profile's lifetime.
 * - `PATCH /{domainID}/certs/{id}/renew` (fresh EAR, same key) → `{"certificate": {…}}`;
 *   `PATCH /{domainID}/certs/{id}/revoke` (EAR for the certificate's key) → 204.
 * - `GET /certs/crl` → `{"crl": <base64 DER>}`; `POST /certs/ocsp` with a DER OCSPRequest or
 *   JSON `{"serial_number"}` / `{"certificate": PEM}` → raw OCSPResponse;
 *   `GET /certs/view-ca` → `{certificate (PEM chain), revoked, expiry_time}`;
 *   `GET /certs/download-ca` → `ca.zip` holding `ca.crt`. These serve the CA of
 *   KEYBROKER_CERTS_COMPAT_PROFILE.
 */
const CsrBody = z.object({ csr: z.string().min(1).max(180_000) }).openapi('CertsCsrRequest', { description: 'absmach/certs: csr is a Go []byte, i.e. base64 of the PEM' })
const TtlQuery = z.object({ ttl: z.string().max(64).optional().openapi({ description: 'Go duration, e.g. 8760h0m0s; capped by the profile lifetime' }) })
const EntityId = z.string().min(1).max(256).regex(/^[A-Za-z0-9._:@-]+$/, 'an entity id')
const IssuedSchema = z
  .object({ serial_number: z.string(), certificate: z.string(), revoked: z.boolean(), expiry_time: z.string(), entity_id: z.string() })
  .openapi('CertsIssuedCertificate')
const ERRORS = {
  ...COMMON_ERRORS,
  401: problemResponse('Missing or invalid attestation token'),
  403: problemResponse('CSR for another key, names outside the profile, or the profile policy denied'),
  404: problemResponse('No such profile / certificate, or the compatible endpoints are not configured'),
} as const
const TAG = ['absmach/certs compatibility (Cocos)']

/** absmach/certs writes serials as colon-separated lowercase hex (`api.NormalizeSerialNumber`). */
function colonSerial(hex: string): string {
  return (hex.match(/../g) ?? []).join(':')
}

function issuedBody(v: IssuedCertificateView, entityId: string) {
  return { serial_number: colonSerial(v.serial), certificate: v.certificate, revoked: false, expiry_time: v.notAfter, entity_id: entityId }
}

export function registerCertsCompatRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const compatProfile = (): string => {
    const name = s.config.ca.certsCompatProfile
    if (name === undefined) throw new KeybrokerError('not-found', 'the absmach/certs-compatible endpoints are not configured (KEYBROKER_CERTS_COMPAT_PROFILE)')
    return name
  }
  const compatCa = async (): Promise<string> => (await (await caServices()).getCertificateProfile(s, compatProfile())).ca
  const ttlOf = (ttl: string | undefined) => (ttl === undefined || ttl === '' ? undefined : parseGoDurationSeconds(ttl))
  const issue = async (c: Context<AppEnv>, profile: string, entityId: string, csr: string, ttl: string | undefined) => {
    const token = bearerEar(c.req.header('Authorization'))
    const issued = await (await caServices()).issueWithToken(s, token, { profile, csr, requestedLifetimeSeconds: ttlOf(ttl), entityId }, c.get('requestId'), clientIp(c))
    return issuedBody(issued, entityId)
  }

  app.openapi(
    createRoute({
      method: 'post',
      path: '/certs/csrs/{entityID}',
      tags: TAG,
      summary: 'Issue from a CSR (agent form): the profile of KEYBROKER_CERTS_COMPAT_PROFILE',
      security: [{ ear: [] }],
      request: { params: z.object({ entityID: EntityId }), query: TtlQuery, body: { required: true, content: { 'application/json': { schema: CsrBody } } } },
      responses: { 200: { description: 'issued', content: { 'application/json': { schema: IssuedSchema } } }, ...ERRORS },
    }),
    async (c) => c.json(await issue(c, compatProfile(), c.req.valid('param').entityID, c.req.valid('json').csr, c.req.valid('query').ttl), 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{domainID}/certs/csrs/{entityID}',
      tags: TAG,
      summary: 'Issue from a CSR (domain form): the domain names the certificate profile',
      security: [{ ear: [] }],
      request: { params: z.object({ domainID: NameSchema, entityID: EntityId }), query: TtlQuery, body: { required: true, content: { 'application/json': { schema: CsrBody } } } },
      responses: { 200: { description: 'issued', content: { 'application/json': { schema: IssuedSchema } } }, ...ERRORS },
    }),
    async (c) => {
      const { domainID, entityID } = c.req.valid('param')
      return c.json(await issue(c, domainID, entityID, c.req.valid('json').csr, c.req.valid('query').ttl), 200)
    },
  )

  const SerialPath = z.object({ domainID: NameSchema, id: z.string().min(1).max(100) })
  const serialOf = (id: string) => {
    const serial = normalizeSerial(id)
    if (serial === undefined) throw new KeybrokerError('bad-request', 'id: a hex serial number')
    return serial
  }

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/{domainID}/certs/{id}/renew',
      tags: TAG,
      summary: 'Renew for the same key on a fresh EAR',
      security: [{ ear: [] }],
      request: { params: SerialPath },
      responses: { 200: { description: 'renewed', content: { 'application/json': { schema: z.object({ certificate: z.record(z.string(), z.unknown()) }).openapi('CertsRenewed') } } }, ...ERRORS, 409: problemResponse('Revoked') },
    }),
    async (c) => {
      const token = bearerEar(c.req.header('Authorization'))
      const r = await (await caServices()).renewWithToken(s, token, serialOf(c.req.valid('param').id), {}, c.get('requestId'), clientIp(c))
      // certs.Certificate: `certificate` and `key` are Go []byte (base64 in JSON).
      return c.json(
        {
          certificate: {
            serial_number: colonSerial(r.serial),
            certificate: Buffer.from(r.certificate).toString('base64'),
            key: null,
            revoked: false,
            expiry_time: r.notAfter,
            entity_id: r.renewed.entityId ?? '',
          },
        },
        200,
      )
    },
  )

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/{domainID}/certs/{id}/revoke',
      tags: TAG,
      summary: 'Revoke with an EAR for the certificate\'s key',
      security: [{ ear: [] }],
      request: { params: SerialPath },
      responses: { 204: { description: 'revoked' }, ...ERRORS },
    }),
    async (c) => {
      await (await caServices()).revokeByToken(s, serialOf(c.req.valid('param').id), bearerEar(c.req.header('Authorization')), c.get('requestId'))
      return c.body(null, 204)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/certs/crl',
      tags: TAG,
      summary: 'The CRL as {"crl": base64 DER}',
      responses: { 200: { description: 'CRL', content: { 'application/json': { schema: z.object({ crl: z.string() }).openapi('CertsCrl') } } }, ...ERRORS },
    }),
    async (c) => c.json({ crl: Buffer.from(await (await caServices()).currentCrl(s, await compatCa())).toString('base64') }, 200, { 'Cache-Control': 'no-cache' }),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/certs/ocsp',
      tags: TAG,
      summary: 'OCSP: a DER OCSPRequest, or JSON {"serial_number"} / {"certificate": PEM}; a raw OCSPResponse',
      request: {
        body: {
          required: true,
          content: {
            'application/ocsp-request': { schema: z.string().openapi({ format: 'binary' }) },
            'application/json': { schema: z.object({ serial_number: z.string().max(100).optional(), certificate: z.string().max(65_536).optional() }).openapi('CertsOcspJson') },
          },
        },
      },
      responses: { 200: { description: 'OCSP response', content: { 'application/ocsp-response': { schema: z.string().openapi({ format: 'binary' }) } } }, ...ERRORS },
    }),
    async (c) => {
      const ca = await compatCa()
      const headers = { 'Content-Type': 'application/ocsp-response', 'Cache-Control': 'no-cache' }
      if ((c.req.header('Content-Type') ?? '').startsWith('application/json')) {
        const valid = c.req.valid('json')
        const body = typeof valid === 'string' ? {} : valid
        const serial = body.serial_number !== undefined ? normalizeSerial(body.serial_number) : body.certificate !== undefined ? serialOfPem(body.certificate) : undefined
        if (serial === undefined) throw new KeybrokerError('bad-request', 'give serial_number or certificate')
        return c.body(Buffer.from(await (await caServices()).answerOcspForSerial(s, ca, serial)), 200, headers)
      }
      return c.body(Buffer.from(await (await caServices()).answerOcsp(s, ca, new Uint8Array(await c.req.arrayBuffer()))), 200, headers)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/certs/view-ca',
      tags: TAG,
      summary: 'The CA chain as {certificate (PEM), revoked, expiry_time}',
      responses: { 200: { description: 'CA', content: { 'application/json': { schema: z.object({ certificate: z.string(), revoked: z.boolean(), expiry_time: z.string() }).openapi('CertsViewCa') } } }, ...ERRORS },
    }),
    async (c) => {
      const pem = await (await caServices()).caBundlePem(s, await compatCa())
      const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0]
      const expiry = first === undefined ? '' : new Date(new X509Certificate(first).validTo).toISOString()
      return c.json({ certificate: pem, revoked: false, expiry_time: expiry }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/certs/download-ca',
      tags: TAG,
      summary: 'The CA chain in ca.zip (ca.crt)',
      responses: { 200: { description: 'zip', content: { 'application/zip': { schema: z.string().openapi({ format: 'binary' }) } } }, ...ERRORS },
    }),
    async (c) => {
      const pem = await (await caServices()).caBundlePem(s, await compatCa())
      const zip = storedZip([{ name: 'ca.crt', data: new Uint8Array(Buffer.from(pem)) }], s.now())
      return c.body(Buffer.from(zip), 200, { 'Content-Type': 'application/zip', 'Content-Disposition': 'attachment; filename=ca.zip' })
    },
  )
}

function serialOfPem(pem: string): string | undefined {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(pem)
  } catch (cause) {
    throw new KeybrokerError('bad-request', 'certificate: not a PEM certificate', { cause })
  }
  return normalizeSerial(cert.serialNumber)
}
