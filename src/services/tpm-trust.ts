/**
 * The TPM trust registry as the service sees it: admin operations on registered AKs and TPM CAs
 * (audited in the same transaction), and the `CollateralLookup` that hands both to the pure
 * `tpm` verifier (kinds `tpm-ak` and `tpm-ca` of src/evidence/tpm/ak-trust.ts).
 */
import { KeybrokerError, isKeybrokerError } from '../errors.js'
import type { CollateralLookup } from '../evidence/index.js'
import { decodeAkPublicBytes } from '../evidence/tpm/ak-key.js'
import { toHex } from '../evidence/reader.js'
import { akIdOf, checkAkAttributes, decodeAkPublic, parsePublic, spkiDer, TPM_COLLATERAL_KINDS, type AkRegistration } from '../evidence/tpm/index.js'
import { decodeCertificateText } from '../evidence/tpm/certificates.js'
import { parseCertificate } from '../evidence/x509-chain.js'
import {
  deleteTpmAk,
  deleteTpmCa,
  getTpmAk,
  insertTpmAk,
  insertTpmCa,
  listTpmAks,
  listTpmCas,
  type Db,
  type TpmAk,
  type TpmCa,
} from '../storage/index.js'
import { actorOf, type AdminPrincipal } from './admin-tokens.js'
import { auditAdminChange } from './audit.js'
import type { DirectoryLayout } from './collateral.js'
import type { Services } from './services.js'

export type TpmCaPurpose = 'ek' | 'ak'

/** An AK as the admin API shows it. */
export interface TpmAkView {
  readonly id: string
  readonly name: string
  readonly source: 'registered' | 'enrolled'
  /** PEM SubjectPublicKeyInfo. */
  readonly publicKey: string
  /** TPM Name (nameAlg ‖ digest of TPMT_PUBLIC), when the TPM public area is known. */
  readonly tpmName: string | null
  readonly ekCertificateSha256: string | null
  readonly createdAt: string
  readonly createdBy: string
}

