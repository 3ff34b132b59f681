import { z } from '@hono/zod-openapi'
import { NameSchema } from './common.js'

/** A PKCS #10 request as text: PEM, or base64 / base64url of the DER (or of the PEM). */
export const CsrSchema = z.string().min(1).max(180_000).openapi({ description: 'PKCS #10 request: PEM, or base64 of its DER' })

export const CertificateRequestSchema = z
  .object({
    ca: NameSchema.optional().openapi({ description: 'the CA; when given it must be the profile\'s' }),
    profile: NameSchema,
    csr: CsrSchema,
  })
  .strict()
  .openapi('CertificateRequest', { description: 'a certificate for the attested key: the CSR\'s key must be the EAR\'s cnf.jwk (or the attested publicKey)' })

export const IssuedCertificateSchema = z
  .object({
    serial: z.string().openapi({ description: 'lowercase hex' }),
    certificate: z.string().openapi({ description: 'PEM' }),
    chain: z.array(z.string()).openapi({ description: 'the issuing CA certificate and those above it, PEM' }),
    notAfter: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('IssuedCertificate')

/** A serial as clients write it: hex, optionally colon-separated (absmach/certs) or 0x-prefixed. */
export const SerialSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^(?:0x)?[0-9A-Fa-f:]+$/, 'a hex serial number')
  .openapi({ example: '3a5f09c2e4b17d68' })
