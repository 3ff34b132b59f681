/**
 * AK enrollment by credential activation, without server sessions (README, "TPM attestation
 * keys"):
 *
 * 1. `startEnrollment`: the client sends its EK certificate (plus intermediates) and the AK's
 *    TPM public area. keybroker checks the EK certificate against the registered TPM
 *    manufacturer CAs and the AK's attributes (restricted signing key, fixedTPM), derives a
 *    credential from a MAC'd, expiring token and wraps it with TPM2_MakeCredential to the EK,
 *    bound to the AK's Name. It stores nothing.
 * 2. The client runs TPM2_ActivateCredential (`tpm2_activatecredential`): only the TPM that holds
 *    that EK, with that AK loaded, recovers the credential.
 * 3. `completeEnrollment`: the client returns the token, the credential and the AK public area;
 *    any replica checks the token's MAC and expiry, recomputes the credential from the token and
 *    compares, then stores the AK as `enrolled`. Completing twice is harmless (the AK stays).
 *
 * Token: base64url(JSON payload) "." base64url(HMAC-SHA-256(macKey, payload text)); the
 * credential is HMAC-SHA-256(credentialKey, payload text), truncated to the EK's nameAlg size.
 * Both keys come from the KEK with HKDF (distinct `info`), so every replica derives them.
 */
import { createHmac, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { z } from 'zod'
import { KeybrokerError, isKeybrokerError } from '../errors.js'
import { equalBytes, fromBase64, toBase64Url, toHex } from '../evidence/reader.js'
import {
  akIdOf,
  checkAkAttributes,
  decodeAkPublic,
  hashByName,
  parsePublic,
  registeredCas,
  spkiDer,
  TPM_ALG,
  verifyCertificatePath,
  type TpmPublic,
} from '../evidence/tpm/index.js'
import { decodeCertificateText } from '../evidence/tpm/certificates.js'
import { makeCredential, type EkParameters } from '../evidence/tpm/credential.js'
import type { Kek } from '../secrets/index.js'
import { appendAuditEntry, insertTpmAk } from '../storage/index.js'
import { akView, withTpmTrust, type TpmAkView } from './tpm-trust.js'
import type { Services } from './services.js'

/** How long a client has to activate the credential and come back. */
export const ENROLLMENT_TTL_SECONDS = 300

const MAC_INFO = 'keybroker tpm enrollment token mac key v1'
const CREDENTIAL_INFO = 'keybroker tpm enrollment credential key v1'

export interface EnrollmentKeys {
  readonly mac: Uint8Array
  readonly credential: Uint8Array
}

/** The two enrollment keys, derived from the KEK with HKDF-SHA-256 (RFC 5869). */
export function deriveEnrollmentKeys(kek: Kek): EnrollmentKeys {
  const derive = (info: string): Uint8Array => new Uint8Array(hkdfSync('sha256', kek.key, new Uint8Array(0), info, 32))
  return { mac: derive(MAC_INFO), credential: derive(CREDENTIAL_INFO) }
}

const PayloadSchema = z
  .object({
    v: z.literal(1),
    /** AK id (SHA-256 of its SPKI). */
    ak: z.string().regex(/^[0-9a-f]{64}$/),
    /** AK TPM Name, hex. */
    akName: z.string().regex(/^[0-9a-f]+$/).max(132),
    name: z.string().max(128),
    /** SHA-256 of the EK certificate. */
    ek: z.string().regex(/^[0-9a-f]{64}$/),
    /** Bytes of credential (the EK nameAlg's digest size, at most 32). */
    len: z.number().int().min(16).max(32),
    exp: z.number().int().positive(),
    n: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  })
  .strict()
type Payload = z.infer<typeof PayloadSchema>

function mac(key: Uint8Array, text: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(text, 'ascii').digest())
}

function credentialFor(keys: EnrollmentKeys, payloadText: string, length: number): Uint8Array {
  return mac(keys.credential, payloadText).slice(0, length)
}

/**
 * EK parameters for MakeCredential: from the EK's TPM public area when sent (it must hold the
 * certified key), else from the TCG EK Credential Profile 2.5 default templates by key type:
 * RSA 2048 and ECC P-256 (L-1, L-2: SHA-256, AES-128); RSA 3072/4096 and ECC P-384/P-521 (H
 * templates: SHA-384/512, AES-256).
 */
