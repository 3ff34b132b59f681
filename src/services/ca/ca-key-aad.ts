const ENVELOPE_LABEL = 'keybroker ca key v1'

/**
 * AAD of a CA private key at rest: bound to the CA, the version and the key identifier. Its own
 * module because the envelope store (KEK rotation) needs it at start and the CA code loads lazily.
 */
export function caKeyAad(name: string, version: number, keyId: string): string {
  return `${ENVELOPE_LABEL}:${name}:${version}:${keyId}`
}
