import { createHash, createPrivateKey, X509Certificate as NodeX509 } from 'node:crypto'
import {
  caSigner,
  certificatePem,
  checkCaCertificate,
  createRootCertificate,
  generateCaKey,
  keyIdentifier,
  newSerial,
  type CaKeyType,
  type CaSigner,
} from '../../ca/index.js'
import { KeybrokerError } from '../../errors.js'
import { openAtRest, sealAtRest } from '../../secrets/index.js'
import {
  addCaVersion,
  createCa as insertCa,
  getCa,
  getCaVersionSecret,
  lastNotAfterOf,
  listCas as selectCas,
  type CaMeta,
  type NewCaVersion,
} from '../../storage/index.js'
import type { AdminPrincipal } from '../admin-tokens.js'
import { auditAdminChange } from '../audit.js'
import type { Services } from '../services.js'
import { caKeyAad } from './ca-key-aad.js'

/**
 * Certificate authorities of the attested CA (issue 16): generated (a P-256/P-384 key and a
 * self-signed root) or imported (an intermediate's certificate and key, chained to an external
 * root). Private keys live only as envelopes sealed at rest under the KEK; rotation adds a key
 * and keeps the older ones answering CRL and OCSP.
 */

/** Lifetime of a generated root; rotation, not expiry, is how a generated CA changes keys. */
export const ROOT_LIFETIME_SECONDS = 10 * 365 * 86_400
const MAX_PEM_BYTES = 64 * 1024

export { caKeyAad }

export interface CaView {
  readonly name: string
  readonly keyType: string
  readonly source: 'generated' | 'imported'
  readonly currentVersion: number
  /** PEM of the current version's certificate. */
  readonly certificate: string
  /** PEM chain: the current certificate, then the certificates above it (imported CAs). */
  readonly chain: string
  readonly createdAt: string
  readonly updatedAt: string
  readonly versions: { version: number; certificate: string; keyId: string; notAfter: string; createdAt: string }[]
}

export type CreateCaInput =
  | { readonly name: string; readonly keyType: CaKeyType; readonly certificate?: undefined; readonly privateKey?: undefined }
  | { readonly name: string; readonly keyType?: undefined; readonly certificate: string; readonly privateKey: string }

/** Creates a CA: generated when `keyType` is given, imported when `certificate` + `privateKey` are. */
export async function createCa(s: Services, input: CreateCaInput, by: AdminPrincipal): Promise<CaView> {
  const at = s.now()
  const made = input.certificate === undefined ? await generatedVersion(s, input.name, 1, input.keyType, at) : await importedVersion(s, input.name, 1, input, at)
  await s.database.db.transaction(async (tx) => {
    await insertCa(tx, { name: input.name, keyType: made.keyType, source: input.certificate === undefined ? 'generated' : 'imported', version: made.version, at })
    await auditAdminChange(tx, s, by, 'ca.create', input.name, { version: 1, keyType: made.keyType, source: input.certificate === undefined ? 'generated' : 'imported', keyId: made.version.keyId })
  })
  return getCaView(s, input.name)
}

/**
 * Rotation: a new key becomes current for issuance. A generated CA gets a new key and root; an
 * imported one needs the new intermediate (`certificate` + `privateKey`). Older versions keep
 * their CRL and OCSP and stay in `GET /v1/ca/{name}` until their last certificate expires.
 */
export async function rotateCa(s: Services, name: string, input: { certificate?: string | undefined; privateKey?: string | undefined }, by: AdminPrincipal): Promise<CaView> {
  const meta = await getCa(s.database.db, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `no such CA: ${name}`)
  const at = s.now()
  const next = meta.currentVersion + 1
  let made: { keyType: string; version: NewCaVersion }
  if (meta.source === 'generated') {
    if (input.certificate !== undefined || input.privateKey !== undefined) throw new KeybrokerError('bad-request', 'a generated CA rotates to a generated key; give no certificate')
    made = await generatedVersion(s, name, next, caKeyTypeOf(meta.keyType), at)
  } else {
    if (input.certificate === undefined || input.privateKey === undefined) throw new KeybrokerError('bad-request', 'an imported CA rotates to a new imported intermediate: give certificate and privateKey')
    made = await importedVersion(s, name, next, { certificate: input.certificate, privateKey: input.privateKey }, at)
  }
  await s.database.db.transaction(async (tx) => {
    await addCaVersion(tx, name, next, made.version, at)
    await auditAdminChange(tx, s, by, 'ca.rotate', name, { version: next, keyId: made.version.keyId })
  })
  return getCaView(s, name)
}

export async function listCaViews(s: Services): Promise<CaView[]> {
  return (await selectCas(s.database.db)).map(toView)
}

export async function getCaView(s: Services, name: string): Promise<CaView> {
  const meta = await getCa(s.database.db, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `no such CA: ${name}`)
  return toView(meta)
}

/**
 * The PEM bundle relying parties trust (`GET /v1/ca/{name}`): the current version's certificate
 * and its chain, then every older version that still has unexpired certificates.
 */
export async function caBundlePem(s: Services, name: string): Promise<string> {
  const db = s.database.db
  const meta = await getCa(db, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `no such CA: ${name}`)
  const now = s.now()
  const parts: string[] = []
  for (const v of [...meta.versions].reverse()) {
    if (v.version !== meta.currentVersion) {
      const last = await lastNotAfterOf(db, name, v.version)
      if (last === undefined || last <= now) continue
    }
    parts.push(certificatePem(v.certificate), v.chainPem)
  }
  return parts.filter((p) => p !== '').join('')
}

