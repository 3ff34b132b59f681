/**
 * The one database schema of keybroker, shared by PGlite and PostgreSQL. TS names are camelCase,
 * SQL names snake_case, both written out. Row types come from `$inferSelect` / `$inferInsert`.
 *
 * Changing this file requires a new migration: `npx drizzle-kit generate` (test/storage/
 * migrations.test.ts fails when the committed migrations lag behind this schema).
 *
 * No column has a clock default: every timestamp is passed in by the caller, which owns `now`.
 */
import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core'
import type { AuditDetail } from '../audit/chain.js'
import type { JsonValue } from '../evidence/types.js'

/**
 * `bytea` as a domain `Uint8Array`. pg returns a pooled `Buffer`, PGlite a `Uint8Array`; both are
 * copied so a row never aliases driver memory. (drizzle-orm 0.45 pg-core has no `bytea` builder.)
 */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType() {
    return 'bytea'
  },
  toDriver(value: Uint8Array): Uint8Array {
    // pg serializes Buffer (not plain Uint8Array) as bytea; PGlite accepts either.
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  },
  fromDriver(value: unknown): Uint8Array {
    if (!(value instanceof Uint8Array)) throw new TypeError('bytea column did not decode to bytes')
    return new Uint8Array(value)
  },
})

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

/** Nonces already presented to /v1/attest: the primary key makes single use hold across replicas. */
export const usedNonces = pgTable(
  'used_nonces',
  {
    nonceId: text('nonce_id').primaryKey(),
    expiresAt: tstz('expires_at').notNull(),
    usedAt: tstz('used_at').notNull(),
  },
  (t) => [index('used_nonces_expires_at_idx').on(t.expiresAt)],
)

/**
 * One row (`id` = 1): a counter that triggers raise in the same transaction as any change to the
 * data a release decision reads (secrets and their versions, policies, reference-value sets and
 * values, sealing keys, the disk deny-list). A replica reads it in the round trip that consumes the
 * nonce; while it is unchanged, that replica's in-process copies of those rows are still current
 * (services/release-data.ts). The triggers are SQL of their own (migrations/0011).
 */
export const releaseGeneration = pgTable(
  'release_generation',
  {
    id: integer('id').primaryKey(),
    generation: bigint('generation', { mode: 'bigint' }).notNull(),
  },
  (t) => [check('release_generation_single_row', sql`${t.id} = 1`)],
)

export const ADMIN_ROLES = ['admin', 'registrar', 'auditor'] as const
export type AdminRole = (typeof ADMIN_ROLES)[number]

/** Admin API bearer tokens, stored only as the hex SHA-256 of the token. */
export const adminTokens = pgTable(
  'admin_tokens',
  {
    id: text('id').primaryKey(),
    tokenHash: text('token_hash').notNull().unique('admin_tokens_token_hash_unique'),
    role: text('role', { enum: ADMIN_ROLES }).notNull(),
    label: text('label').notNull(),
    createdAt: tstz('created_at').notNull(),
    /** After this instant the token is refused (401); null: no expiry. */
    expiresAt: tstz('expires_at'),
    revokedAt: tstz('revoked_at'),
  },
  (t) => [
    check('admin_tokens_role_check', sql`${t.role} in ('admin', 'registrar', 'auditor')`),
    check('admin_tokens_token_hash_check', sql`${t.tokenHash} ~ '^[0-9a-f]{64}$'`),
  ],
)

/** Where a reference value came from: `{source: "admin" | "bundle" | "automata", …}` (JSON). */
export type StoredProvenance = { readonly source: string; readonly [k: string]: JsonValue }

/**
 * Named reference value sets; `version` goes up on every change of the set or its values.
 * `evidenceType` (null: any) scopes `expect`, the expected claims of the claim catalogue
 * (src/appraisal/claim-catalogue.ts), stored as JSON and re-checked when read. `provenance`
 * says who wrote the current version (admin, signed bundle, Automata document).
 */