function ekParameters(certKey: KeyObject, ekPublic: TpmPublic | undefined): EkParameters {
  if (ekPublic !== undefined) {
    if (!equalBytes(spkiDer(ekPublic.publicKey), spkiDer(certKey))) {
      throw new KeybrokerError('bad-request', 'ekPublic: not the key of the EK certificate')
    }
    const sym = ekPublic.symmetric
    if (sym.algorithm !== TPM_ALG.aes || sym.mode !== TPM_ALG.cfb || (sym.keyBits !== 128 && sym.keyBits !== 256)) {
      throw new KeybrokerError('bad-request', 'ekPublic: the EK must be a storage key with AES-128/256-CFB')
    }
    return { publicKey: certKey, nameAlg: ekPublic.nameAlg, symmetricBits: sym.keyBits }
  }
  const d = certKey.asymmetricKeyDetails
  const sha256 = hashByName('sha256')!
  const sha384 = hashByName('sha384')!
  const sha512 = hashByName('sha512')!
  if (certKey.asymmetricKeyType === 'rsa') {
    const bits = d?.modulusLength ?? 0
    if (bits === 2048) return { publicKey: certKey, nameAlg: sha256, symmetricBits: 128 }
    if (bits === 3072 || bits === 4096) return { publicKey: certKey, nameAlg: sha384, symmetricBits: 256 }
  } else if (certKey.asymmetricKeyType === 'ec') {
    if (d?.namedCurve === 'prime256v1') return { publicKey: certKey, nameAlg: sha256, symmetricBits: 128 }
    if (d?.namedCurve === 'secp384r1') return { publicKey: certKey, nameAlg: sha384, symmetricBits: 256 }
    if (d?.namedCurve === 'secp521r1') return { publicKey: certKey, nameAlg: sha512, symmetricBits: 256 }
  }
  throw new KeybrokerError('bad-request', 'EK certificate: key type has no default EK template; send ekPublic')
}

function badRequest<T>(what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (isKeybrokerError(err) && (err.code === 'evidence-malformed' || err.code === 'evidence-unsupported' || err.code === 'policy-violation')) {
      throw new KeybrokerError('bad-request', `${what}: ${err.detail}`, { cause: err })
    }
    throw err
  }
}

function akPublicArea(text: string): TpmPublic {
  const key = badRequest('akPublic', () => decodeAkPublic(text, 'akPublic'))
  if (key.tpmPublic === undefined) throw new KeybrokerError('bad-request', 'akPublic: the TPM public area (TPM2B_PUBLIC or TPMT_PUBLIC) is needed')
  const pub = key.tpmPublic
  badRequest('akPublic', () => checkAkAttributes(pub))
  return pub
}

export interface EnrollmentStart {
  readonly token: string
  readonly expiresAt: Date
  readonly akId: string
  /** TPM2B_ID_OBJECT, base64url. */
  readonly credentialBlob: string
  /** TPM2B_ENCRYPTED_SECRET, base64url. */
  readonly encryptedSecret: string
  /** `tpm2_activatecredential -i` file (header + both), base64url. */
  readonly tpm2ToolsCredential: string
}

export interface EnrollmentStartInput {
  readonly ekCertificate: string
  readonly ekChain?: readonly string[] | undefined
  readonly ekPublic?: string | undefined
  readonly akPublic: string
  readonly name?: string | undefined
}

/**
 * Step 1. @throws `bad-request` (undecodable input, AK attributes, EK template), `chain-untrusted`
 *   (EK certificate not issued by a registered TPM CA, or not valid now), `evidence-malformed`
 */
