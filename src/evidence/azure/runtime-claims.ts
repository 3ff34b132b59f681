/**
 * The runtime claims JSON of an HCL report: `keys` (JWKs; `HCLAkPub` is the vTPM attestation key,
 * `HCLEkPub` its endorsement key), `vm-configuration` (secure boot, TPM, console, vmUniqueId) and
 * `user-data` (hex, 64 bytes, set by the guest when it requested the report).
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { z } from 'zod'
import { EvidenceError } from '../../errors.js'
import type { JsonValue } from '../types.js'
import { checkAkKeyType } from '../tpm/ak-key.js'

const Jwk = z.object({ kid: z.string().max(64), kty: z.string().max(8), n: z.string().max(2048).optional(), e: z.string().max(16).optional(), crv: z.string().max(16).optional(), x: z.string().max(200).optional(), y: z.string().max(200).optional() }).passthrough()

const RuntimeClaimsSchema = z
  .object({
    keys: z.array(Jwk).max(16),
    'vm-configuration': z.record(z.string(), z.union([z.string(), z.boolean(), z.number(), z.null()])).optional(),
    'user-data': z.string().max(256).optional(),
  })
  .passthrough()

export interface RuntimeClaims {
  readonly akPublicKey: KeyObject
  readonly vmConfiguration: Readonly<Record<string, string | boolean | number | null>>
  readonly userData: string | undefined
}

/** @throws `evidence-malformed` (not JSON, wrong shape, no usable HCLAkPub), `evidence-unsupported` (AK key type) */
export function parseRuntimeClaims(bytes: Uint8Array): RuntimeClaims {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', 'hclReport: runtime data is not JSON', { cause })
  }
  const parsed = RuntimeClaimsSchema.safeParse(json)
  if (!parsed.success) throw new EvidenceError('evidence-malformed', 'hclReport: runtime data has the wrong shape')
  const ak = parsed.data.keys.filter((k) => k.kid === 'HCLAkPub')
  if (ak.length !== 1 || ak[0] === undefined) throw new EvidenceError('evidence-malformed', 'hclReport: runtime data needs exactly one HCLAkPub key')
  const { kty, n, e, crv, x, y } = ak[0]
  let akPublicKey: KeyObject
  try {
    akPublicKey = createPublicKey({ key: kty === 'RSA' ? { kty, n: n ?? '', e: e ?? '' } : { kty, crv: crv ?? '', x: x ?? '', y: y ?? '' }, format: 'jwk' })
  } catch (cause) {
    throw new EvidenceError('evidence-malformed', 'hclReport: HCLAkPub is not a public key', { cause })
  }
  checkAkKeyType(akPublicKey)
  return { akPublicKey, vmConfiguration: parsed.data['vm-configuration'] ?? {}, userData: parsed.data['user-data'] }
}

export function runtimeClaimsJson(c: RuntimeClaims): { [k: string]: JsonValue } {
  return { vmConfiguration: { ...c.vmConfiguration }, ...(c.userData === undefined ? {} : { userData: c.userData.toLowerCase() }) }
}
