/**
 * aleph-vm's operator authentication (aleph-im/aleph-vm@6da21a3aafb51de0b7f5a92078ca4a68e6bf11b2
 * `src/aleph/vm/orchestrator/views/authentication.py`, `doc/operator_auth.md`), as the aleph SDK
 * sends it (aleph-im/aleph-sdk-python@df8ed9b1df093de7c9814c26b3c3ef8434b635c9
 * `src/aleph/sdk/client/vm_client.py`, `utils.py` `sign_vm_control_payload`):
 *
 * - `X-SignedPubKey`: the wallet's delegation to an ES256 (P-256) key, JSON
 *   `{"sender", "payload": hex(JSON {"pubkey": JWK, "alg": "ECDSA", "domain", "address",
 *   "expires", "chain"}), "signature": "0x…", "content": {"domain"}}`. The CRN checks that
 *   `expires` is in the future and that the wallet of `address` signed the payload: for ETH an
 *   EIP-191 `personal_sign` of the payload bytes, for SOL an Ed25519 signature of the payload's
 *   hex text.
 * - `X-SignedOperation`: `{"payload": hex(JSON {"time", "method", "path", "domain"}),
 *   "signature": hex(ES256 R ‖ S over the payload bytes)}` by the delegated key, per request; the
 *   CRN wants the time within two minutes, its own domain, the request's method and path.
 *
 * keybroker never holds the wallet key: the user signs the delegation once with their wallet
 * (`keybroker aleph delegation`), and gives keybroker the ES256 key and the signed delegation.
 */
import { createPublicKey, sign, type KeyObject } from 'node:crypto'
import { z } from 'zod'
import { KeybrokerError } from '../../errors.js'

export type WalletChain = 'ETH' | 'SOL'

/** The payload the wallet signs: what the SDK's `_generate_pubkey_payload` builds. */
export interface DelegationPayload {
  readonly pubkey: Readonly<Record<string, string>>
  readonly alg: 'ECDSA'
  readonly domain: string
  readonly address: string
  readonly expires: string
  readonly chain: WalletChain
}

/** The public JWK of an ES256 key, as the SDK's jwcrypto `export_public()` gives it. */
export function publicJwkOf(key: KeyObject): Record<string, string> {
  const jwk = createPublicKey(key).export({ format: 'jwk' })
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.x === undefined || jwk.y === undefined) {
    throw new KeybrokerError('bad-request', 'the operator key must be an EC P-256 (ES256) key')
  }
  return { crv: 'P-256', kty: 'EC', x: jwk.x, y: jwk.y }
}

/** The payload hex the wallet must sign to delegate to `key`. */
export function delegationPayloadHex(input: { readonly key: KeyObject; readonly address: string; readonly domain: string; readonly chain: WalletChain; readonly expires: Date }): string {
  const payload: DelegationPayload = {
    pubkey: publicJwkOf(input.key),
    alg: 'ECDSA',
    domain: input.domain,
    address: input.address,
    expires: input.expires.toISOString(),
    chain: input.chain,
  }
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('hex')
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/

const PayloadSchema = z.object({
  pubkey: z.record(z.string(), z.unknown()),
  domain: z.string().max(253),
  address: z.string().min(1).max(128),
  expires: z.string().max(64),
  // aleph-vm's SignedPubKeyPayload: `chain: Chain = Chain.ETH`
  chain: z.enum(['ETH', 'SOL']).default('ETH'),
})

function payloadOf(hex: string): DelegationPayload {
  if (!HEX.test(hex)) throw new KeybrokerError('bad-request', 'delegation payload: not hex')
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(hex, 'hex').toString('utf8'))
  } catch (cause) {
    throw new KeybrokerError('bad-request', 'delegation payload: not JSON', { cause })
  }
  const r = PayloadSchema.safeParse(parsed)
  if (!r.success) throw new KeybrokerError('bad-request', 'delegation payload: pubkey, address, domain and expires are required; chain is ETH or SOL')
  const pubkey = Object.fromEntries(Object.entries(r.data.pubkey).filter((e): e is [string, string] => typeof e[1] === 'string'))
  return { ...r.data, pubkey, alg: 'ECDSA' }
}

/** The `X-SignedPubKey` header value for a payload and the wallet's signature of it. */
export function delegationHeader(payloadHex: string, signature: string): string {
  const payload = payloadOf(payloadHex)
  const sig = signature.startsWith('0x') ? signature : `0x${signature}`
  if (!HEX.test(sig.slice(2))) throw new KeybrokerError('bad-request', 'wallet signature: not hex')
  return JSON.stringify({ sender: payload.address, payload: payloadHex.toLowerCase(), signature: sig.toLowerCase(), content: { domain: payload.domain } })
}

/** A delegation as the CRN client uses it: the header text and what it delegates. */
export interface Delegation {
  readonly header: string
  readonly payload: DelegationPayload
}

/**
 * Reads a delegation (the `X-SignedPubKey` JSON) and checks what keybroker can check: it
 * delegates to `key` and has not expired at `now`. The wallet signature is the CRN's to check.
 * @throws KeybrokerError `bad-request`
 */
export function parseDelegation(text: string, key: KeyObject, now: Date): Delegation {
  let outer: unknown
  try {
    outer = JSON.parse(text)
  } catch (cause) {
    throw new KeybrokerError('bad-request', 'delegation: not JSON (the X-SignedPubKey header value)', { cause })
  }
  const header = HeaderSchema.safeParse(outer)
  if (!header.success) throw new KeybrokerError('bad-request', 'delegation: a JSON object with payload and signature is expected')
  const payload = payloadOf(header.data.payload)
  const mine = publicJwkOf(key)
  if (payload.pubkey['x'] !== mine['x'] || payload.pubkey['y'] !== mine['y'] || payload.pubkey['crv'] !== 'P-256') {
    throw new KeybrokerError('bad-request', 'delegation: it delegates to another key than --key')
  }
  // aleph-vm reads `expires` with datetime.fromisoformat after replacing Z by +00:00.
  const expires = Date.parse(/(?:Z|[+-]\d\d:\d\d)$/.test(payload.expires) ? payload.expires : `${payload.expires}Z`)
  if (!Number.isFinite(expires) || expires <= now.getTime()) throw new KeybrokerError('bad-request', `delegation: expired at ${payload.expires}; have the wallet sign a new one`)
  return { header: JSON.stringify(header.data), payload }
}

const HeaderSchema = z.object({ payload: z.string().max(8192), signature: z.string().max(1024) }).passthrough()

/** The `X-SignedOperation` header value for one request, signed with the delegated key (ES256). */
export function signedOperationHeader(key: KeyObject, operation: { readonly method: 'GET' | 'POST'; readonly path: string; readonly domain: string; readonly time: Date }): string {
  const payload = Buffer.from(JSON.stringify({ time: operation.time.toISOString(), method: operation.method, path: operation.path, domain: operation.domain }), 'utf8')
  // JWA ES256 (RFC 7518 §3.4): R ‖ S, 32 bytes each, what jwcrypto's JWA.signing_alg("ES256") makes and checks.
  const signature = sign('sha256', payload, { key, dsaEncoding: 'ieee-p1363' })
  return JSON.stringify({ payload: payload.toString('hex'), signature: signature.toString('hex') })
}