export const referenceValueSets = pgTable('reference_value_sets', {
  name: text('name').primaryKey(),
  allowDebug: boolean('allow_debug').notNull(),
  version: integer('version').notNull(),
  createdAt: tstz('created_at').notNull(),
  updatedAt: tstz('updated_at').notNull(),
  evidenceType: text('evidence_type'),
  expect: jsonb('expect').$type<JsonValue[]>().notNull().default([]),
  provenance: jsonb('provenance').$type<StoredProvenance>(),
})

/** The measurements of a set, lowercase hex. A revoked value stays, with when and why. */
export const referenceMeasurements = pgTable(
  'reference_measurements',
  {
    setName: text('set_name')
      .notNull()
      .references(() => referenceValueSets.name, { onDelete: 'cascade', onUpdate: 'cascade' }),
    measurement: text('measurement').notNull(),
    createdAt: tstz('created_at').notNull(),
    revokedAt: tstz('revoked_at'),
    revokeReason: text('revoke_reason'),
    /** Claims this value expects besides the set's (JSON, as `reference_value_sets.expect`). */
    expect: jsonb('expect').$type<JsonValue[]>().notNull().default([]),
    notBefore: tstz('not_before'),
    notAfter: tstz('not_after'),
    provenance: jsonb('provenance').$type<StoredProvenance>(),
  },
  (t) => [
    primaryKey({ name: 'reference_measurements_pk', columns: [t.setName, t.measurement] }),
    // findReferenceValueSetsByMeasurement looks values up without a set name.
    index('reference_measurements_measurement_idx').on(t.measurement),
    check('reference_measurements_hex_check', sql`${t.measurement} ~ '^[0-9a-f]+$'`),
  ],
)

export const SECRET_KINDS = ['opaque', 'luks'] as const
export type SecretKind = (typeof SECRET_KINDS)[number]
export const SECRET_STATES = ['enabled', 'disabled'] as const
export type SecretState = (typeof SECRET_STATES)[number]

/** Secret metadata. The encrypted value lives in `secret_versions`, never here. */
export const secrets = pgTable(
  'secrets',
  {
    name: text('name').primaryKey(),
    kind: text('kind', { enum: SECRET_KINDS }).notNull(),
    state: text('state', { enum: SECRET_STATES }).notNull(),
    currentVersion: integer('current_version').notNull(),
    referenceValues: jsonb('reference_values').$type<string[]>().notNull(),
    /** The release policy (`policies.name`); null: the default rule set. */
    policy: text('policy'),
    createdAt: tstz('created_at').notNull(),
    updatedAt: tstz('updated_at').notNull(),
  },
  (t) => [
    check('secrets_kind_check', sql`${t.kind} in ('opaque', 'luks')`),
    check('secrets_state_check', sql`${t.state} in ('enabled', 'disabled')`),
    check('secrets_current_version_check', sql`${t.currentVersion} >= 1`),
  ],
)

/** Every version of every secret: an opaque envelope (encrypted elsewhere) and the KEK that wraps it. */
export const secretVersions = pgTable(
  'secret_versions',
  {
    secretName: text('secret_name')
      .notNull()
      .references(() => secrets.name, { onDelete: 'cascade', onUpdate: 'cascade' }),
    version: integer('version').notNull(),
    kekId: text('kek_id').notNull(),
    envelope: bytea('envelope').notNull(),
    createdAt: tstz('created_at').notNull(),
  },
  (t) => [primaryKey({ name: 'secret_versions_pk', columns: [t.secretName, t.version] })],
)

/**
 * The hash-chained audit log. `id` is a plain bigint, not an identity column: appends assign
 * `audit_head.last_id + 1` under the head's row lock, so ids are gap-free (a sequence would leave
 * gaps on rollback) and a missing id proves a deleted row. `mode: 'number'` is exact up to 2^53.
 */
export const auditLog = pgTable('audit_log', {
  id: bigint('id', { mode: 'number' }).primaryKey(),
  at: tstz('at').notNull(),
  actor: text('actor').notNull(),
  action: text('action').notNull(),
  subject: text('subject').notNull(),
  outcome: text('outcome').notNull(),
  detail: jsonb('detail').$type<AuditDetail>().notNull(),
  prevHash: text('prev_hash').notNull(),
  hash: text('hash').notNull(),
})