export async function startEnrollment(s: Services, input: EnrollmentStartInput): Promise<EnrollmentStart> {
  const now = s.now()
  const ak = akPublicArea(input.akPublic)
  const [ekDer, ...ekExtra] = badRequest('ekCertificate', () => decodeCertificateText(input.ekCertificate, 'ekCertificate'))
  if (ekDer === undefined) throw new KeybrokerError('bad-request', 'ekCertificate: empty')
  const chain = [...ekExtra, ...(input.ekChain ?? []).flatMap((c, i) => badRequest(`ekChain[${i}]`, () => decodeCertificateText(c, `ekChain[${i}]`)))]
  // Registered EK CAs, and those of the collateral directory (tpm/ek-cas.pem).
  const anchors = await registeredCas(withTpmTrust(s.database.db, s.collateral.lookup()), 'ek')
  const { path } = verifyCertificatePath(ekDer, chain, anchors, now, 'EK certificate')
  const ekCert = path[0]!
  const ekPublic = input.ekPublic === undefined ? undefined : badRequest('ekPublic', () => parsePublic(stripTpm2b(fromBase64(input.ekPublic!, 'ekPublic'))))
  const ek = ekParameters(ekCert.publicKey, ekPublic)

  const keys = deriveEnrollmentKeys(s.keks.current)
  const expiresAt = new Date((Math.floor(now.getTime() / 1000) + ENROLLMENT_TTL_SECONDS) * 1000)
  const akId = akIdOf(ak.publicKey)
  const payload: Payload = {
    v: 1,
    ak: akId,
    akName: toHex(ak.name),
    name: input.name ?? `enrolled-${akId.slice(0, 16)}`,
    ek: ekCert.sha256,
    len: Math.min(32, ek.nameAlg.size),
    exp: expiresAt.getTime() / 1000,
    n: toBase64Url(new Uint8Array(randomBytes(16))),
  }
  const payloadText = toBase64Url(new Uint8Array(Buffer.from(JSON.stringify(payload), 'utf8')))
  const token = `${payloadText}.${toBase64Url(mac(keys.mac, payloadText))}`
  const credential = credentialFor(keys, payloadText, payload.len)
  const seedSource =
    ek.publicKey.asymmetricKeyType === 'rsa'
      ? { kind: 'rsa' as const, seed: new Uint8Array(randomBytes(ek.nameAlg.size)) }
      : { kind: 'ecc' as const, ephemeralPrivateKey: generateKeyPairSync('ec', { namedCurve: ek.publicKey.asymmetricKeyDetails?.namedCurve ?? 'prime256v1' }).privateKey }
  const wrapped = makeCredential(ek, ak.name, credential, seedSource)
  s.log.info('tpm enrollment started', { akId, ekCertificateSha256: ekCert.sha256 })
  return {
    token,
    expiresAt,
    akId,
    credentialBlob: toBase64Url(wrapped.credentialBlob),
    encryptedSecret: toBase64Url(wrapped.encryptedSecret),
    tpm2ToolsCredential: toBase64Url(wrapped.tpm2ToolsFile),
  }
}

/** A TPM2B_PUBLIC's size prefix, when the bytes carry one. */
function stripTpm2b(bytes: Uint8Array): Uint8Array {
  return bytes.byteLength >= 2 && ((bytes[0]! << 8) | bytes[1]!) === bytes.byteLength - 2 ? bytes.subarray(2) : bytes
}

const TOKEN = /^([A-Za-z0-9_-]{1,2048})\.([A-Za-z0-9_-]{43})$/

/**
 * Step 3. @throws `token-invalid` (bad MAC, malformed, expired), `bad-request` (AK public area),
 *   `forbidden` (the credential or the AK does not match the token)
 */
export async function completeEnrollment(
  s: Services,
  input: { readonly token: string; readonly credential: string; readonly akPublic: string },
  requestId: string,
): Promise<{ created: boolean; ak: TpmAkView }> {
  const now = s.now()
  const keys = deriveEnrollmentKeys(s.keks.current)
  const m = TOKEN.exec(input.token)
  if (m === null || !equalBytes(fromBase64(m[2]!, 'token'), mac(keys.mac, m[1]!))) throw new KeybrokerError('token-invalid', 'enrollment token invalid')
  let payload: Payload
  try {
    payload = PayloadSchema.parse(JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')))
  } catch (cause) {
    // The MAC verified, so only a bug on our side gets here.
    throw new KeybrokerError('internal', 'enrollment token payload unreadable', { cause })
  }
  if (now.getTime() >= payload.exp * 1000) throw new KeybrokerError('token-invalid', 'enrollment token expired; start again')
  const ak = akPublicArea(input.akPublic)
  if (akIdOf(ak.publicKey) !== payload.ak || toHex(ak.name) !== payload.akName) {
    throw new KeybrokerError('forbidden', 'akPublic is not the AK this enrollment was started for')
  }
  const credential = badRequest('credential', () => fromBase64(input.credential, 'credential'))
  if (!equalBytes(credential, credentialFor(keys, m[1]!, payload.len))) {
    throw new KeybrokerError('forbidden', 'credential does not match: it was not activated by the TPM holding the EK')
  }
  // The AK and its audit entry commit together (docs/architecture.md, "Secrets": every change is audited in its transaction).
  const result = await s.database.db.transaction(async (tx) => {
    const r = await insertTpmAk(tx, {
      id: payload.ak,
      name: payload.name,
      source: 'enrolled',
      spki: spkiDer(ak.publicKey),
      tpmPublic: ak.bytes,
      ekCertificateSha256: payload.ek,
      createdAt: now,
      createdBy: 'enrollment',
    })
    await appendAuditEntry(tx, s.auditKey, {
      at: now,
      actor: 'attester',
      action: 'tpm.ak.enroll',
      subject: payload.ak,
      outcome: 'ok',
      detail: { requestId, name: payload.name, ekCertificateSha256: payload.ek, created: r.inserted },
    })
    return r
  })
  return { created: result.inserted, ak: akView(result.ak) }
}
