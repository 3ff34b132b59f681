import { compactVerify, decodeProtectedHeader } from 'jose'
import { createHash, createPublicKey, X509Certificate } from 'node:crypto'
import { CertID } from '@peculiar/asn1-ocsp'
import { OctetString } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier } from '@peculiar/asn1-x509'
import {
  createCrl,
  createOcspError,
  createOcspResponse,
  isIssuedBy,
  issuerIdentityOf,
  parseOcspRequest,
  REVOCATION_REASONS,
  type OcspAnswer,
  type RevocationReason,
} from '../../ca/index.js'
import { KeybrokerError } from '../../errors.js'
import type { JsonValue } from '../../evidence/index.js'
import {
  appendAuditEntry,
  certificatesIssuedOn,
  consumeNonce,
  getCa,
  getCachedCrl,
  getIssuedCertificate,
  getIssuedCertificates,
  nextCrlNumber,
  revokedCertificatesOf,
  revokeIssuedCertificate,
  storeCrl,
  type Executor,
  type IssuedCertificate,
} from '../../storage/index.js'
import { actorOf, type AdminPrincipal } from '../admin-tokens.js'
import { auditAdminChange } from '../audit.js'
import type { Services } from '../services.js'
import { loadCaSigner } from './ca-admin.js'
import { attestedByToken, jwkOfSpki, sameKey } from './certificate-issuance.js'

/**
 * Revocation and status (issue 16): revoke by an admin, by the holder proving possession of the
 * key, or with a revoked reference value; CRL and OCSP read the database at each request, so a
 * revocation shows from the next request on (a revocation also drops the cached CRL).
 */

export interface RevokedView {
  readonly serial: string
  readonly revokedAt: string
  readonly reason: string
}

function isReason(r: string): r is RevocationReason {
  return (REVOCATION_REASONS as readonly string[]).includes(r)
}

/**
 * Revokes one certificate in the caller's transaction and audits it (with the EAR digest it was
 * issued on). Revoking a revoked certificate changes nothing and says so (`changed: false`).
 * @throws KeybrokerError `not-found`.
 */
async function revokeOne(
  tx: Executor,
  s: Services,
  serial: string,
  reason: RevocationReason,
  by: { readonly actor: string; readonly admin?: AdminPrincipal | undefined; readonly how: string; readonly detail?: Record<string, JsonValue> },
): Promise<{ row: IssuedCertificate; changed: boolean }> {
  const result = await revokeIssuedCertificate(tx, serial, { reason, by: by.actor, at: s.now() })
  if (result === undefined) throw new KeybrokerError('not-found', `no such certificate: ${serial}`)
  if (result.changed) {
    const detail = { reason, how: by.how, ca: result.row.caName, caVersion: result.row.caVersion, profile: result.row.profile, earDigest: result.row.earDigest, ...by.detail }
    if (by.admin !== undefined) await auditAdminChange(tx, s, by.admin, 'certificate.revoke', serial, detail)
    else await appendAuditEntry(tx, s.auditKey, { at: s.now(), actor: by.actor, action: 'certificate.revoke', subject: serial, outcome: 'ok', detail })
  }
  return result
}

export async function revokeByAdmin(s: Services, serial: string, reason: string, by: AdminPrincipal): Promise<RevokedView> {
  if (!isReason(reason)) throw new KeybrokerError('bad-request', `reason must be one of ${REVOCATION_REASONS.join(', ')}`)
  let out: { row: IssuedCertificate; changed: boolean } | undefined
  await s.database.db.transaction(async (tx) => {
    out = await revokeOne(tx, s, serial, reason, { actor: actorOf(by), admin: by, how: 'admin' })
  })
  return view(out)
}

/**
 * Revocation by the holder: `proof` is a compact JWS (RFC 7515) signed by the certificate's own
 * key over `{"serial", "reason"?, "nonce"}`, where `nonce` is a fresh `/v1/challenge` nonce,
 * consumed here (so a proof cannot be replayed). `alg` ES256/ES384/RS256 as the key allows.
 * @throws KeybrokerError `not-found`, `unauthorized` (proof does not verify with the
 *   certificate's key, or names another serial), `nonce-*`.
 */
