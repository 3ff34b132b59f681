import { KeybrokerError } from '../errors.js'

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/

/**
 * The attestation result token of an `Authorization: Bearer <EAR>` header (a compact JWS).
 * @throws KeybrokerError `unauthorized` when it is missing, oversized or not a compact JWS.
 */
export function bearerEar(header: string | undefined): string {
  const match = header === undefined || header.length > 16_384 ? null : BEARER.exec(header)
  if (match === null || match[1] === undefined) throw new KeybrokerError('unauthorized', 'a bearer attestation token is required')
  return match[1]
}
