/**
 * Signed golden-measurement bundles: the signer trust anchors (admin only) and the import of
 * keybroker JWS bundles and Automata json_sig_tool documents as reference-value sets whose
 * values carry the signer, the bundle digest and the signing time as provenance.
 */
import {
  checkCorimValidity,
  corimNotAfter,
  mapCorim,
  parseCorim,
  verifyCorimSignature,
  mapGoSevGuestPolicy,
  mapGoTdxGuestPolicy,
  mapGoldenMeasurement,
  mapCosmianSnapshot,
  parseAutomataDocument,
  parseSignerKey,
  verifyAutomataDocument,
  verifyBundle,
  type BundleSet,
  type FieldMapping,
  type GoPolicyFormat,
  type SignerFormat,
  type SignerKey,
} from '../bundles/index.js'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/types.js'
import {
  createReferenceValueSet,
  deleteBundleSigner,
  getBundleSigner,
  getReferenceValueSet,
  insertBundleSigner,
  listBundleSigners,
  lockBundleImport,
  recordBundleImport,
  replaceReferenceValueSet,
  type BundleSignerRow,
  type Executor,
  type StoredProvenance,
} from '../storage/index.js'
import type { AdminPrincipal } from './admin-tokens.js'
import { auditAdminChange } from './audit.js'
import { auditDetail, getReferenceValues, validatedSetInput, type ReferenceValueSetView } from './reference-value-admin.js'
import type { Services } from './services.js'

export interface SignerView {
  readonly fingerprint: string
  readonly label: string
  readonly format: SignerFormat
  /** The key type and, for keybroker bundles, the one JWS algorithm it signs with. */
  readonly algorithm: string
  readonly publicKey: string
  readonly createdAt: string
  readonly createdBy: string
}

function signerView(row: BundleSignerRow): SignerView {
  const key = parseSignerKey(row.publicKey, row.format)
  return {
    fingerprint: row.fingerprint,
    label: row.label,
    format: row.format,
    algorithm:
      row.format === 'keybroker'
        ? `${key.description} (${key.jwsAlg})`
        : row.format === 'corim'
          ? `${key.description} (COSE_Sign1)`
          : `${key.description} (${key.key.asymmetricKeyType === 'rsa' ? 'RSA PKCS#1 v1.5' : 'ECDSA'} SHA-256)`,
    publicKey: row.publicKey,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
  }
}

/** Registers a signer's public key as a trust anchor for bundles of `format`. */
export async function registerSigner(
  s: Services,
  input: { label: string; publicKey: string; format: SignerFormat },
  by: AdminPrincipal,
): Promise<SignerView> {
  const key = parseSignerKey(input.publicKey, input.format)
  const row = await s.database.db.transaction(async (tx) => {
    const created = await insertBundleSigner(tx, {
      fingerprint: key.fingerprint,
      label: input.label,
      format: input.format,
      publicKey: key.pem,
      createdAt: s.now(),
      createdBy: by.id,
    })
    await auditAdminChange(tx, s, by, 'signer.create', key.fingerprint, { label: input.label, format: input.format, key: key.description })
    return created
  })
  return signerView(row)
}

export async function listSigners(s: Services): Promise<SignerView[]> {
  return (await listBundleSigners(s.database.db)).map(signerView)
}

export async function getSigner(s: Services, fingerprint: string): Promise<SignerView> {
  const row = await getBundleSigner(s.database.db, fingerprint)
  if (row === undefined) throw new KeybrokerError('not-found', `no such signer: ${fingerprint}`)
  return signerView(row)
}

/** Removes a trust anchor: its bundles are refused from now on; values it imported stay. */
export async function deleteSigner(s: Services, fingerprint: string, by: AdminPrincipal): Promise<void> {
  await s.database.db.transaction(async (tx) => {
    if (!(await deleteBundleSigner(tx, fingerprint))) throw new KeybrokerError('not-found', `no such signer: ${fingerprint}`)
    await auditAdminChange(tx, s, by, 'signer.delete', fingerprint, {})
  })
}

async function signerKeys(ex: Executor, format: SignerFormat): Promise<SignerKey[]> {
  return (await listBundleSigners(ex, format)).map((row) => parseSignerKey(row.publicKey, row.format))
}

