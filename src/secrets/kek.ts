import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { KeybrokerError } from '../errors.js'
import { createKeyFileExclusive, readKeyFile } from './key-file.js'

/** AES-256 key-encryption key for secrets at rest (docs/architecture.md, "Secrets"). */
export interface Kek {
  /** 16 lowercase hex characters derived from the key by a domain-separated hash; never the key. */
  readonly id: string
  /** 32 secret bytes. */
  readonly key: Uint8Array
}

/** The KEKs an envelope may be opened with: `current` seals, all of them open (rotation). */
export interface KekRing {
  readonly current: Kek
  /** The KEK with this id, or `undefined`. */
  get(id: string): Kek | undefined
  /** The ids of every KEK in the ring, the current one first. */
  ids(): string[]
}

export const KEK_BYTES = 32
/** File name of the KEK created by {@link loadOrCreateKek}. */
export const KEK_FILE = 'kek.b64'
const KEK_ID_LABEL = 'keybroker kek id v1\0'
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$|^[A-Za-z0-9_-]+$/

/**
 * Wraps 32 key bytes as a {@link Kek}. The id is the first 16 hex digits of
 * SHA-256("keybroker kek id v1\0" ‖ key): it names the key in envelopes and logs without
 * revealing it, and the label keeps it distinct from any other hash of the same bytes.
 * The returned object redacts `key` in JSON and `util.inspect`.
 * @throws KeybrokerError `internal` if `key` is not 32 bytes.
 */
export function kekFromBytes(key: Uint8Array): Kek {
  if (key.byteLength !== KEK_BYTES) throw new KeybrokerError('internal', `KEK must be ${KEK_BYTES} bytes`)
  const copy = Uint8Array.from(key)
  const id = createHash('sha256').update(KEK_ID_LABEL).update(copy).digest('hex').slice(0, 16)
  const redacted = { id, key: '[redacted]' }
  return Object.freeze({
    id,
    key: copy,
    toJSON: () => redacted,
    [inspect.custom]: () => `Kek { id: '${id}', key: [redacted] }`,
  })
}

/**
 * Parses a KEK given by configuration or environment: standard base64 or base64url of exactly
 * 32 bytes, surrounding whitespace ignored.
 * @throws KeybrokerError `internal` with a fixed detail (the text is never echoed).
 */
export function kekFromBase64(text: string): Kek {
  const trimmed = text.trim()
  if (trimmed.length > 64 || !BASE64.test(trimmed)) {
    throw new KeybrokerError('internal', `KEK must be base64 of ${KEK_BYTES} bytes`)
  }
  const bytes = Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64')
  try {
    return kekFromBytes(bytes)
  } finally {
    bytes.fill(0)
  }
}

/**
 * Loads the KEK from `dir/kek.b64`, creating a random one (mode 0600, atomic, never
 * overwriting) if the file is absent.
 * @throws KeybrokerError `internal` on I/O failure or a malformed file.
 */
export async function loadOrCreateKek(dir: string): Promise<Kek> {
  const path = join(dir, KEK_FILE)
  let contents = await readKeyFile(path)
  if (contents === undefined) {
    const key = randomBytes(KEK_BYTES)
    await createKeyFileExclusive(path, Buffer.from(`${key.toString('base64')}\n`, 'ascii'))
    key.fill(0)
    // Read back whatever is there now: ours, or a concurrent replica's if it won the race.
    contents = await readKeyFile(path)
    if (contents === undefined) throw new KeybrokerError('internal', `key file ${path} vanished`)
  }
  try {
    return kekFromBase64(Buffer.from(contents).toString('ascii'))
  } finally {
    contents.fill(0)
  }
}

/**
 * Builds a ring from the current KEK and older ones still needed to open existing envelopes.
 * @throws KeybrokerError `internal` if two different keys share an id (practically impossible).
 */
export function createKekRing(current: Kek, previous: readonly Kek[] = []): KekRing {
  const byId = new Map<string, Kek>()
  for (const kek of [current, ...previous]) {
    const existing = byId.get(kek.id)
    if (existing !== undefined && existing !== kek && Buffer.compare(existing.key, kek.key) !== 0) {
      throw new KeybrokerError('internal', `two KEKs share the id ${kek.id}`)
    }
    byId.set(kek.id, kek)
  }
  return Object.freeze({ current, get: (id: string) => byId.get(id), ids: () => [...byId.keys()] })
}