export async function revokeByHolder(s: Services, serial: string, proof: string): Promise<RevokedView> {
  const db = s.database.db
  const cert = await getIssuedCertificate(db, serial)
  if (cert === undefined) throw new KeybrokerError('not-found', `no such certificate: ${serial}`)
  const spki = spkiOf(cert.certificate)
  let payload: unknown
  try {
    const { alg } = decodeProtectedHeader(proof)
    if (alg !== 'ES256' && alg !== 'ES384' && alg !== 'RS256') throw new Error(`alg ${String(alg)}`)
    const verified = await compactVerify(proof, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), { algorithms: [alg] })
    payload = JSON.parse(Buffer.from(verified.payload).toString('utf8'))
  } catch (cause) {
    throw new KeybrokerError('unauthorized', 'the proof is not a JWS by the certificate key', { cause })
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new KeybrokerError('unauthorized', 'the proof payload is not an object')
  const p = new Map(Object.entries(payload))
  if (p.get('serial') !== serial) throw new KeybrokerError('unauthorized', 'the proof names another certificate')
  const nonceText = p.get('nonce')
  if (typeof nonceText !== 'string') throw new KeybrokerError('unauthorized', 'the proof lacks a challenge nonce')
  const reason = p.get('reason') === undefined ? 'unspecified' : String(p.get('reason'))
  if (!isReason(reason)) throw new KeybrokerError('bad-request', `reason must be one of ${REVOCATION_REASONS.join(', ')}`)
  const nonce = s.nonces.verify(nonceText, s.now())
  if (!(await consumeNonce(db, nonce.id, nonce.expiresAt, s.now()))) throw new KeybrokerError('nonce-reused', 'this nonce has already been used; request a new challenge')
  let out: { row: IssuedCertificate; changed: boolean } | undefined
  await db.transaction(async (tx) => {
    out = await revokeOne(tx, s, serial, reason, { actor: 'holder', how: 'holder-proof' })
  })
  return view(out)
}

/**
 * Revocation with a bearer EAR whose `cnf.jwk` is the certificate's key (the absmach/certs
 * `PATCH …/revoke` mapping for Cocos agents, which authenticate with a bearer token only).
 * @throws KeybrokerError `token-invalid`, `not-found`, `forbidden` (another key's token).
 */
export async function revokeByToken(s: Services, serial: string, token: string, requestId: string): Promise<RevokedView> {
  const { attested, ear } = await attestedByToken(s, token, requestId, '')
  const cert = await getIssuedCertificate(s.database.db, serial)
  if (cert === undefined) throw new KeybrokerError('not-found', `no such certificate: ${serial}`)
  if (!sameKey(jwkOfSpki(spkiOf(cert.certificate)), attested.key)) throw new KeybrokerError('forbidden', 'the token is for another key than the certificate\'s')
  let out: { row: IssuedCertificate; changed: boolean } | undefined
  await s.database.db.transaction(async (tx) => {
    out = await revokeOne(tx, s, serial, 'unspecified', { actor: 'holder', how: 'holder-token', detail: { tokenId: ear.tokenId } })
  })
  return view(out)
}

/**
 * The `revokeCertificates` option of a reference-value revocation: every unrevoked, unexpired
 * certificate issued on `measurement` matched in set `setName` is revoked (`privilegeWithdrawn`)
 * in the caller's transaction, each audited.
 */
export async function revokeIssuedOnMeasurement(tx: Executor, s: Services, setName: string, measurement: string, by: AdminPrincipal): Promise<string[]> {
  const serials = await certificatesIssuedOn(tx, setName, measurement, s.now())
  for (const serial of serials) {
    await revokeOne(tx, s, serial, 'privilegeWithdrawn', { actor: actorOf(by), admin: by, how: 'reference-value', detail: { set: setName, measurement } })
  }
  return serials
}

function view(out: { row: IssuedCertificate; changed: boolean } | undefined): RevokedView {
  const row = out?.row
  if (row === undefined || row.revokedAt === null) throw new KeybrokerError('internal', 'revocation was not written')
  return { serial: row.serial, revokedAt: row.revokedAt.toISOString(), reason: row.revocationReason ?? 'unspecified' }
}

/**
 * The DER CRL of CA `name` (its current version, or `version`): reused while its nextUpdate is
 * more than half the status TTL away and nothing was revoked since; otherwise signed anew with
 * the next CRL number.
 */
export async function currentCrl(s: Services, name: string, version?: number): Promise<Uint8Array> {
  const db = s.database.db
  const meta = await getCa(db, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `no such CA: ${name}`)
  const v = version ?? meta.currentVersion
  if (!meta.versions.some((x) => x.version === v)) throw new KeybrokerError('not-found', `CA ${name} has no version ${v}`)
  const now = s.now()
  const ttl = s.config.ca.statusTtlSeconds
  const cached = await getCachedCrl(db, name, v, new Date(now.getTime() + (ttl * 1000) / 2))
  if (cached !== undefined) return cached
  const { signer } = await loadCaSigner(s, name, v)
  const number = await nextCrlNumber(db, name, v)
  const entries = (await revokedCertificatesOf(db, name, v, now)).map((r) => ({
    serialHex: r.serial,
    revokedAt: r.revokedAt ?? now,
    reason: reasonOf(r.revocationReason),
  }))
  const nextUpdate = new Date(now.getTime() + ttl * 1000)
  const crl = await createCrl({ signer, crlNumber: number, thisUpdate: now, nextUpdate, entries })
  await storeCrl(db, name, v, crl, number, nextUpdate)
  return crl
}