/**
 * One row (id = 1) naming the last audit entry. Appends lock it with SELECT … FOR UPDATE, which
 * serializes them across replicas; the row is seeded by migration 0001 (see there why).
 */
export const auditHead = pgTable(
  'audit_head',
  {
    id: integer('id').primaryKey(),
    lastId: bigint('last_id', { mode: 'number' }).notNull(),
    lastHash: text('last_hash').notNull(),
    /**
     * Chain format of every entry (src/audit/chain.ts): 1 = SHA-256, as written before the audit
     * key existed; 2 = HMAC under the audit key. Start-up re-keys a format-1 chain (audited).
     */
    format: integer('format').notNull().default(1),
  },
  (t) => [check('audit_head_single_row_check', sql`${t.id} = 1`), check('audit_head_format_check', sql`${t.format} in (1, 2)`)],
)

/**
 * The key of the audit chain's HMAC: 32 random bytes in an envelope sealed at rest by the KEK
 * (AAD `auditKeyAad(id)`, src/services/secret-aad.ts), like a secret version — so re-wrapping
 * under a new KEK keeps the chain verifiable. Row 1 is created on first start.
 */
export const auditKeys = pgTable('audit_keys', {
  id: integer('id').primaryKey(),
  kekId: text('kek_id').notNull(),
  envelope: bytea('envelope').notNull(),
  createdAt: tstz('created_at').notNull(),
})

/**
 * Signed checkpoints of the audit chain: the head id and hash at `at`, in a JWS signed with the
 * token key (`jws`; the other columns repeat its payload for queries). Exported, they let a
 * verifier detect a truncated or rewritten chain even against someone holding the database.
 */
export const auditCheckpoints = pgTable('audit_checkpoints', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  headId: bigint('head_id', { mode: 'number' }).notNull(),
  headHash: text('head_hash').notNull(),
  at: tstz('at').notNull(),
  jws: text('jws').notNull(),
})

/**
 * The admin collateral store: certificates, CRLs and other endorsements that verifiers look up
 * by `(kind, key)` (e.g. `snp-vcek`, `Milan/<hwid>/<tcb>`; the kinds and keys of each evidence
 * type are documented with its verifier). Rows are only written after the service has checked
 * the value chains to a pinned root. `sha256` is of `bytes`, lowercase hex.
 */
export const collateral = pgTable(
  'collateral',
  {
    kind: text('kind').notNull(),
    key: text('key').notNull(),
    bytes: bytea('bytes').notNull(),
    sha256: text('sha256').notNull(),
    uploadedAt: tstz('uploaded_at').notNull(),
    uploadedBy: text('uploaded_by').notNull(),
    /** When the value stops being useful (certificate notAfter, CRL nextUpdate), if it says. */
    notAfter: tstz('not_after'),
  },
  (t) => [
    primaryKey({ name: 'collateral_pk', columns: [t.kind, t.key] }),
    check('collateral_kind_check', sql`${t.kind} ~ '^[a-z0-9][a-z0-9-]*$'`),
    check('collateral_sha256_check', sql`${t.sha256} ~ '^[0-9a-f]{64}$'`),
  ],
)

export const SEALING_KEY_CURVES = ['P-256', 'P-521'] as const
export type SealingKeyCurve = (typeof SEALING_KEY_CURVES)[number]
export const SEALING_KEY_VERSION_STATES = ['active', 'retired'] as const
export type SealingKeyVersionState = (typeof SEALING_KEY_VERSION_STATES)[number]

/**
 * Sealing keys for disks (docs/architecture.md, "Secrets"): one per unlock policy, Tang-style, no per-disk
 * state. The private keys live in `sealing_key_versions`, never here.
 */
