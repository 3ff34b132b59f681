import { AsnConvert } from '@peculiar/asn1-schema'
import { KeybrokerError, type ErrorCode } from '../errors.js'

/**
 * Parses untrusted bytes as exactly one DER value of an asn1-schema type: the size bounded
 * first, any parser exception turned into `code`, and the value re-encoded and compared so that
 * BER forms and trailing bytes are refused (signatures cover the bytes as sent).
 * @throws KeybrokerError `code` naming `what`.
 */
export function parseExactDer<T>(der: Uint8Array, schema: new () => T, what: string, maxBytes: number, code: ErrorCode): T {
  if (der.byteLength === 0 || der.byteLength > maxBytes) throw new KeybrokerError(code, `${what} must be 1..${maxBytes} bytes`)
  let value: T
  try {
    value = AsnConvert.parse(der, schema)
  } catch (cause) {
    throw new KeybrokerError(code, `the bytes are not a DER ${what}`, { cause })
  }
  let again: ArrayBuffer
  try {
    again = AsnConvert.serialize(value)
  } catch (cause) {
    throw new KeybrokerError(code, `the ${what} does not re-encode`, { cause })
  }
  if (!Buffer.from(again).equals(Buffer.from(der))) throw new KeybrokerError(code, `the ${what} is not DER (or has trailing bytes)`)
  return value
}
