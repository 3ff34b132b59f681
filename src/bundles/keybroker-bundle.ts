import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose'
import { z } from 'zod'
import { KeybrokerError } from '../errors.js'
import type { JsonValue } from '../evidence/types.js'
import type { BundleSet } from './bundle-set.js'
import { FINGERPRINT, parseSignerKey, type SignerKey } from './signer-key.js'

/**
 * keybroker's signed golden-measurement bundle: a JSON document of reference-value sets,
 * signed as a compact JWS (RFC 7515) with ES256, ES384, EdDSA (Ed25519) or PS256. The
 * protected header is `{"alg": …, "kid": "<signer fingerprint>", "typ": "keybroker-bundle+jws"}`;
 * the fingerprint is the hex SHA-256 of the signer's SPKI (src/bundles/signer-key.ts).
 *
 * ```json
 * {"format": "keybroker-bundle/v1", "name": "web-frontend", "version": 7,
 *  "issuedAt": "2026-05-01T00:00:00Z", "notBefore": "…", "expiresAt": "2027-05-01T00:00:00Z",
 *  "referenceValues": [{"name": "web-v3", "evidenceType": "snp", "allowDebug": false,
 *                       "expect": [{"claim": "tcb.snp", "atLeast": 22}],
 *                       "values": [{"measurement": "<hex>", "notAfter": "…"}]}]}
 * ```
 *
 * `name` + `version` make rollback detectable: a bundle of a name is only imported when its
 * version is higher than the last one imported (the same bytes again are a no-op).
 */
export const BUNDLE_FORMAT = 'keybroker-bundle/v1'
export const BUNDLE_TYP = 'keybroker-bundle+jws'
export const BUNDLE_ALGS = ['ES256', 'ES384', 'EdDSA', 'PS256'] as const
export const MAX_BUNDLE_BYTES = 512 * 1024

const NAME = z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)
const TIME = z.iso.datetime({ offset: true })
const JSON_VALUE: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(JSON_VALUE), z.record(z.string(), JSON_VALUE)]),
)
const EXPECT = z.array(JSON_VALUE).max(512)

export const bundlePayloadSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    name: NAME,
    version: z.number().int().min(1).max(2_147_483_647),
    issuedAt: TIME,
    notBefore: TIME.optional(),
    expiresAt: TIME,
    description: z.string().max(1000).optional(),
    referenceValues: z
      .array(
        z
          .object({
            name: NAME,
            evidenceType: z.string().min(1).max(64).optional(),
            allowDebug: z.boolean().default(false),
            expect: EXPECT.default([]),
            values: z
              .array(
                z
                  .object({
                    measurement: z.string().regex(/^(?:[0-9a-fA-F]{2}){1,128}$/),
                    notBefore: TIME.optional(),
                    notAfter: TIME.optional(),
                    expect: EXPECT.optional(),
                  })
                  .strict(),
              )
              .max(1000),
          })
          .strict(),
      )
      .min(1)
      .max(100),
  })
  .strict()
export type BundlePayload = z.infer<typeof bundlePayloadSchema>

export interface VerifiedBundle {
  readonly payload: BundlePayload
  readonly signer: SignerKey
  /** SHA-256 of the compact JWS (ASCII), lowercase hex: the bundle's identity. */
  readonly digest: string
  readonly sets: readonly BundleSet[]
}

/**
 * Checks the payload shape before signing (the same schema the verifier applies) and signs it
 * with `privateKey`; the algorithm follows from the key. Returns the compact JWS.
 * @throws KeybrokerError `bundle-malformed` for a payload that would not import;
 *   `bad-request` for an unsupported key.
 */
export async function signBundle(payload: unknown, privateKey: KeyObject): Promise<string> {
  const parsed = bundlePayloadSchema.safeParse(payload)
  if (!parsed.success) throw new KeybrokerError('bundle-malformed', `bundle: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  if (privateKey.type !== 'private') throw new KeybrokerError('bad-request', 'signing needs a private key')
  const signer = parseSignerKey(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString(), 'keybroker')
  return new CompactSign(new TextEncoder().encode(JSON.stringify(parsed.data)))
    .setProtectedHeader({ alg: signer.jwsAlg, kid: signer.fingerprint, typ: BUNDLE_TYP })
    .sign(privateKey)
}

/** The `kid` (signer fingerprint) of a compact JWS, before anything is verified. */
export function bundleKid(jws: string): string {
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(jws)
  } catch (cause) {
    throw new KeybrokerError('bundle-malformed', 'bundle: not a compact JWS', { cause })
  }
  if (typeof header.kid !== 'string' || !FINGERPRINT.test(header.kid)) {
    throw new KeybrokerError('bundle-malformed', 'bundle: the JWS header needs kid = the signer fingerprint (64 hex digits)')
  }
  if (header.typ !== BUNDLE_TYP) throw new KeybrokerError('bundle-malformed', `bundle: the JWS header needs typ ${BUNDLE_TYP}`)
  return header.kid
}

/**
 * Verifies a bundle: signer known (by `kid`), signature with the signer's one algorithm,
 * payload shape, validity at `now`. Rollback is the caller's check (it needs the database).
 *
 * @throws KeybrokerError `bundle-malformed`, `bundle-signer-unknown`, `bundle-signature-invalid`,
 *   `bundle-expired`.
 */
export async function verifyBundle(jws: string, findSigner: (fingerprint: string) => SignerKey | undefined, now: Date): Promise<VerifiedBundle> {
  if (jws.length > MAX_BUNDLE_BYTES || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(jws)) {
    throw new KeybrokerError('bundle-malformed', 'bundle: a compact JWS (three base64url parts)')
  }
  const kid = bundleKid(jws)
  const signer = findSigner(kid)
  if (signer === undefined) throw new KeybrokerError('bundle-signer-unknown', 'bundle: signed by a key that is not a registered signer')
  let payloadBytes: Uint8Array
  try {
    payloadBytes = (await compactVerify(jws, signer.key, { algorithms: [signer.jwsAlg] })).payload
  } catch (cause) {
    throw new KeybrokerError('bundle-signature-invalid', 'bundle: the signature does not verify with the registered signer key', { cause })
  }
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payloadBytes))
  } catch (cause) {
    throw new KeybrokerError('bundle-malformed', 'bundle: the payload is not UTF-8 JSON', { cause })
  }
  const parsed = bundlePayloadSchema.safeParse(json)
  if (!parsed.success) {
    throw new KeybrokerError('bundle-malformed', `bundle: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`)
  }
  const payload = parsed.data
  const t = now.getTime()
  if (payload.notBefore !== undefined && t < Date.parse(payload.notBefore)) throw new KeybrokerError('bundle-expired', 'bundle: not valid yet (notBefore)')
  if (t > Date.parse(payload.expiresAt)) throw new KeybrokerError('bundle-expired', 'bundle: expired (expiresAt)')
  const names = new Set<string>()
  for (const set of payload.referenceValues) {
    if (names.has(set.name)) throw new KeybrokerError('bundle-malformed', `bundle: set ${set.name} appears twice`)
    names.add(set.name)
  }
  return {
    payload,
    signer,
    digest: createHash('sha256').update(jws, 'ascii').digest('hex'),
    sets: payload.referenceValues.map((s) => ({
      name: s.name,
      evidenceType: s.evidenceType,
      allowDebug: s.allowDebug,
      expect: s.expect,
      values: s.values.map((v) => ({ measurement: v.measurement.toLowerCase(), notBefore: v.notBefore, notAfter: v.notAfter, expect: v.expect })),
    })),
  }
}
