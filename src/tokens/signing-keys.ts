import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { KeybrokerError } from '../errors.js'
import { createKeyFileExclusive, readKeyFile } from '../secrets/key-file.js'

/** Token signature algorithms (docs/architecture.md, "Tokens": ES256 default, ES384 option). */
export type TokenAlg = 'ES256' | 'ES384'
export const TOKEN_ALGS = ['ES256', 'ES384'] as const satisfies readonly TokenAlg[]

const CURVES = { ES256: { jwk: 'P-256', node: 'prime256v1' }, ES384: { jwk: 'P-384', node: 'secp384r1' } } as const

/** The key that signs new tokens. */
export interface TokenSigner {
  readonly alg: TokenAlg
  /** RFC 7638 thumbprint (SHA-256, base64url) of `publicJwk`. */
  readonly kid: string
  readonly privateKey: KeyObject
  /** Public JWK with `kid`, `alg` and `use: "sig"`, as published in the JWKS. */
  readonly publicJwk: JWK
}

export interface VerificationKey {
  readonly kid: string
  readonly alg: TokenAlg
  readonly publicJwk: JWK
  readonly key: KeyObject
}

/** The signing key plus every key whose tokens must still verify (rotation). */
export interface KeySet {
  readonly current: TokenSigner
  /** Includes the current key; unique by kid. */
  readonly verificationKeys: readonly VerificationKey[]
  /** The public JWKS for `/.well-known/jwks.json` (RFC 7517 §5); no private members. */
  jwks(): { keys: JWK[] }
}

/** Signing keys live in `token-signing-*.pem`; `token-signing-current.pem` signs. */
export const SIGNING_KEY_PREFIX = 'token-signing-'
export const CURRENT_SIGNING_KEY_FILE = `${SIGNING_KEY_PREFIX}current.pem`
const MAX_KEY_FILES = 64

/** Generates a fresh signer on the curve of `alg`. */
export async function generateSigner(alg: TokenAlg): Promise<TokenSigner> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: CURVES[alg].node })
  return signerFromKeyObject(privateKey, alg)
}

/**
 * Loads a signer from a PKCS#8 (or SEC1) PEM private key.
 * @throws KeybrokerError `internal` if the PEM is not an EC private key on the curve of `alg`
 *   (the detail never includes the PEM).
 */
export async function signerFromPem(pem: string, alg: TokenAlg): Promise<TokenSigner> {
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' })
  } catch (cause) {
    throw new KeybrokerError('internal', 'token signing key is not a PEM private key', { cause })
  }
  return signerFromKeyObject(privateKey, alg)
}

/**
 * Builds the key set: `current` signs; it and `previous` verify. Duplicates (same kid) collapse.
 */
export function createKeySet(current: TokenSigner, previous: readonly VerificationKey[] = []): KeySet {
  const byKid = new Map<string, VerificationKey>()
  byKid.set(current.kid, {
    kid: current.kid,
    alg: current.alg,
    publicJwk: current.publicJwk,
    key: createPublicKey(current.privateKey),
  })
  for (const key of previous) if (!byKid.has(key.kid)) byKid.set(key.kid, key)
  const verificationKeys = Object.freeze([...byKid.values()])
  return Object.freeze({
    current,
    verificationKeys,
    jwks: () => ({ keys: verificationKeys.map((k) => ({ ...k.publicJwk })) }),
  })
}

/**
 * Loads the token signing keys from `dir`, creating `token-signing-current.pem` (PKCS#8 PEM,
 * mode 0600, atomic, never overwriting; the directory 0700) when it does not exist.
 *
 * Rotation, kept simple: `token-signing-current.pem` signs; every other `token-signing-*.pem`
 * in `dir` only verifies. To rotate, rename the current file (e.g. to
 * `token-signing-2026-05-01.pem`) and restart: a new current key is created, and the old one
 * stays in the JWKS until its file is deleted (after the longest token lifetime). The signer is
 * chosen by name, not by file time, so replicas sharing copies of the directory agree.
 * Verification keys may use either curve; the signer must match `alg`.
 * @throws KeybrokerError `internal` on I/O failure, an unreadable key or a curve mismatch.
 */
export async function loadOrCreateSigningKey(dir: string, alg: TokenAlg): Promise<KeySet> {
  return loadOrCreateSigningKeys(dir, alg)
}

/**
 * {@link loadOrCreateSigningKey}, plus an optional operator-provided signing key: when
 * `currentKeyFile` is given, that PKCS#8 PEM file signs (nothing is created) and every
 * `token-signing-*.pem` in `dir` only verifies. `previousKeysFile` (PEM, public or private keys,
 * one block each) adds verification keys: the public halves of earlier signing keys, kept in the
 * JWKS while their tokens may still be presented, or of the next key, published before replicas
 * switch to it.
 * @throws KeybrokerError `internal` on I/O failure, an unreadable key or a curve mismatch.
 */
