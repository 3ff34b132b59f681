import { randomBytes, sign } from 'node:crypto'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import { z } from 'zod'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/types.js'
import type { RecipientJwk } from '../secrets/recipient-key.js'
import type { KeySet, TokenSigner } from './signing-keys.js'
import { TOKEN_ALGS } from './signing-keys.js'
import { EAR_STATUSES, TRUST_CLAIMS, isTrustClaimValue, type EarStatus, type TrustVector } from '../appraisal/trust-vector.js'

/**
 * EAT Attestation Results (draft-ietf-rats-ear) as a JWT (RFC 7519) signed with ES256/ES384.
 *
 * Claim names follow the Veraison EAR profile `tag:github.com,2023:veraison/ear` (the profile
 * that Veraison's and Trustee's EAR libraries speak): dotted names `ear.status`,
 * `ear.trustworthiness-vector`, `ear.verifier_id`, `ear.veraison.annotated-evidence`. One
 * submodule per appraised evidence, keyed by the evidence type. Beyond the draft:
 * a top-level `ear.status` (docs/architecture.md, "Tokens": relying parties read one status without walking
 * submods), `cnf.jwk` (RFC 7800, the attested key secrets are sealed to), and `kb.*` claims.
 */
export const EAR_PROFILE = 'tag:github.com,2023:veraison/ear'
export const EAR_DEVELOPER = 'keybroker'
/** Tokens are short-lived passports (docs/architecture.md, "Tokens"); a day bounds a misconfiguration. */
export const MAX_EAR_TTL_SECONDS = 24 * 60 * 60

export interface EarInput {
  readonly issuer: string
  readonly audience: string
  readonly now: Date
  readonly ttlSeconds: number
  /** The challenge nonce the evidence was bound to (EAT `eat_nonce`, RFC 9711 §4.1). */
  readonly nonce: string
  /** Canonical public JWK of the attested key (RFC 7800 `cnf`); absent for keyless verification results. */
  readonly cnfJwk?: RecipientJwk
  readonly status: EarStatus
  /** AR4SI trust vector; only the eight AR4SI names, integer values in -128..127. */
  readonly trustVector: TrustVector
  /** False for development evidence (`sample`): recorded as `kb.hardware_backed: false`. */
  readonly hardwareBacked: boolean
  readonly evidenceType: string
  /** The claims the appraisal used (`ear.veraison.annotated-evidence`). */
  readonly claims: Readonly<Record<string, JsonValue>>
  /** Names of the secrets this token may fetch (`kb.secrets`). */
  readonly secrets?: readonly string[]
  /** `ear.verifier_id.build`; defaults to `keybroker`. */
  readonly verifierBuild?: string
  /** `ear.appraisal-policy-id` of the submodule: which appraisal produced status and vector. */
  readonly appraisalPolicyId?: string
}

export interface IssuedEar {
  readonly token: string
  readonly jti: string
  readonly expiresAt: Date
}

const TRUST_CLAIM_NAMES: ReadonlySet<string> = new Set(TRUST_CLAIMS)
const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/)
const cnfJwkSchema = z.union([
  z.strictObject({ kty: z.literal('EC'), crv: z.enum(['P-256', 'P-384']), x: b64url, y: b64url }),
  z.strictObject({ kty: z.literal('RSA'), e: b64url, n: b64url }),
])
const trustValue = z.number().int().min(-128).max(127)
const trustVectorSchema = z.strictObject({
  'instance-identity': trustValue.optional(),
  configuration: trustValue.optional(),
  executables: trustValue.optional(),
  'file-system': trustValue.optional(),
  hardware: trustValue.optional(),
  'runtime-opaque': trustValue.optional(),
  'storage-opaque': trustValue.optional(),
  'sourced-data': trustValue.optional(),
}) satisfies z.ZodType<TrustVector>
/** Our own JsonValue (readonly) rather than z.json(), so the payload type matches the claims type. */
const jsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(jsonValueSchema).readonly(),
    z.record(z.string(), jsonValueSchema).readonly(),
  ]),
)
const statusSchema = z.enum(EAR_STATUSES)
const submodSchema = z.object({
  'ear.status': statusSchema,
  'ear.trustworthiness-vector': trustVectorSchema,
  'ear.veraison.annotated-evidence': z.record(z.string(), jsonValueSchema),
  'ear.appraisal-policy-id': z.string().optional(),
  'kb.hardware_backed': z.boolean(),
})