export const sealingKeys = pgTable(
  'sealing_keys',
  {
    name: text('name').primaryKey(),
    curve: text('curve', { enum: SEALING_KEY_CURVES }).notNull(),
    state: text('state', { enum: SECRET_STATES }).notNull(),
    /** The version advertised for new bindings; older active versions still recover. */
    currentVersion: integer('current_version').notNull(),
    referenceValues: jsonb('reference_values').$type<string[]>().notNull(),
    /** The release policy gating recovery (`policies.name`); null: the default rule set. */
    policy: text('policy'),
    createdAt: tstz('created_at').notNull(),
    updatedAt: tstz('updated_at').notNull(),
  },
  (t) => [
    check('sealing_keys_curve_check', sql`${t.curve} in ('P-256', 'P-521')`),
    check('sealing_keys_state_check', sql`${t.state} in ('enabled', 'disabled')`),
    check('sealing_keys_current_version_check', sql`${t.currentVersion} >= 1`),
  ],
)

/**
 * Every exchange key of a sealing key: the public JWK, its RFC 7638 thumbprint (`kid`, what a
 * bound disk names), and the private scalar in an envelope sealed at rest like a secret's.
 */
export const sealingKeyVersions = pgTable(
  'sealing_key_versions',
  {
    sealingKeyName: text('sealing_key_name')
      .notNull()
      .references(() => sealingKeys.name, { onDelete: 'cascade', onUpdate: 'cascade' }),
    version: integer('version').notNull(),
    kid: text('kid').notNull(),
    publicJwk: jsonb('public_jwk').$type<{ kty: 'EC'; crv: SealingKeyCurve; x: string; y: string }>().notNull(),
    kekId: text('kek_id').notNull(),
    envelope: bytea('envelope').notNull(),
    state: text('state', { enum: SEALING_KEY_VERSION_STATES }).notNull(),
    createdAt: tstz('created_at').notNull(),
    retiredAt: tstz('retired_at'),
  },
  (t) => [
    primaryKey({ name: 'sealing_key_versions_pk', columns: [t.sealingKeyName, t.version] }),
    index('sealing_key_versions_kid_idx').on(t.kid),
    check('sealing_key_versions_state_check', sql`${t.state} in ('active', 'retired')`),
  ],
)

/** Disk identities (RFC 7638 thumbprints of a binding's ephemeral key C) refused by an admin. */
export const deniedDisks = pgTable(
  'denied_disks',
  {
    disk: text('disk').primaryKey(),
    reason: text('reason').notNull(),
    createdAt: tstz('created_at').notNull(),
    createdBy: text('created_by').notNull(),
  },
  (t) => [check('denied_disks_disk_check', sql`${t.disk} ~ '^[A-Za-z0-9_-]{43}$'`)],
)

export const TPM_AK_SOURCES = ['registered', 'enrolled'] as const
export type TpmAkSource = (typeof TPM_AK_SOURCES)[number]

/**
 * TPM attestation keys keybroker trusts: registered by a registrar, or enrolled through a
 * credential activation against a registered EK CA. `id` is the SHA-256 of the DER SPKI.
 */
export const tpmAks = pgTable(
  'tpm_aks',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    source: text('source', { enum: TPM_AK_SOURCES }).notNull(),
    spki: bytea('spki').notNull(),
    /** TPMT_PUBLIC when it was given (enrollment always): attributes and Name. */
    tpmPublic: bytea('tpm_public'),
    /** SHA-256 of the EK certificate an enrollment was activated against. */
    ekCertificateSha256: text('ek_certificate_sha256'),
    createdAt: tstz('created_at').notNull(),
    createdBy: text('created_by').notNull(),
  },
  (t) => [
    check('tpm_aks_id_check', sql`${t.id} ~ '^[0-9a-f]{64}$'`),
    check('tpm_aks_source_check', sql`${t.source} in ('registered', 'enrolled')`),
  ],
)

export const TPM_CA_PURPOSES = ['ek', 'ak'] as const
export type TpmCaPurpose = (typeof TPM_CA_PURPOSES)[number]