export async function loadOrCreateSigningKeys(dir: string, alg: TokenAlg, currentKeyFile?: string, previousKeysFile?: string): Promise<KeySet> {
  let files = await listSigningKeyFiles(dir)
  if (currentKeyFile === undefined && !files.includes(CURRENT_SIGNING_KEY_FILE)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: CURVES[alg].node })
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' })
    await createKeyFileExclusive(join(dir, CURRENT_SIGNING_KEY_FILE), Buffer.from(pem))
    files = await listSigningKeyFiles(dir)
  }
  const loaded: LoadedKey[] = []
  for (const name of files) {
    const key = await loadKeyFile(join(dir, name), name)
    if (key !== undefined) loaded.push(key)
  }
  let current: LoadedKey | undefined
  if (currentKeyFile !== undefined) {
    current = await loadKeyFile(currentKeyFile, currentKeyFile)
    if (current === undefined) throw new KeybrokerError('internal', `token signing key file ${currentKeyFile} does not exist`)
  } else {
    current = loaded.find((k) => k.name === CURRENT_SIGNING_KEY_FILE)
  }
  if (current === undefined) throw new KeybrokerError('internal', `no token signing key in ${dir}`)
  if (current.alg !== alg) {
    throw new KeybrokerError('internal', `token signing key ${current.name} is ${current.alg}, configured ${alg}`)
  }
  const signer = await signerFromKeyObject(current.privateKey, alg)
  const previous: VerificationKey[] = []
  for (const k of loaded) {
    if (k === current) continue
    const s = await signerFromKeyObject(k.privateKey, k.alg)
    previous.push({ kid: s.kid, alg: s.alg, publicJwk: s.publicJwk, key: createPublicKey(k.privateKey) })
  }
  if (previousKeysFile !== undefined) previous.push(...(await loadVerificationKeys(previousKeysFile)))
  return createKeySet(signer, previous)
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g

/**
 * The verification keys of a PEM file: every block a P-256 or P-384 public key (SPKI) or
 * private key (only its public half is kept).
 * @throws KeybrokerError `internal` when the file is missing, holds no key, more than
 *   64, or a block that is not such a key (the detail names the file and block, never key bytes).
 */
export async function loadVerificationKeys(path: string): Promise<VerificationKey[]> {
  const bytes = await readKeyFile(path)
  if (bytes === undefined) throw new KeybrokerError('internal', `token key file ${path} does not exist`)
  const text = Buffer.from(bytes).toString('ascii')
  bytes.fill(0)
  const blocks = text.match(PEM_BLOCK) ?? []
  if (blocks.length === 0) throw new KeybrokerError('internal', `token key file ${path} holds no PEM key`)
  if (blocks.length > MAX_KEY_FILES) throw new KeybrokerError('internal', `token key file ${path} holds more than ${MAX_KEY_FILES} keys`)
  const keys: VerificationKey[] = []
  for (const [i, block] of blocks.entries()) {
    let key: KeyObject
    try {
      key = createPublicKey({ key: block, format: 'pem' })
    } catch (cause) {
      throw new KeybrokerError('internal', `token key file ${path}: block ${i + 1} is not a PEM key`, { cause })
    }
    const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined
    const keyAlg: TokenAlg | undefined = curve === CURVES.ES256.node ? 'ES256' : curve === CURVES.ES384.node ? 'ES384' : undefined
    if (keyAlg === undefined) throw new KeybrokerError('internal', `token key file ${path}: block ${i + 1} is not a P-256 or P-384 key`)
    const { x, y } = key.export({ format: 'jwk' })
    if (typeof x !== 'string' || typeof y !== 'string') throw new KeybrokerError('internal', 'cannot export the public key')
    const base: JWK = { kty: 'EC', crv: CURVES[keyAlg].jwk, x, y }
    const kid = await calculateJwkThumbprint(base, 'sha256')
    keys.push({ kid, alg: keyAlg, publicJwk: Object.freeze({ ...base, kid, alg: keyAlg, use: 'sig' }), key })
  }
  return keys
}

interface LoadedKey {
  readonly name: string
  readonly privateKey: KeyObject
  readonly alg: TokenAlg
}

async function loadKeyFile(path: string, name: string): Promise<LoadedKey | undefined> {
  const bytes = await readKeyFile(path)
  if (bytes === undefined) return undefined // removed between listing and reading: no longer a key
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key: Buffer.from(bytes), format: 'pem' })
  } catch (cause) {
    throw new KeybrokerError('internal', `token signing key file ${name} is not a PEM private key`, { cause })
  } finally {
    bytes.fill(0)
  }
  const alg = algOf(privateKey)
  if (alg === undefined) throw new KeybrokerError('internal', `token signing key file ${name} is not P-256 or P-384`)
  return { name, privateKey, alg }
}

async function listSigningKeyFiles(dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (cause) {
    if (cause instanceof Error && 'code' in cause && cause.code === 'ENOENT') return []
    throw new KeybrokerError('internal', `cannot list ${dir}`, { cause })
  }
  const keys = names.filter((n) => n.startsWith(SIGNING_KEY_PREFIX) && n.endsWith('.pem')).sort()
  if (keys.length > MAX_KEY_FILES) throw new KeybrokerError('internal', `more than ${MAX_KEY_FILES} signing keys in ${dir}`)
  return keys
}

async function signerFromKeyObject(privateKey: KeyObject, alg: TokenAlg): Promise<TokenSigner> {
  if (algOf(privateKey) !== alg) {
    throw new KeybrokerError('internal', `token signing key is not an EC ${CURVES[alg].jwk} private key`)
  }
  const exported = createPublicKey(privateKey).export({ format: 'jwk' })
  const { x, y } = exported
  if (typeof x !== 'string' || typeof y !== 'string') throw new KeybrokerError('internal', 'cannot export the public key')
  const base: JWK = { kty: 'EC', crv: CURVES[alg].jwk, x, y }
  const kid = await calculateJwkThumbprint(base, 'sha256')
  return Object.freeze({ alg, kid, privateKey, publicJwk: Object.freeze({ ...base, kid, alg, use: 'sig' }) })
}

function algOf(key: KeyObject): TokenAlg | undefined {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec') return undefined
  const curve = key.asymmetricKeyDetails?.namedCurve
  if (curve === CURVES.ES256.node) return 'ES256'
  if (curve === CURVES.ES384.node) return 'ES384'
  return undefined
}
