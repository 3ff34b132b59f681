import { z } from '@hono/zod-openapi'

/** An RFC 7638 JWK thumbprint with SHA-256: 43 base64url characters (exchange key ids, disk identities). */
export const ThumbprintSchema = z
  .string()
  .length(43)
  .regex(/^[A-Za-z0-9_-]{43}$/, 'an RFC 7638 SHA-256 thumbprint (43 base64url characters)')
  .openapi({ example: 'oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U' })