/** Trust anchors for TPM keys: TPM manufacturer CAs (EK certificates) and AK CAs (cloud vTPMs). */
export const tpmCas = pgTable(
  'tpm_cas',
  {
    name: text('name').primaryKey(),
    purpose: text('purpose', { enum: TPM_CA_PURPOSES }).notNull(),
    /** DER. */
    certificate: bytea('certificate').notNull(),
    sha256: text('sha256').notNull(),
    subject: text('subject').notNull(),
    notAfter: tstz('not_after').notNull(),
    createdAt: tstz('created_at').notNull(),
    createdBy: text('created_by').notNull(),
  },
  (t) => [
    check('tpm_cas_purpose_check', sql`${t.purpose} in ('ek', 'ak')`),
    check('tpm_cas_sha256_check', sql`${t.sha256} ~ '^[0-9a-f]{64}$'`),
    index('tpm_cas_purpose_idx').on(t.purpose),
  ],
)

/**
 * Every version of every reference-value set, as a JSON snapshot taken in the transaction of the
 * change: the previous versions stay readable. Deleting the set deletes its history (the audit
 * log keeps every change).
 */
export const referenceValueSetVersions = pgTable(
  'reference_value_set_versions',
  {
    name: text('name')
      .notNull()
      .references(() => referenceValueSets.name, { onDelete: 'cascade', onUpdate: 'cascade' }),
    version: integer('version').notNull(),
    snapshot: jsonb('snapshot').$type<{ [k: string]: JsonValue }>().notNull(),
    createdAt: tstz('created_at').notNull(),
  },
  (t) => [primaryKey({ name: 'reference_value_set_versions_pk', columns: [t.name, t.version] })],
)

/** Named release policies; the rules live in `policy_versions` (every change is a new version). */
export const policies = pgTable(
  'policies',
  {
    name: text('name').primaryKey(),
    currentVersion: integer('current_version').notNull(),
    createdAt: tstz('created_at').notNull(),
    updatedAt: tstz('updated_at').notNull(),
  },
  (t) => [check('policies_current_version_check', sql`${t.currentVersion} >= 1`)],
)

/** One version of a policy: its CEL rules `[{name, expr, description?}]`, compiled when saved. */
export const policyVersions = pgTable(
  'policy_versions',
  {
    name: text('name')
      .notNull()
      .references(() => policies.name, { onDelete: 'cascade', onUpdate: 'cascade' }),
    version: integer('version').notNull(),
    description: text('description').notNull(),
    rules: jsonb('rules').$type<{ name: string; expr: string; description?: string }[]>().notNull(),
    createdAt: tstz('created_at').notNull(),
    createdBy: text('created_by').notNull(),
  },
  (t) => [primaryKey({ name: 'policy_versions_pk', columns: [t.name, t.version] })],
)

export const SIGNER_FORMATS = ['keybroker', 'automata', 'corim'] as const
export type SignerFormatName = (typeof SIGNER_FORMATS)[number]

/**
 * Trust anchors for signed golden-measurement bundles: public keys an admin registered, by the
 * hex SHA-256 of their SPKI. `format` says what they sign (our JWS bundles, Automata documents, CoRIMs).
 */
export const bundleSigners = pgTable(
  'bundle_signers',
  {
    fingerprint: text('fingerprint').primaryKey(),
    label: text('label').notNull(),
    format: text('format', { enum: SIGNER_FORMATS }).notNull(),
    publicKey: text('public_key').notNull(),
    createdAt: tstz('created_at').notNull(),
    createdBy: text('created_by').notNull(),
  },
  (t) => [
    check('bundle_signers_fingerprint_check', sql`${t.fingerprint} ~ '^[0-9a-f]{64}$'`),
    check('bundle_signers_format_check', sql`${t.format} in ('keybroker', 'automata', 'corim')`),
  ],
)

/** The last imported version of each bundle name: what rollback protection compares against. */
export const bundleImports = pgTable('bundle_imports', {
  bundle: text('bundle').primaryKey(),
  version: integer('version').notNull(),
  digest: text('digest').notNull(),
  signer: text('signer').notNull(),
  signedAt: tstz('signed_at').notNull(),
  importedAt: tstz('imported_at').notNull(),
  importedBy: text('imported_by').notNull(),
})