export interface TpmCaView {
  readonly name: string
  readonly purpose: TpmCaPurpose
  readonly subject: string
  readonly sha256: string
  readonly notAfter: string
  readonly certificate: string
  readonly createdAt: string
  readonly createdBy: string
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`
}

/** The TPM Name of a stored public area (it was parsed before it was stored). */
function tpmNameOf(tpmPublic: Uint8Array | null): string | null {
  return tpmPublic === null ? null : toHex(parsePublic(tpmPublic).name)
}

export function akView(ak: TpmAk): TpmAkView {
  return {
    id: ak.id,
    name: ak.name,
    source: ak.source,
    publicKey: pem('PUBLIC KEY', ak.spki),
    tpmName: tpmNameOf(ak.tpmPublic),
    ekCertificateSha256: ak.ekCertificateSha256,
    createdAt: ak.createdAt.toISOString(),
    createdBy: ak.createdBy,
  }
}

function caView(ca: TpmCa): TpmCaView {
  return {
    name: ca.name,
    purpose: ca.purpose,
    subject: ca.subject,
    sha256: ca.sha256,
    notAfter: ca.notAfter.toISOString(),
    certificate: pem('CERTIFICATE', ca.certificate),
    createdAt: ca.createdAt.toISOString(),
    createdBy: ca.createdBy,
  }
}

/** Evidence-side decoding errors of admin input are the admin's bad request. */
function asBadRequest<T>(what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (isKeybrokerError(err) && err.code !== 'internal') throw new KeybrokerError('bad-request', `${what}: ${err.detail}`, { cause: err })
    throw err
  }
}

/**
 * Registers an AK public key (TPM2B_PUBLIC / TPMT_PUBLIC / DER SPKI in base64, or PEM). A TPM
 * public area must be a restricted signing key fixed to its TPM; a bare key is the registrar's
 * word. Registering a key twice keeps the first registration (200 with `created: false`).
 * @throws `bad-request` (undecodable, wrong key type or attributes)
 */
export async function registerAk(s: Services, input: { name: string; publicKey: string }, by: AdminPrincipal): Promise<{ created: boolean; ak: TpmAkView }> {
  const key = asBadRequest('publicKey', () => decodeAkPublic(input.publicKey, 'publicKey'))
  const tpmPublic = key.tpmPublic
  if (tpmPublic !== undefined) asBadRequest('publicKey', () => checkAkAttributes(tpmPublic))
  const id = akIdOf(key.publicKey)
  const result = await s.database.db.transaction(async (tx) => {
    const r = await insertTpmAk(tx, {
      id,
      name: input.name,
      source: 'registered',
      spki: spkiDer(key.publicKey),
      tpmPublic: tpmPublic?.bytes ?? null,
      ekCertificateSha256: null,
      createdAt: s.now(),
      createdBy: actorOf(by),
    })
    if (r.inserted) await auditAdminChange(tx, s, by, 'tpm.ak.register', id, { name: input.name })
    return r
  })
  return { created: result.inserted, ak: akView(result.ak) }
}

export async function listAks(s: Services): Promise<TpmAkView[]> {
  return (await listTpmAks(s.database.db)).map(akView)
}

export async function getAk(s: Services, id: string): Promise<TpmAkView> {
  const ak = await getTpmAk(s.database.db, id)
  if (ak === undefined) throw new KeybrokerError('not-found', 'no such AK')
  return akView(ak)
}

export async function deleteAk(s: Services, id: string, by: AdminPrincipal): Promise<void> {
  await s.database.db.transaction(async (tx) => {
    if (!(await deleteTpmAk(tx, id))) throw new KeybrokerError('not-found', 'no such AK')
    await auditAdminChange(tx, s, by, 'tpm.ak.delete', id, {})
  })
}

/**
 * Registers a TPM CA (one certificate, PEM or base64 DER) for EK or AK certificates. It must be a
 * CA certificate (basicConstraints CA) valid now; it need not be self-signed: registering an
 * intermediate trusts what it issued.
 * @throws `bad-request` (not one CA certificate, expired), `conflict` (name taken)
 */
export async function registerCa(
  s: Services,
  input: { name: string; purpose: TpmCaPurpose; certificate: string },
  by: AdminPrincipal,
): Promise<TpmCaView> {
  const ders = asBadRequest('certificate', () => decodeCertificateText(input.certificate, 'certificate'))
  if (ders.length !== 1 || ders[0] === undefined) throw new KeybrokerError('bad-request', 'certificate: exactly one certificate, please')
  const cert = asBadRequest('certificate', () => parseCertificate(ders[0]!, 'certificate'))
  if (!cert.isCa) throw new KeybrokerError('bad-request', 'certificate: not a CA certificate (basicConstraints)')
  const now = s.now()
  if (now < cert.notBefore || now > cert.notAfter) throw new KeybrokerError('bad-request', 'certificate: not valid now')
  const ca = await s.database.db.transaction(async (tx) => {
    const row = await insertTpmCa(tx, {
      name: input.name,
      purpose: input.purpose,
      certificate: cert.der,
      sha256: cert.sha256,
      subject: cert.subject,
      notAfter: cert.notAfter,
      createdAt: now,
      createdBy: actorOf(by),
    })
    await auditAdminChange(tx, s, by, 'tpm.ca.register', input.name, { purpose: input.purpose, subject: cert.subject, sha256: cert.sha256 })
    return row
  })
  return caView(ca)
}

export async function listCas(s: Services, purpose?: TpmCaPurpose): Promise<TpmCaView[]> {
  return (await listTpmCas(s.database.db, purpose)).map(caView)
}

export async function getCa(s: Services, name: string): Promise<TpmCaView> {
  const ca = (await listTpmCas(s.database.db)).find((c) => c.name === name)
  if (ca === undefined) throw new KeybrokerError('not-found', 'no such TPM CA')
  return caView(ca)
}

export async function deleteCa(s: Services, name: string, by: AdminPrincipal): Promise<void> {
  await s.database.db.transaction(async (tx) => {
    if (!(await deleteTpmCa(tx, name))) throw new KeybrokerError('not-found', 'no such TPM CA')
    await auditAdminChange(tx, s, by, 'tpm.ca.delete', name, {})
  })
}

/** The registered CAs of `purpose` as one PEM bundle (what the `tpm-ca` collateral kind returns). */
export async function caBundle(db: Db, purpose: TpmCaPurpose): Promise<Uint8Array | undefined> {
  const cas = await listTpmCas(db, purpose)
  return cas.length === 0 ? undefined : new Uint8Array(Buffer.from(cas.map((c) => pem('CERTIFICATE', c.certificate)).join('')))
}

/**
 * A lookup that answers the TPM kinds from the registry, then from `base` (the collateral
 * directory: `TPM_DIRECTORY_LAYOUT`), and passes every other kind to `base`. Values are looked
 * up per request (a deleted AK is untrusted from the next request on).
 */
export function withTpmTrust(db: Db, base: CollateralLookup): CollateralLookup {
  return {
    async get(kind, key) {
      if (kind === TPM_COLLATERAL_KINDS.ak) {
        if (!/^[0-9a-f]{64}$/.test(key)) return undefined
        const ak = await getTpmAk(db, key)
        if (ak === undefined) return base.get(kind, key)
        const entry: AkRegistration = { source: ak.source, name: ak.name }
        return new Uint8Array(Buffer.from(JSON.stringify(entry)))
      }
      if (kind === TPM_COLLATERAL_KINDS.ca) {
        if (key !== 'ek' && key !== 'ak') return undefined
        const parts = [await caBundle(db, key), await base.get(kind, key)].filter((p): p is Uint8Array => p !== undefined)
        return parts.length === 0 ? undefined : new Uint8Array(Buffer.concat(parts.flatMap((p) => [Buffer.from(p), Buffer.from('\n')])))
      }
      return base.get(kind, key)
    },
  }
}

/** A registration for the AK in `file` (PEM, DER SPKI, TPM2B_PUBLIC or TPMT_PUBLIC) when its id is `id`. */
function registrationFromFile(file: Uint8Array, id: string): Uint8Array | undefined {
  const text = Buffer.from(file).toString('latin1')
  const key = text.includes('-----BEGIN') ? decodeAkPublic(text, `tpm/aks/${id}.pem`) : decodeAkPublicBytes(file, `tpm/aks/${id}.pem`)
  // A file under another key's id registers nothing (it is misnamed, not a match).
  if (akIdOf(key.publicKey) !== id) return undefined
  const entry: AkRegistration = { source: 'registered', name: `file tpm/aks/${id}.pem` }
  return new Uint8Array(Buffer.from(JSON.stringify(entry)))
}

/**
 * TPM trust as files in the collateral directory (`KEYBROKER_COLLATERAL_DIR`, or `--collateral`
 * of `keybroker evidence verify`), for offline checks and air-gapped set-ups:
 * `tpm/aks/<AK id>.pem` registers that AK (the file holds its public key: PEM, or the binary
 * TPM2B_PUBLIC of `tpm2_createak -u`; it must hash to the id), `tpm/ak-cas.pem` and
 * `tpm/ek-cas.pem` hold CA certificates trusted for AK certificates and EK certificates.
 */
export const TPM_DIRECTORY_LAYOUT: DirectoryLayout = {
  locate(kind, key) {
    if (kind === TPM_COLLATERAL_KINDS.ak && /^[0-9a-f]{64}$/.test(key)) return { path: `tpm/aks/${key}.pem`, pick: (file) => registrationFromFile(file, key) }
    if (kind === TPM_COLLATERAL_KINDS.ca && (key === 'ek' || key === 'ak')) return { path: `tpm/${key}-cas.pem` }
    return undefined
  },
}
