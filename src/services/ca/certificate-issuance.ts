import { createPublicKey } from 'node:crypto'
import { appraise, type AppraisalClaims } from '../../appraisal/index.js'
import {
  certificatePem,
  createLeafCertificate,
  csrDerFromText,
  factsOfCertificate,
  nameViolations,
  newSerial,
  parseCsr,
  type ExtendedKeyUsageName,
  type RequestFacts,
} from '../../ca/index.js'
import { KeybrokerError } from '../../errors.js'
import type { Claims, JsonValue } from '../../evidence/index.js'
import { decideRelease, type RuleResult } from '../../policy/index.js'
import { parseRecipientKey, type RecipientJwk } from '../../secrets/index.js'
import {
  getCurrentPolicies,
  getIssuedCertificate,
  getProfile,
  insertIssuedCertificate,
  type CertificateProfile,
  type IssuedCertificate,
} from '../../storage/index.js'
import { verifyEar } from '../../tokens/index.js'
import { claimsFromToken } from '../attestation.js'
import { appraisalClaims, compiledPolicy, loadAppraisalSets } from '../release-policy.js'
import type { Services } from '../services.js'
import { loadCaSigner, sha256Hex } from './ca-admin.js'

/**
 * Issuance tied to attestation (issue 16): a certificate goes only to the key an attestation
 * bound (the CSR's key is the EAR's `cnf.jwk`, or the attested `publicKey` of `/v1/attest`),
 * for names the profile allows, when the profile's release policy holds for the attested
 * claims appraised against the profile's reference-value sets — the same decision as a
 * secret's. Two steps, so `/v1/attest` can decide before it issues its token and sign after:
 * {@link prepareCertificate} (every check; denials audited) and {@link signCertificate}.
 */

/** One certificate asked for: in `/v1/attest`'s `certificates` and in `POST /v1/certificates`. */
export interface CertificateRequestInput {
  /** The CA; optional, but when given it must be the profile's. */
  readonly ca?: string | undefined
  readonly profile: string
  /** PEM, or base64 / base64url of the DER (or of the PEM). */
  readonly csr: string
}

/** What the API returns for an issued certificate. */
export interface IssuedCertificateView {
  readonly serial: string
  readonly certificate: string
  /** The CA certificate and the certificates above it, PEM, issuer first. */
  readonly chain: string[]
  readonly notAfter: string
}

/** The attestation a request stands on. */
export interface AttestedKey {
  readonly claims: AppraisalClaims
  readonly evidenceType: string
  /** The key the attestation bound (EAR `cnf.jwk`). */
  readonly key: RecipientJwk
  readonly via: 'attest' | 'token'
  readonly clientIp: string
  readonly requestId: string
  /** The token presented (`token`); none on `/v1/attest`, whose token is issued after. */
  readonly tokenId?: string | undefined
}

/** A failed rule of a profile's policy, as a denial lists it. */
export interface FailedProfileRule extends RuleResult {
  readonly profile: string
}

export interface PreparedCertificate {
  readonly profile: CertificateProfile
  readonly facts: RequestFacts
  readonly lifetimeSeconds: number
  /** Reference-value sets whose values matched (they go into the certificate). */
  readonly matched: readonly string[]
  readonly policy: string
  readonly measurement: string
  readonly evidenceType: string
  readonly entityId?: string | undefined
  readonly renewedFrom?: string | undefined
}

/** The EAR a certificate is issued on. */
export interface EarFacts {
  readonly token: string
  readonly tokenId: string
  readonly status: string
}

/**
 * Every check of one request, before anything is signed: profile (and CA) exist, the request's
 * key is the attested key, its names are inside the profile, the profile's policy allows.
 * @throws KeybrokerError `not-found` (profile), `bad-request` (CA not the profile's),
 *   `csr-key-mismatch`, `name-not-allowed` (with `violations`), `policy-denied` (with
 *   `failedRules`); each denial is audited first.
 */