/** An unsigned policy document (go-sev-guest, go-tdx-guest) as the admin API takes it. */
export interface GoPolicyImportInput {
  readonly name: string
  readonly evidenceType?: string | undefined
  readonly ignore?: readonly string[] | undefined
}

export type ImportInput =
  | { readonly bundle: string }
  | { readonly automata: string; readonly name: string; readonly evidenceType?: string | undefined }
  | (GoPolicyImportInput & { readonly gosevguest: string })
  | (GoPolicyImportInput & { readonly gotdxguest: string })
  | { readonly corim: string; readonly name: string; readonly evidenceType?: string | undefined }
  | { readonly cosmianSnapshot: unknown; readonly name: string }

export interface ImportResult {
  readonly format: SignerFormat | GoPolicyFormat | 'corim' | 'cosmian-snapshot'
  /** `imported`, or `unchanged` when these exact bytes were imported before (idempotent). */
  readonly status: 'imported' | 'unchanged'
  /** The signer's fingerprint; null for unsigned formats (go-sev-guest, go-tdx-guest). */
  readonly signer: string | null
  readonly digest: string
  /** Unsigned policy documents: what each field became, and the fields the importer chose to ignore. */
  readonly fields?: { field: string; to: string[] }[]
  readonly ignored?: string[]
  readonly bundle?: { readonly name: string; readonly version: number; readonly issuedAt: string; readonly expiresAt: string }
  readonly referenceValues: ReferenceValueSetView[]
}

/**
 * Imports a signed bundle: every check first (signer, signature, validity, rollback, claims
 * against the catalogue), then all its sets in one transaction with the import record, so a
 * bundle is imported whole or not at all.
 *
 * @throws KeybrokerError `bundle-malformed`, `bundle-signer-unknown`, `bundle-signature-invalid`,
 *   `bundle-expired`, `bundle-rollback`, `claim-unknown`, `bad-request`.
 */
export async function importBundle(s: Services, input: ImportInput, by: AdminPrincipal): Promise<ImportResult> {
  if ('bundle' in input) return importKeybrokerBundle(s, input.bundle, by)
  if ('automata' in input) return importAutomata(s, input, by)
  if ('corim' in input) return importCorim(s, input, by)
  if ('cosmianSnapshot' in input) return importCosmianSnapshot(s, input, by)
  return importGoPolicy(s, input, by)
}

/**
 * A Cosmian VM snapshot (src/bundles/cosmian-snapshot.ts) is unsigned: the authenticated admin
 * API is its trusted channel, and the provenance names the importer, the snapshot's digest and
 * its cloud type. The same snapshot again is `unchanged`; another one replaces the set as a new
 * version (a new snapshot after an intended reboot or update).
 */
async function importCosmianSnapshot(s: Services, input: { readonly cosmianSnapshot: unknown; readonly name: string }, by: AdminPrincipal): Promise<ImportResult> {
  const mapping = mapCosmianSnapshot(input.cosmianSnapshot, input.name)
  const provenance: StoredProvenance = {
    source: mapping.format,
    documentDigest: mapping.digest,
    cloudType: mapping.cloudType,
    files: mapping.files,
    importedBy: by.id,
    importedAt: s.now().toISOString(),
  }
  const status = await importUnsigned(s, mapping.set, provenance, by, { format: mapping.format, digest: mapping.digest, files: mapping.files })
  return {
    format: mapping.format,
    status,
    signer: null,
    digest: mapping.digest,
    fields: mapping.fields.map((f: FieldMapping) => ({ field: f.field, to: [...f.to] })),
    referenceValues: [await getReferenceValues(s, input.name)],
  }
}

/**
 * A CoRIM: a signed one must verify with a registered `corim` signer and be inside its validity
 * windows now, and its values take the earlier not-after as their own `notAfter` (so they stop
 * matching when the CoRIM expires); an unsigned one comes over the authenticated admin API only.
 * A CoRIM has no version to order: the same bytes again are `unchanged`, others replace the set
 * as a new version (rollback cannot be detected).
 */
