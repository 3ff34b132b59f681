/**
 * The CA's vocabulary without its ASN.1 machinery: the names routes validate requests against
 * and the text forms they answer in. Routes import it directly, so that the CA code itself
 * (@peculiar/x509 and the asn1 schemas) loads with the first certificate request, not at start.
 */
export const REVOCATION_REASONS = ['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'] as const
export type RevocationReason = (typeof REVOCATION_REASONS)[number]
/** CRLReason codes (RFC 5280 §5.3.1). */
export const REASON_CODES: Readonly<Record<RevocationReason, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
}

/** The cap of any profile's lifetime: attested certificates are short-lived; renew instead. */
export const MAX_LIFETIME_SECONDS = 90 * 86_400

export const EXTENDED_KEY_USAGES = ['serverAuth', 'clientAuth'] as const
export type ExtendedKeyUsageName = (typeof EXTENDED_KEY_USAGES)[number]

/** A serial as clients write it (`0A:1b…`, `0x…`, leading zeros) in our canonical lowercase form. */
export function normalizeSerial(text: string): string | undefined {
  const hex = text.trim().replace(/^0x/i, '').replace(/[:\s]/g, '').toLowerCase()
  if (!/^[0-9a-f]{1,64}$/.test(hex)) return undefined
  const stripped = hex.replace(/^0+/, '')
  if (stripped === '') return undefined
  return stripped.length % 2 === 1 ? `0${stripped}` : stripped
}

/** The PEM of a DER certificate. */
export function certificatePem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`
}