export async function prepareCertificate(
  s: Services,
  attested: AttestedKey,
  request: {
    readonly profile: string
    readonly ca?: string | undefined
    readonly facts: RequestFacts
    readonly requestedLifetimeSeconds?: number | undefined
    readonly entityId?: string | undefined
    readonly renewedFrom?: string | undefined
  },
): Promise<PreparedCertificate> {
  const db = s.database.db
  const action = request.renewedFrom === undefined ? 'certificate.issue' : 'certificate.renew'
  const base = {
    requestId: attested.requestId,
    profile: request.profile,
    evidenceType: attested.evidenceType,
    measurement: attested.claims.measurement,
    ...(attested.tokenId === undefined ? {} : { tokenId: attested.tokenId }),
    ...(request.entityId === undefined ? {} : { entityId: request.entityId }),
  }
  const deny = async (reason: string, extra: Record<string, JsonValue> = {}) => {
    await s.audit.append({ at: s.now(), actor: 'attester', action, subject: request.renewedFrom ?? request.profile, outcome: 'denied', detail: { ...base, reason, ...extra } })
  }
  const profile = await getProfile(db, request.profile)
  if (profile === undefined) {
    await deny('profile-unknown')
    throw new KeybrokerError('not-found', `no such certificate profile: ${request.profile}`)
  }
  if (request.ca !== undefined && request.ca !== profile.caName) {
    await deny('ca-mismatch')
    throw new KeybrokerError('bad-request', `profile ${profile.name} issues from CA ${profile.caName}, not ${request.ca}`)
  }
  if (!sameKey(request.facts.publicJwk, attested.key)) {
    await deny('csr-key-mismatch')
    throw new KeybrokerError('csr-key-mismatch', 'the CSR is for another key than the attested one (EAR cnf.jwk)')
  }
  const violations = nameViolations(request.facts, { allowedDnsNames: profile.allowedDnsNames, allowedIpAddresses: profile.allowedIpAddresses, allowedSubject: profile.allowedSubject }, templateClaims(attested.claims))
  if (violations.length > 0) {
    await deny('name-not-allowed', { violations })
    throw new KeybrokerError('name-not-allowed', `${violations.length} requested name(s) outside profile ${profile.name}`, { extensions: { violations } })
  }

  const now = s.now()
  const [sets, policies] = await Promise.all([loadAppraisalSets(s, db, profile.referenceValues), getCurrentPolicies(db, profile.policy === null ? [] : [profile.policy])])
  const stored = profile.policy === null ? undefined : policies.get(profile.policy)
  if (profile.policy !== null && stored === undefined) throw new KeybrokerError('internal', `profile ${profile.name} names policy ${profile.policy}, which does not exist`)
  const appraisal = appraise(attested.claims, profile.referenceValues.flatMap((n) => sets.get(n) ?? []), { now })
  const decision = decideRelease({
    secretState: 'enabled',
    policy: stored === undefined ? undefined : compiledPolicy(stored),
    claims: attested.claims,
    appraisal,
    referenceValues: profile.referenceValues,
    request: { evidenceType: attested.evidenceType, clientIp: attested.clientIp, time: now, secret: profile.name, via: attested.via },
  })
  // `secret-enabled` is the secrets' own gate; a profile has no state, so it always passes.
  const failed: FailedProfileRule[] = decision.rules
    .filter((r) => !r.passed && r.rule !== 'secret-enabled')
    .map((r) => ({ profile: profile.name, rule: r.rule, passed: r.passed, reason: r.reason, ...(r.error === undefined ? {} : { error: r.error }) }))
  const policy = stored === undefined ? 'default' : `${stored.name}@${stored.version}`
  if (failed.length > 0) {
    await deny('policy-denied', { policy, failedRules: failed.map((f) => `${f.profile}:${f.rule}`) })
    throw new KeybrokerError('policy-denied', `issuance denied by ${failed.length} rule(s)`, { extensions: { failedRules: failed } })
  }
  const requested = request.requestedLifetimeSeconds
  const lifetimeSeconds = requested === undefined || requested <= 0 ? profile.lifetimeSeconds : Math.min(requested, profile.lifetimeSeconds)
  return {
    profile,
    facts: request.facts,
    lifetimeSeconds,
    matched: [...appraisal.matched],
    policy,
    measurement: attested.claims.measurement,
    evidenceType: attested.evidenceType,
    entityId: request.entityId,
    renewedFrom: request.renewedFrom,
  }
}

/**
 * Signs a prepared certificate with the profile's CA (current version), stores it and audits it
 * with the EAR's digest. `notBefore` is a minute back (clock skew); `notAfter` never passes the
 * CA certificate's.
 */
