import { inspect } from 'node:util'

const REDACTED = '[redacted]'

/**
 * Plaintext secret bytes that redact themselves wherever they could leak by accident:
 * `JSON.stringify`, `String()`/template literals, `util.inspect`/`console.log` all give
 * `[redacted]` (docs/conventions.md §10, "Logging secrets"). Only {@link SecretValue.expose} yields bytes.
 *
 * The bytes live in a private field (not enumerable, invisible to structured clone of the
 * object's own properties) and are copied in, so the caller may wipe its buffer.
 */
export class SecretValue {
  readonly #bytes: Uint8Array

  constructor(bytes: Uint8Array) {
    this.#bytes = Uint8Array.from(bytes)
  }

  /** Number of secret bytes (not secret itself). */
  get byteLength(): number {
    return this.#bytes.byteLength
  }

  /**
   * Returns the secret bytes themselves (not a copy, so no stray copies accumulate). Callers must
   * not mutate them and must not keep them beyond the operation that needs them.
   */
  expose(): Uint8Array {
    return this.#bytes
  }

  /** Overwrites the bytes with zeros; later `expose()` calls return zeros. Best effort: JS may have copied. */
  wipe(): void {
    this.#bytes.fill(0)
  }

  toJSON(): string {
    return REDACTED
  }

  toString(): string {
    return REDACTED
  }

  [Symbol.toPrimitive](): string {
    return REDACTED
  }

  [inspect.custom](): string {
    return REDACTED
  }
}

/** Accepts either raw bytes or a {@link SecretValue}, for APIs that take plaintext secrets. */
export type SecretInput = Uint8Array | SecretValue

/** The bytes of a {@link SecretInput}, without copying. */
export function secretBytes(input: SecretInput): Uint8Array {
  return input instanceof SecretValue ? input.expose() : input
}