async function importCorim(s: Services, input: { readonly corim: string; readonly name: string; readonly evidenceType?: string | undefined }, by: AdminPrincipal): Promise<ImportResult> {
  const db = s.database.db
  const now = s.now()
  const bytes = Buffer.from(input.corim, 'base64')
  if (bytes.toString('base64').replace(/=+$/, '') !== input.corim.replace(/=+$/, '')) throw new KeybrokerError('bundle-malformed', 'corim: standard base64 expected')
  const corim = parseCorim(new Uint8Array(bytes))
  const signer = corim.signed ? verifyCorimSignature(corim, await signerKeys(db, 'corim')) : undefined
  checkCorimValidity(corim, now)
  const { set, fields } = mapCorim(corim, input.name, input.evidenceType)
  const notAfter = corimNotAfter(corim)?.toISOString()
  const windowed = { ...set, values: set.values.map((v) => ({ ...v, ...(notAfter === undefined ? {} : { notAfter }) })) }
  const provenance: StoredProvenance = {
    source: 'corim',
    signed: corim.signed,
    ...(signer === undefined ? {} : { signer: signer.fingerprint }),
    documentDigest: corim.digest,
    corimId: corim.id,
    importedBy: by.id,
    importedAt: now.toISOString(),
  }
  const v = validatedSetInput(windowed, provenance)
  const status = await db.transaction(async (tx) => {
    const existing = await getReferenceValueSet(tx, input.name)
    if (existing?.provenance?.['documentDigest'] === corim.digest && existing.provenance['source'] === 'corim') return 'unchanged' as const
    await writeSet(tx, s, windowed, v, provenance, by, 'reference-values.import')
    await auditAdminChange(tx, s, by, 'bundle.import', input.name, { format: 'corim', digest: corim.digest, signer: signer?.fingerprint ?? null, sets: [input.name] })
    return 'imported' as const
  })
  return {
    format: 'corim',
    status,
    signer: signer?.fingerprint ?? null,
    digest: corim.digest,
    fields: fields.map((f) => ({ field: f.field, to: [...f.to] })),
    referenceValues: [await getReferenceValues(s, input.name)],
  }
}

/**
 * go-sev-guest / go-tdx-guest policies are unsigned: the authenticated admin API is their trusted
 * channel, and the provenance names the importer and the document's digest. They carry no
 * version or expiry: the same document again is `unchanged`, another one replaces the set as a
 * new version (earlier versions stay readable); rollback cannot be detected.
 */
async function importGoPolicy(
  s: Services,
  input: (GoPolicyImportInput & { readonly gosevguest: string }) | (GoPolicyImportInput & { readonly gotdxguest: string }),
  by: AdminPrincipal,
): Promise<ImportResult> {
  const options = { name: input.name, evidenceType: input.evidenceType, ignore: input.ignore }
  const mapping = 'gosevguest' in input ? mapGoSevGuestPolicy({ text: input.gosevguest, ...options }) : mapGoTdxGuestPolicy({ text: input.gotdxguest, ...options })
  const provenance: StoredProvenance = {
    source: mapping.format,
    documentDigest: mapping.digest,
    importedBy: by.id,
    importedAt: s.now().toISOString(),
    ...(mapping.ignored.length > 0 ? { ignored: [...mapping.ignored] } : {}),
  }
  const status = await importUnsigned(s, mapping.set, provenance, by, { format: mapping.format, digest: mapping.digest, ignored: [...mapping.ignored] })
  return {
    format: mapping.format,
    status,
    signer: null,
    digest: mapping.digest,
    fields: mapping.fields.map((f: FieldMapping) => ({ field: f.field, to: [...f.to] })),
    ignored: [...mapping.ignored],
    referenceValues: [await getReferenceValues(s, input.name)],
  }
}