/** The validated payload {@link verifyEar} returns. */
export const earPayloadSchema = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  iat: z.number().int(),
  exp: z.number().int(),
  jti: z.string().min(1),
  eat_nonce: z.string().min(1),
  eat_profile: z.literal(EAR_PROFILE),
  cnf: z.object({ jwk: cnfJwkSchema }).optional(),
  'ear.status': statusSchema,
  'ear.verifier_id': z.object({ developer: z.string(), build: z.string() }),
  submods: z.record(z.string(), submodSchema).refine((s) => Object.keys(s).length === 1, 'exactly one submodule'),
  'kb.hardware_backed': z.boolean(),
  'kb.secrets': z.array(z.string()).optional(),
})
export type EarPayload = z.infer<typeof earPayloadSchema>

/**
 * A verified EAR: the payload plus its single submodule unpacked, so callers need not walk
 * `submods` (the values are the submodule's, not copies from elsewhere).
 */
export type VerifiedEar = EarPayload & {
  readonly evidenceType: string
  readonly submodStatus: EarStatus
  readonly trustVector: TrustVector
  readonly claims: Readonly<Record<string, JsonValue>>
}

/**
 * Issues an EAR JWT: header `{alg, kid, typ: "JWT"}`, `iat` = `now` in whole seconds,
 * `exp` = `iat` + `ttlSeconds`, a random 128-bit `jti`.
 * @throws KeybrokerError `internal` if the input is inconsistent (TTL out of range, trust vector
 *   with unknown names or out-of-range values) or signing fails; these are caller bugs.
 */
export async function issueEar(signer: TokenSigner, input: EarInput): Promise<IssuedEar> {
  const { ttlSeconds } = input
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_EAR_TTL_SECONDS) {
    throw new KeybrokerError('internal', `EAR ttlSeconds must be an integer in 1..${MAX_EAR_TTL_SECONDS}`)
  }
  const nowMs = input.now.getTime()
  if (!Number.isFinite(nowMs)) throw new KeybrokerError('internal', 'invalid clock value')
  for (const [name, value] of Object.entries(input.trustVector)) {
    if (!TRUST_CLAIM_NAMES.has(name) || value === undefined || !isTrustClaimValue(value)) {
      throw new KeybrokerError('internal', `invalid AR4SI trust claim ${name}`)
    }
  }
  const iat = Math.floor(nowMs / 1000)
  const exp = iat + ttlSeconds
  const jti = randomBytes(16).toString('base64url')
  const payload: EarPayload = {
    iss: input.issuer,
    aud: input.audience,
    iat,
    exp,
    jti,
    eat_nonce: input.nonce,
    eat_profile: EAR_PROFILE,
    ...(input.cnfJwk === undefined ? {} : { cnf: { jwk: { ...input.cnfJwk } } }),
    'ear.status': input.status,
    'ear.verifier_id': { developer: EAR_DEVELOPER, build: input.verifierBuild ?? EAR_DEVELOPER },
    submods: {
      [input.evidenceType]: {
        'ear.status': input.status,
        'ear.trustworthiness-vector': { ...input.trustVector },
        'ear.veraison.annotated-evidence': { ...input.claims },
        ...(input.appraisalPolicyId === undefined ? {} : { 'ear.appraisal-policy-id': input.appraisalPolicyId }),
        'kb.hardware_backed': input.hardwareBacked,
      },
    },
    'kb.hardware_backed': input.hardwareBacked,
  }
  if (input.secrets !== undefined) payload['kb.secrets'] = [...input.secrets]
  try {
    return { token: signCompactJwt(signer, payload), jti, expiresAt: new Date(exp * 1000) }
  } catch (cause) {
    throw new KeybrokerError('internal', 'signing the EAR failed', { cause })
  }
}