export const CA_SOURCES = ['generated', 'imported'] as const
export type CaSource = (typeof CA_SOURCES)[number]

/**
 * Certificate authorities of the attested CA (issue 16): metadata here, every key (version) in
 * `ca_versions`. A rotation adds a version; older versions keep answering CRL and OCSP.
 */
export const certificateAuthorities = pgTable(
  'certificate_authorities',
  {
    name: text('name').primaryKey(),
    /** `P-256` / `P-384` (generated or imported EC keys) or `RSA` (imported). */
    keyType: text('key_type').notNull(),
    source: text('source', { enum: CA_SOURCES }).notNull(),
    /** The version that issues new certificates. */
    currentVersion: integer('current_version').notNull(),
    createdAt: tstz('created_at').notNull(),
    updatedAt: tstz('updated_at').notNull(),
  },
  (t) => [
    check('certificate_authorities_source_check', sql`${t.source} in ('generated', 'imported')`),
    check('certificate_authorities_current_version_check', sql`${t.currentVersion} >= 1`),
  ],
)

/**
 * One key of a CA: its certificate (DER), the certificates above it for an imported
 * intermediate (PEM, may be empty), the private key (PKCS#8) in an envelope sealed at rest
 * under the KEK, and the last CRL signed with it (a cache that a revocation clears).
 */
export const caVersions = pgTable(
  'ca_versions',
  {
    caName: text('ca_name')
      .notNull()
      .references(() => certificateAuthorities.name, { onDelete: 'cascade', onUpdate: 'cascade' }),
    version: integer('version').notNull(),
    certificate: bytea('certificate').notNull(),
    chainPem: text('chain_pem').notNull(),
    /** SHA-1 of the subjectPublicKey (RFC 5280 §4.2.1.2), hex: the AKI of what it signs. */
    keyId: text('key_id').notNull(),
    notAfter: tstz('not_after').notNull(),
    kekId: text('kek_id').notNull(),
    envelope: bytea('envelope').notNull(),
    crlNumber: bigint('crl_number', { mode: 'bigint' }).notNull().default(sql`0`),
    crl: bytea('crl'),
    crlNextUpdate: tstz('crl_next_update'),
    createdAt: tstz('created_at').notNull(),
  },
  (t) => [primaryKey({ name: 'ca_versions_pk', columns: [t.caName, t.version] })],
)

/** Certificate profiles: what a CA issues to an attested key, gated like a secret. */
export const certificateProfiles = pgTable(
  'certificate_profiles',
  {
    name: text('name').primaryKey(),
    caName: text('ca_name')
      .notNull()
      .references(() => certificateAuthorities.name, { onDelete: 'restrict', onUpdate: 'cascade' }),
    allowedDnsNames: jsonb('allowed_dns_names').$type<string[]>().notNull(),
    allowedIpAddresses: jsonb('allowed_ip_addresses').$type<string[]>().notNull(),
    allowedSubject: jsonb('allowed_subject').$type<Record<string, string[]>>().notNull(),
    extendedKeyUsage: jsonb('extended_key_usage').$type<string[]>().notNull(),
    lifetimeSeconds: integer('lifetime_seconds').notNull(),
    referenceValues: jsonb('reference_values').$type<string[]>().notNull(),
    /** The release policy (`policies.name`); null: the default rule set. */
    policy: text('policy'),
    createdAt: tstz('created_at').notNull(),
    updatedAt: tstz('updated_at').notNull(),
  },
  (t) => [check('certificate_profiles_lifetime_check', sql`${t.lifetimeSeconds} > 0`)],
)

/**
 * Every certificate issued, with the attestation it was issued on. `serial` is lowercase hex.
 * A revocation fills `revoked_at`; rows stay (CRL and OCSP answer from them).
 */