export async function signCertificate(s: Services, p: PreparedCertificate, ear: EarFacts, requestId: string): Promise<IssuedCertificateView> {
  const { signer, version, meta } = await loadCaSigner(s, p.profile.caName)
  const chainPem = meta.versions.find((v) => v.version === version)?.chainPem ?? ''
  const now = s.now()
  const caNotAfter = signer.certificate.notAfter
  // Whole seconds: what the certificate can hold (UTCTime/GeneralizedTime without fractions).
  const notAfter = new Date(Math.floor(Math.min(now.getTime() + p.lifetimeSeconds * 1000, caNotAfter.getTime()) / 1000) * 1000)
  const notBefore = new Date(Math.floor((now.getTime() - 60_000) / 1000) * 1000)
  const serial = newSerial()
  const earDigest = sha256Hex(ear.token)
  const base = `${s.config.ca.publicUrl}/v1/ca/${encodeURIComponent(p.profile.caName)}`
  const der = await createLeafCertificate({
    signer,
    serialHex: serial,
    subjectDer: p.facts.subjectDer,
    spki: p.facts.spki,
    isRsaKey: p.facts.publicJwk.kty === 'RSA',
    notBefore,
    notAfter,
    dnsNames: p.facts.dnsNames,
    ipAddresses: p.facts.ipAddresses,
    extendedKeyUsage: p.profile.extendedKeyUsage.filter((u): u is ExtendedKeyUsageName => u === 'serverAuth' || u === 'clientAuth'),
    crlUrl: `${base}/crl?version=${version}`,
    ocspUrl: `${base}/ocsp`,
    caIssuersUrl: base,
    attestation: {
      earDigest: Buffer.from(earDigest, 'hex'),
      earStatus: ear.status,
      evidenceType: p.evidenceType,
      measurement: p.measurement.toLowerCase(),
      tokenId: ear.tokenId,
      referenceValues: p.matched,
    },
  })
  const row = {
    serial,
    caName: p.profile.caName,
    caVersion: version,
    profile: p.profile.name,
    entityId: p.entityId ?? null,
    subject: p.facts.subject.map((a) => `${a.type}=${a.value}`).join(', '),
    dnsNames: [...p.facts.dnsNames],
    ipAddresses: [...p.facts.ipAddresses],
    spkiSha256: sha256Hex(p.facts.spki),
    certificate: der,
    notBefore,
    notAfter,
    earDigest,
    earStatus: ear.status,
    tokenId: ear.tokenId,
    evidenceType: p.evidenceType,
    measurement: p.measurement.toLowerCase(),
    referenceValues: [...p.matched],
    renewedFrom: p.renewedFrom ?? null,
    issuedAt: now,
  }
  await insertIssuedCertificate(s.database.db, row)
  await s.audit.append({
    at: now,
    actor: 'attester',
    action: p.renewedFrom === undefined ? 'certificate.issue' : 'certificate.renew',
    subject: serial,
    outcome: 'ok',
    detail: {
      requestId,
      ca: p.profile.caName,
      caVersion: version,
      profile: p.profile.name,
      policy: p.policy,
      earDigest,
      earStatus: ear.status,
      tokenId: ear.tokenId,
      evidenceType: p.evidenceType,
      measurement: row.measurement,
      referenceValues: [...p.matched],
      dnsNames: row.dnsNames,
      ipAddresses: row.ipAddresses,
      notAfter: notAfter.toISOString(),
      ...(p.renewedFrom === undefined ? {} : { renewedFrom: p.renewedFrom }),
      ...(p.entityId === undefined ? {} : { entityId: p.entityId }),
    },
  })
  return { serial, certificate: certificatePem(der), chain: splitPem(certificatePem(signer.certificateDer) + chainPem), notAfter: notAfter.toISOString() }
}

/** The attested key behind a bearer EAR, the token re-verified now. */
export async function attestedByToken(s: Services, token: string, requestId: string, clientIp: string): Promise<{ attested: AttestedKey; ear: EarFacts }> {
  const ear = await verifyEar(token, s.keys, { issuer: s.config.issuer, audience: s.config.audience, now: s.now() })
  if (ear.cnf === undefined) throw new KeybrokerError('token-invalid', 'this token binds no key; attest with a public key to get a certificate')
  return {
    attested: {
      claims: claimsFromToken(ear.claims, ear.evidenceType),
      evidenceType: ear.evidenceType,
      key: parseRecipientKey(ear.cnf.jwk).publicJwk,
      via: 'token',
      clientIp,
      requestId,
      tokenId: ear.jti,
    },
    ear: { token, tokenId: ear.jti, status: ear['ear.status'] },
  }
}

/**
 * `POST /v1/certificates`: a certificate for the key of a bearer EAR, the profile's policy
 * re-checked against the token's claims now.
 */