/** `sha256` / `sha384`: the hash of ES256 / ES384 (RFC 7518 §3.4). */
const JWS_HASH = { ES256: 'sha256', ES384: 'sha384' } as const

/**
 * A compact JWS (RFC 7515) of `payload` as JSON with header `{alg, kid, typ: "JWT"}`, signed
 * with node:crypto's synchronous `sign` and the raw r‖s signature encoding JWS requires
 * (RFC 7518 §3.4, `ieee-p1363`). The same bytes jose's `SignJWT` produces, without its
 * WebCrypto round trip through the thread pool (~8 % of the service's CPU per attestation went
 * to it and the thumbprint); tokens are verified with jose (`verifyEar`) and other libraries in
 * the tests.
 */
function signCompactJwt(signer: TokenSigner, payload: EarPayload): string {
  const header = Buffer.from(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })).toString('base64url')
  const signingInput = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  const signature = sign(JWS_HASH[signer.alg], Buffer.from(signingInput, 'ascii'), { key: signer.privateKey, dsaEncoding: 'ieee-p1363' })
  return `${signingInput}.${signature.toString('base64url')}`
}

export interface EarVerifyOptions {
  readonly issuer: string
  readonly audience: string
  readonly now: Date
}

/**
 * Verifies an EAR JWT issued by {@link issueEar} with one of `keys.verificationKeys` (chosen by
 * `kid`; the header `alg` must match that key), at time `now` with no clock tolerance:
 * signature, `typ: JWT`, `iss`, `aud`, `exp` (and `nbf` if present), then the whole payload
 * against {@link earPayloadSchema}.
 * @returns the validated payload (unknown members stripped) with its one submodule unpacked.
 * @throws KeybrokerError `token-invalid` with a coarse detail for any failure (malformed, unknown
 *   kid, `alg: none` or other algorithms, bad signature, expired, wrong issuer or audience,
 *   payload not an EAR); the precise reason is in `cause`.
 */
export async function verifyEar(token: string, keys: KeySet, options: EarVerifyOptions): Promise<VerifiedEar> {
  let payload: unknown
  try {
    const header = decodeProtectedHeader(token)
    const key = keys.verificationKeys.find((k) => k.kid === header.kid)
    if (key === undefined) throw new Error('unknown kid')
    if (header.alg !== key.alg) throw new Error('alg does not match the key')
    const result = await jwtVerify(token, key.key, {
      algorithms: [...TOKEN_ALGS],
      issuer: options.issuer,
      audience: options.audience,
      currentDate: options.now,
      typ: 'JWT',
      requiredClaims: ['iss', 'aud', 'iat', 'exp', 'jti', 'eat_nonce'],
    })
    payload = result.payload
  } catch (cause) {
    throw new KeybrokerError('token-invalid', 'token is invalid or expired', { cause })
  }
  const parsed = earPayloadSchema.safeParse(payload)
  if (!parsed.success) throw new KeybrokerError('token-invalid', 'token is not a keybroker EAR', { cause: parsed.error })
  const entries = Object.entries(parsed.data.submods)
  const [submod] = entries
  if (submod === undefined || entries.length !== 1) throw new KeybrokerError('token-invalid', 'token is not a keybroker EAR')
  const [evidenceType, appraisal] = submod
  return {
    ...parsed.data,
    evidenceType,
    submodStatus: appraisal['ear.status'],
    trustVector: appraisal['ear.trustworthiness-vector'],
    claims: appraisal['ear.veraison.annotated-evidence'],
  }
}