async function importKeybrokerBundle(s: Services, jws: string, by: AdminPrincipal): Promise<ImportResult> {
  const db = s.database.db
  const now = s.now()
  const signers = await signerKeys(db, 'keybroker')
  const verified = await verifyBundle(jws, (fp) => signers.find((k) => k.fingerprint === fp), now)
  const { payload, signer, digest } = verified
  const provenance: StoredProvenance = {
    source: 'bundle',
    signer: signer.fingerprint,
    bundleDigest: digest,
    signedAt: payload.issuedAt,
    bundle: payload.name,
    bundleVersion: payload.version,
  }
  const sets = verified.sets.map((set) => ({ set, v: validatedSetInput(set, provenance) }))
  const status = await db.transaction(async (tx) => {
    const last = await lockBundleImport(tx, payload.name)
    if (last !== undefined) {
      if (last.version === payload.version && last.digest === digest) return 'unchanged' as const
      if (payload.version <= last.version) {
        throw new KeybrokerError('bundle-rollback', `bundle ${payload.name} version ${payload.version} is not newer than the imported version ${last.version}`)
      }
    }
    for (const { set, v } of sets) await writeSet(tx, s, set, v, provenance, by, 'reference-values.import')
    await recordBundleImport(tx, {
      bundle: payload.name,
      version: payload.version,
      digest,
      signer: signer.fingerprint,
      signedAt: new Date(Date.parse(payload.issuedAt)),
      importedAt: now,
      importedBy: by.id,
    })
    await auditAdminChange(tx, s, by, 'bundle.import', payload.name, {
      format: 'keybroker',
      version: payload.version,
      digest,
      signer: signer.fingerprint,
      sets: sets.map(({ set }) => set.name),
    })
    return 'imported' as const
  })
  return {
    format: 'keybroker',
    status,
    signer: signer.fingerprint,
    digest,
    bundle: { name: payload.name, version: payload.version, issuedAt: payload.issuedAt, expiresAt: payload.expiresAt },
    referenceValues: await Promise.all(sets.map(({ set }) => getReferenceValues(s, set.name))),
  }
}

async function importAutomata(
  s: Services,
  input: { readonly automata: string; readonly name: string; readonly evidenceType?: string | undefined },
  by: AdminPrincipal,
): Promise<ImportResult> {
  const db = s.database.db
  const doc = parseAutomataDocument(input.automata)
  const signer = verifyAutomataDocument(doc, await signerKeys(db, 'automata'))
  const set = mapGoldenMeasurement(doc, input.name, input.evidenceType)
  const provenance: StoredProvenance = { source: 'automata', signer: signer.fingerprint, documentDigest: doc.digest, importedAt: s.now().toISOString() }
  const v = validatedSetInput(set, provenance)
  const status = await db.transaction(async (tx) => {
    const existing = await getReferenceValueSet(tx, input.name)
    // The same signed document again changes nothing (its content has no version to compare).
    if (existing?.provenance?.['documentDigest'] === doc.digest && existing.provenance['signer'] === signer.fingerprint) return 'unchanged' as const
    await writeSet(tx, s, set, v, provenance, by, 'reference-values.import')
    await auditAdminChange(tx, s, by, 'bundle.import', input.name, { format: 'automata', digest: doc.digest, signer: signer.fingerprint, sets: [input.name] })
    return 'imported' as const
  })
  return { format: 'automata', status, signer: signer.fingerprint, digest: doc.digest, referenceValues: [await getReferenceValues(s, input.name)] }
}

/**
 * One unsigned document (go-sev-guest, go-tdx-guest, Cosmian snapshot) into its set: the same
 * document (format and digest) again is `unchanged`, another one a new version; audited with `audit`.
 */
async function importUnsigned(
  s: Services,
  set: BundleSet,
  provenance: StoredProvenance,
  by: AdminPrincipal,
  audit: { readonly format: string; readonly digest: string; readonly [k: string]: JsonValue },
): Promise<'imported' | 'unchanged'> {
  const v = validatedSetInput(set, provenance)
  return s.database.db.transaction(async (tx) => {
    const existing = await getReferenceValueSet(tx, set.name)
    if (existing?.provenance?.['documentDigest'] === audit.digest && existing.provenance['source'] === audit.format) return 'unchanged' as const
    await writeSet(tx, s, set, v, provenance, by, 'reference-values.import')
    await auditAdminChange(tx, s, by, 'bundle.import', set.name, { ...audit, sets: [set.name] })
    return 'imported' as const
  })
}

async function writeSet(
  tx: Executor,
  s: Services,
  set: BundleSet,
  v: ReturnType<typeof validatedSetInput>,
  provenance: StoredProvenance,
  by: AdminPrincipal,
  action: string,
): Promise<void> {
  const input = { ...v, allowDebug: set.allowDebug, provenance, at: s.now() }
  const exists = (await getReferenceValueSet(tx, set.name)) !== undefined
  const stored = exists ? await replaceReferenceValueSet(tx, set.name, input) : await createReferenceValueSet(tx, { name: set.name, ...input })
  await auditAdminChange(tx, s, by, action, set.name, auditDetail(stored))
}