export async function issueWithToken(
  s: Services,
  token: string,
  input: CertificateRequestInput & { readonly requestedLifetimeSeconds?: number | undefined; readonly entityId?: string | undefined },
  requestId: string,
  clientIp = '',
): Promise<IssuedCertificateView> {
  const { attested, ear } = await attestedByToken(s, token, requestId, clientIp)
  const facts = parseCsr(csrDerFromText(input.csr))
  const prepared = await prepareCertificate(s, attested, {
    profile: input.profile,
    ca: input.ca,
    facts,
    requestedLifetimeSeconds: input.requestedLifetimeSeconds,
    entityId: input.entityId,
  })
  return signCertificate(s, prepared, ear, requestId)
}

/**
 * Renewal with a fresh EAR: the same key (no `csr`: the token's key must be the certificate's)
 * or a new one (a `csr` for the token's key), same profile, names and policy checked again.
 * @throws KeybrokerError `not-found`, `conflict` (revoked), and those of {@link prepareCertificate}.
 */
export async function renewWithToken(
  s: Services,
  token: string,
  serial: string,
  input: { readonly csr?: string | undefined; readonly requestedLifetimeSeconds?: number | undefined },
  requestId: string,
  clientIp = '',
): Promise<IssuedCertificateView & { readonly renewed: IssuedCertificate }> {
  const { attested, ear } = await attestedByToken(s, token, requestId, clientIp)
  const old = await getIssuedCertificate(s.database.db, serial)
  if (old === undefined) throw new KeybrokerError('not-found', `no such certificate: ${serial}`)
  if (old.revokedAt !== null) throw new KeybrokerError('conflict', `certificate ${serial} is revoked; request a new one`)
  const facts = input.csr === undefined ? factsOfCertificate(old.certificate) : parseCsr(csrDerFromText(input.csr))
  const prepared = await prepareCertificate(s, attested, {
    profile: old.profile,
    facts,
    requestedLifetimeSeconds: input.requestedLifetimeSeconds,
    entityId: old.entityId ?? undefined,
    renewedFrom: serial,
  })
  return { ...(await signCertificate(s, prepared, ear, requestId)), renewed: old }
}

/**
 * The `certificates` member of `/v1/attest`: every request checked against the attested key
 * and claims before the token is issued (a denial denies the whole request, as for secrets);
 * `issue` signs them once the EAR exists.
 */
export async function prepareAttestCertificates(
  s: Services,
  input: { readonly requests: readonly CertificateRequestInput[]; readonly claims: Claims; readonly key: RecipientJwk; readonly requestId: string; readonly clientIp?: string | undefined },
): Promise<{ issue(ear: EarFacts): Promise<IssuedCertificateView[]> }> {
  const attested: AttestedKey = {
    claims: appraisalClaims(input.claims),
    evidenceType: input.claims.evidenceType,
    key: input.key,
    via: 'attest',
    clientIp: input.clientIp ?? '',
    requestId: input.requestId,
  }
  const prepared: PreparedCertificate[] = []
  for (const r of input.requests) {
    prepared.push(await prepareCertificate(s, attested, { profile: r.profile, ca: r.ca, facts: parseCsr(csrDerFromText(r.csr)) }))
  }
  return {
    issue: async (ear) => {
      const out: IssuedCertificateView[] = []
      for (const p of prepared) out.push(await signCertificate(s, p, ear, input.requestId))
      return out
    },
  }
}

function splitPem(bundle: string): string[] {
  return [...bundle.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)].map((m) => (m[0].endsWith('\n') ? m[0] : `${m[0]}\n`))
}

/** Equal public keys: the RFC 7638 members compared (both sides are canonical JWKs). */
export function sameKey(a: RecipientJwk, b: RecipientJwk): boolean {
  if (a.kty === 'EC' && b.kty === 'EC') return a.crv === b.crv && a.x === b.x && a.y === b.y
  if (a.kty === 'RSA' && b.kty === 'RSA') return a.n === b.n && a.e === b.e
  return false
}

/** The canonical JWK of a DER SPKI. */
export function jwkOfSpki(spki: Uint8Array): RecipientJwk {
  return parseRecipientKey(createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' })).publicJwk
}

/** Claims profile templates may use: the attestation's top-level string claims. */
function templateClaims(c: AppraisalClaims): Record<string, string> {
  const out: Record<string, string> = { measurement: c.measurement.toLowerCase() }
  if (c.evidenceType !== undefined) out['evidenceType'] = c.evidenceType
  if (c.platform !== undefined) out['platform'] = c.platform
  if (c.instanceId !== undefined) out['instanceId'] = c.instanceId
  if (c.hostData !== undefined) out['hostData'] = c.hostData
  return out
}