/**
 * The signer of CA `name` at `version` (default: current): its key opened from the envelope.
 * @throws KeybrokerError `not-found`.
 */
export async function loadCaSigner(s: Services, name: string, version?: number): Promise<{ signer: CaSigner; version: number; meta: CaMeta }> {
  const db = s.database.db
  const meta = await getCa(db, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `no such CA: ${name}`)
  const v = version ?? meta.currentVersion
  const row = await getCaVersionSecret(db, name, v)
  if (row === undefined) throw new KeybrokerError('not-found', `CA ${name} has no version ${v}`)
  const pkcs8 = openAtRest(s.keks, row.envelope, caKeyAad(name, v, row.keyId))
  try {
    return { signer: await caSigner(pkcs8, row.certificate), version: v, meta }
  } finally {
    pkcs8.fill(0)
  }
}

async function generatedVersion(s: Services, name: string, version: number, keyType: CaKeyType, at: Date): Promise<{ keyType: string; version: NewCaVersion }> {
  const pkcs8 = generateCaKey(keyType)
  try {
    const certificate = await createRootCertificate({
      pkcs8,
      commonName: `${name} v${version}`,
      serialHex: newSerial(),
      notBefore: new Date(at.getTime() - 60_000),
      notAfter: new Date(at.getTime() + ROOT_LIFETIME_SECONDS * 1000),
    })
    return { keyType, version: sealedVersion(s, name, version, pkcs8, certificate, '') }
  } finally {
    pkcs8.fill(0)
  }
}

async function importedVersion(
  s: Services,
  name: string,
  version: number,
  input: { certificate: string; privateKey: string },
  at: Date,
): Promise<{ keyType: string; version: NewCaVersion }> {
  if (input.certificate.length > MAX_PEM_BYTES || input.privateKey.length > MAX_PEM_BYTES) throw new KeybrokerError('bad-request', 'certificate and privateKey are PEM of at most 64 KiB')
  const blocks = pemBlocks(input.certificate, 'CERTIFICATE')
  const [leaf, ...above] = blocks
  if (leaf === undefined) throw new KeybrokerError('bad-request', 'certificate: no PEM CERTIFICATE block')
  checkCaCertificate(leaf, at)
  // Each certificate above must have issued the one below it: the chain a relying party builds.
  const chain = [leaf, ...above].map((der, i) => {
    try {
      return new NodeX509(Buffer.from(der))
    } catch (cause) {
      throw new KeybrokerError('bad-request', `certificate block ${i + 1} does not parse`, { cause })
    }
  })
  for (let i = 1; i < chain.length; i++) {
    const child = chain[i - 1]
    const parent = chain[i]
    if (child === undefined || parent === undefined || !child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new KeybrokerError('bad-request', `certificate block ${i + 1} did not issue block ${i}`)
    }
  }
  let pkcs8: Uint8Array
  try {
    pkcs8 = new Uint8Array(createPrivateKey({ key: input.privateKey, format: 'pem' }).export({ format: 'der', type: 'pkcs8' }))
  } catch (cause) {
    throw new KeybrokerError('bad-request', 'privateKey: an unencrypted PEM private key', { cause })
  }
  try {
    const signer = await caSigner(pkcs8, leaf)
    const keyType = signer.signingAlgorithm.name === 'ECDSA' ? (signer.hash === 'sha384' ? 'P-384' : 'P-256') : 'RSA'
    return { keyType, version: sealedVersion(s, name, version, pkcs8, leaf, above.map(certificatePem).join('')) }
  } finally {
    pkcs8.fill(0)
  }
}

function sealedVersion(s: Services, name: string, version: number, pkcs8: Uint8Array, certificate: Uint8Array, chainPem: string): NewCaVersion {
  const keyId = keyIdentifier(certificate)
  return {
    certificate,
    chainPem,
    keyId,
    notAfter: new Date(new NodeX509(Buffer.from(certificate)).validTo),
    kekId: s.keks.current.id,
    envelope: sealAtRest(s.keks.current, pkcs8, caKeyAad(name, version, keyId)),
  }
}

function pemBlocks(text: string, label: string): Uint8Array[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+?)-----END ${label}-----`, 'g')
  return [...text.matchAll(re)].map((m) => new Uint8Array(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64')))
}

function caKeyTypeOf(keyType: string): CaKeyType {
  if (keyType === 'P-256' || keyType === 'P-384') return keyType
  throw new KeybrokerError('internal', `generated CA with key type ${keyType}`)
}

function toView(meta: CaMeta): CaView {
  const current = meta.versions.find((v) => v.version === meta.currentVersion)
  if (current === undefined) throw new KeybrokerError('internal', `CA ${meta.name} lacks its current version`)
  const certificate = certificatePem(current.certificate)
  return {
    name: meta.name,
    keyType: meta.keyType,
    source: meta.source,
    currentVersion: meta.currentVersion,
    certificate,
    chain: certificate + current.chainPem,
    createdAt: meta.createdAt.toISOString(),
    updatedAt: meta.updatedAt.toISOString(),
    versions: meta.versions.map((v) => ({
      version: v.version,
      certificate: certificatePem(v.certificate),
      keyId: v.keyId,
      notAfter: v.notAfter.toISOString(),
      createdAt: v.createdAt.toISOString(),
    })),
  }
}

/** SHA-256 hex of bytes (SPKI fingerprints, EAR digests). */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}