export const issuedCertificates = pgTable(
  'issued_certificates',
  {
    serial: text('serial').primaryKey(),
    caName: text('ca_name').notNull(),
    caVersion: integer('ca_version').notNull(),
    profile: text('profile').notNull(),
    /** absmach/certs `entityID` of a Cocos request; null otherwise. */
    entityId: text('entity_id'),
    subject: text('subject').notNull(),
    dnsNames: jsonb('dns_names').$type<string[]>().notNull(),
    ipAddresses: jsonb('ip_addresses').$type<string[]>().notNull(),
    /** SHA-256 of the subject public key info (DER), hex. */
    spkiSha256: text('spki_sha256').notNull(),
    certificate: bytea('certificate').notNull(),
    notBefore: tstz('not_before').notNull(),
    notAfter: tstz('not_after').notNull(),
    /** SHA-256 of the EAR the certificate was issued on, hex; with its status and claims. */
    earDigest: text('ear_digest').notNull(),
    earStatus: text('ear_status').notNull(),
    tokenId: text('token_id').notNull(),
    evidenceType: text('evidence_type').notNull(),
    measurement: text('measurement').notNull(),
    /** The reference-value sets whose values matched at issuance. */
    referenceValues: jsonb('reference_values').$type<string[]>().notNull(),
    renewedFrom: text('renewed_from'),
    issuedAt: tstz('issued_at').notNull(),
    revokedAt: tstz('revoked_at'),
    revocationReason: text('revocation_reason'),
    revokedBy: text('revoked_by'),
  },
  (t) => [
    index('issued_certificates_ca_idx').on(t.caName, t.caVersion),
    index('issued_certificates_measurement_idx').on(t.measurement),
    check('issued_certificates_serial_check', sql`${t.serial} ~ '^[0-9a-f]+$'`),
  ],
)

export type UsedNonce = typeof usedNonces.$inferSelect
export type NewUsedNonce = typeof usedNonces.$inferInsert
export type AdminTokenRow = typeof adminTokens.$inferSelect
export type NewAdminTokenRow = typeof adminTokens.$inferInsert
export type ReferenceValueSetRow = typeof referenceValueSets.$inferSelect
export type NewReferenceValueSetRow = typeof referenceValueSets.$inferInsert
export type ReferenceMeasurementRow = typeof referenceMeasurements.$inferSelect
export type NewReferenceMeasurementRow = typeof referenceMeasurements.$inferInsert
export type SecretRow = typeof secrets.$inferSelect
export type NewSecretRow = typeof secrets.$inferInsert
export type SecretVersionRow = typeof secretVersions.$inferSelect
export type NewSecretVersionRow = typeof secretVersions.$inferInsert
export type AuditLogRow = typeof auditLog.$inferSelect
export type NewAuditLogRow = typeof auditLog.$inferInsert
export type AuditHeadRow = typeof auditHead.$inferSelect
export type AuditKeyRow = typeof auditKeys.$inferSelect
export type AuditCheckpointRow = typeof auditCheckpoints.$inferSelect
export type CollateralRow = typeof collateral.$inferSelect
export type NewCollateralRow = typeof collateral.$inferInsert
export type SealingKeyRow = typeof sealingKeys.$inferSelect
export type NewSealingKeyRow = typeof sealingKeys.$inferInsert
export type SealingKeyVersionRow = typeof sealingKeyVersions.$inferSelect
export type NewSealingKeyVersionRow = typeof sealingKeyVersions.$inferInsert
export type DeniedDiskRow = typeof deniedDisks.$inferSelect
export type TpmAkRow = typeof tpmAks.$inferSelect
export type NewTpmAkRow = typeof tpmAks.$inferInsert
export type TpmCaRow = typeof tpmCas.$inferSelect
export type NewTpmCaRow = typeof tpmCas.$inferInsert
export type CertificateAuthorityRow = typeof certificateAuthorities.$inferSelect
export type CaVersionRow = typeof caVersions.$inferSelect
export type CertificateProfileRow = typeof certificateProfiles.$inferSelect
export type NewCertificateProfileRow = typeof certificateProfiles.$inferInsert
export type IssuedCertificateRow = typeof issuedCertificates.$inferSelect
export type NewIssuedCertificateRow = typeof issuedCertificates.$inferInsert
