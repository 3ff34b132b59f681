/**
 * The state of one SEV launch between its session (`POST /v1/sev/sessions`) and its secret
 * (`POST /v1/sev/launches`), kept by the client instead of the server: a sealed token, the same
 * stateless pattern as TPM enrollment (src/services/tpm-enrollment.ts), but encrypted, because it
 * carries the TEK and TIK.
 *
 * Token: `kbsev1.<kek id>.<base64url IV>.<base64url AES-256-GCM ciphertext ‖ tag>`, the
 * additional data being `kbsev1.<kek id>`. The key is HKDF-SHA-256(KEK, info "keybroker sev
 * launch state key v1"): every replica holding the KEK opens it, nobody else reads or forges it.
 * The KEK id lets a token sealed before a KEK rotation open while the old KEK is in the ring.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { z } from 'zod'
import { KeybrokerError } from '../errors.js'
import { toBase64Url } from '../evidence/reader.js'
import type { Kek, KekRing } from '../secrets/index.js'

const KEY_INFO = 'keybroker sev launch state key v1'
const PREFIX = 'kbsev1'
const TOKEN = /^kbsev1\.([0-9a-f]{16})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{40,4096})$/
const B64URL_16 = z.string().regex(/^[A-Za-z0-9_-]{22}$/)

const StateSchema = z
  .object({
    v: z.literal(1),
    /** Random id: the single-use marker of the launch. */
    id: B64URL_16,
    /** The secret the launch will release. */
    secret: z.string().min(1).max(128),
    /** The guest policy the session was made for (POLICY_MAC covers it). */
    policy: z.number().int().min(0).max(0xffff_ffff),
    tek: B64URL_16,
    tik: B64URL_16,
    /** The platform: product, chip (SHA-256 of the CEK key), PDH certificate digest. */
    product: z.string().max(32),
    chip: z.string().regex(/^[0-9a-f]{64}$/),
    pdh: z.string().regex(/^[0-9a-f]{64}$/),
    /** The VM the session was opened for, when the client named it (aleph: the VM message hash). */
    vm: z.string().max(128).optional(),
    iat: z.number().int().positive(),
    exp: z.number().int().positive(),
  })
  .strict()

export type SevLaunchState = z.infer<typeof StateSchema>

function stateKey(kek: Kek): Buffer {
  return Buffer.from(hkdfSync('sha256', kek.key, new Uint8Array(0), KEY_INFO, 32))
}

/** Seals `state` under the current KEK. */
export function sealLaunchState(kek: Kek, state: SevLaunchState): string {
  const key = stateKey(kek)
  const iv = randomBytes(12)
  const aad = `${PREFIX}.${kek.id}`
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(aad, 'ascii'))
  const plaintext = Buffer.from(JSON.stringify(state), 'utf8')
  try {
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
    return `${aad}.${toBase64Url(iv)}.${toBase64Url(sealed)}`
  } finally {
    plaintext.fill(0)
    key.fill(0)
  }
}

/**
 * Opens a state token. @throws KeybrokerError `token-invalid` when it is malformed, sealed under
 *   a KEK that is not in the ring, altered, or expired at `now`
 */
export function openLaunchState(keks: KekRing, token: string, now: Date): SevLaunchState {
  const m = TOKEN.exec(token)
  const kek = m === null ? undefined : keks.get(m[1]!)
  if (m === null || kek === undefined) throw new KeybrokerError('token-invalid', 'SEV launch state invalid; open a new session')
  const sealed = Buffer.from(m[3]!, 'base64url')
  if (sealed.byteLength <= 16) throw new KeybrokerError('token-invalid', 'SEV launch state invalid; open a new session')
  const key = stateKey(kek)
  let plaintext: Buffer
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(m[2]!, 'base64url')).setAAD(Buffer.from(`${PREFIX}.${kek.id}`, 'ascii'))
    decipher.setAuthTag(sealed.subarray(sealed.byteLength - 16))
    plaintext = Buffer.concat([decipher.update(sealed.subarray(0, sealed.byteLength - 16)), decipher.final()])
  } catch (cause) {
    throw new KeybrokerError('token-invalid', 'SEV launch state invalid; open a new session', { cause })
  } finally {
    key.fill(0)
  }
  let state: SevLaunchState
  try {
    state = StateSchema.parse(JSON.parse(plaintext.toString('utf8')))
  } catch (cause) {
    // The tag verified, so only a bug on our side gets here.
    throw new KeybrokerError('internal', 'SEV launch state unreadable', { cause })
  } finally {
    plaintext.fill(0)
  }
  if (now.getTime() >= state.exp * 1000) throw new KeybrokerError('token-invalid', 'SEV launch state expired; open a new session and restart the VM')
  return state
}