/**
 * Answers a DER OCSP request for CA `name`: each CertID naming one of its versions and a serial
 * it issued gets good or revoked, signed by that version's key; a CertID of another issuer
 * gets `unauthorized` (RFC 6960 §2.3, the responder is not authoritative).
 * @throws KeybrokerError `not-found` (CA), `bad-request` (not an OCSP request).
 */
export async function answerOcsp(s: Services, name: string, der: Uint8Array): Promise<Uint8Array> {
  const req = parseOcspRequest(der)
  const meta = await getCa(s.database.db, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `no such CA: ${name}`)
  const identities = meta.versions.map((v) => ({ version: v.version, identity: issuerIdentityOf(v.certificate) }))
  const first = req.queries[0]
  const version = first === undefined ? undefined : identities.find((i) => isIssuedBy(first, i.identity))?.version
  if (version === undefined) return createOcspError('unauthorized')
  const identity = identities.find((i) => i.version === version)?.identity
  const rows = new Map((await getIssuedCertificates(s.database.db, req.queries.map((q) => q.serialHex))).map((r) => [r.serial, r]))
  const answers: OcspAnswer[] = req.queries.map((q) => {
    const row = rows.get(q.serialHex)
    const ours = identity !== undefined && isIssuedBy(q, identity) && row !== undefined && row.caName === name && row.caVersion === version
    if (!ours) return { certId: q.certId, status: { kind: 'unknown' } }
    if (row.revokedAt !== null) {
      return { certId: q.certId, status: { kind: 'revoked', revokedAt: row.revokedAt, reason: reasonOf(row.revocationReason) } }
    }
    return { certId: q.certId, status: { kind: 'good' } }
  })
  const { signer } = await loadCaSigner(s, name, version)
  return createOcspResponse({ signer, now: s.now(), validitySeconds: s.config.ca.statusTtlSeconds, answers, nonce: req.nonce })
}

/**
 * An OCSP answer about one serial of CA `name` without a request (absmach/certs' JSON form
 * `{"serial_number"}`): the CertID is built here (SHA-1, as Go's x/crypto/ocsp does).
 */
export async function answerOcspForSerial(s: Services, name: string, serial: string): Promise<Uint8Array> {
  const row = await getIssuedCertificate(s.database.db, serial)
  const meta = await getCa(s.database.db, name)
  if (meta === undefined) throw new KeybrokerError('not-found', `no such CA: ${name}`)
  const version = row !== undefined && row.caName === name ? row.caVersion : meta.currentVersion
  const v = meta.versions.find((x) => x.version === version)
  if (v === undefined) throw new KeybrokerError('internal', 'CA version vanished')
  const identity = issuerIdentityOf(v.certificate)
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: '1.3.14.3.2.26', parameters: null }),
    issuerNameHash: new OctetString(createHash('sha1').update(identity.subjectDer).digest()),
    issuerKeyHash: new OctetString(createHash('sha1').update(identity.subjectPublicKey).digest()),
    serialNumber: new Uint8Array(Buffer.from(serial.length % 2 === 1 ? `0${serial}` : serial, 'hex')).buffer,
  })
  const status: OcspAnswer['status'] =
    row === undefined || row.caName !== name
      ? { kind: 'unknown' }
      : row.revokedAt !== null
        ? { kind: 'revoked', revokedAt: row.revokedAt, reason: reasonOf(row.revocationReason) }
        : { kind: 'good' }
  const { signer } = await loadCaSigner(s, name, version)
  return createOcspResponse({ signer, now: s.now(), validitySeconds: s.config.ca.statusTtlSeconds, answers: [{ certId, status }] })
}

function spkiOf(certificateDer: Uint8Array): Uint8Array {
  return new Uint8Array(new X509Certificate(Buffer.from(certificateDer)).publicKey.export({ format: 'der', type: 'spki' }))
}

/** A stored reason as a CRLReason name (`unspecified` for anything else). */
function reasonOf(text: string | null): RevocationReason {
  return REVOCATION_REASONS.find((r) => r === text) ?? 'unspecified'
}
