/**
 * The guest owner's side of SEV LAUNCH_START (SEV API spec 55766, §6.2; the key schedule of
 * §2 "Key Management"), as virtee/sev@9cf2adbffa209cc5becf7ff89ffdf624e7278ced
 * `src/session/mod.rs` (`Session::start_pdh`, `session`) and `src/session/key.rs` implement it and
 * `sevctl session` (virtee/sevctl@8b47f3a6b980525f4c1e9804661abbdda459e137 `src/session.rs`)
 * writes it:
 *
 * 1. a fresh guest-owner Diffie-Hellman key (GODH) on the PDH's curve; Z = ECDH(GODH, PDH), the
 *    shared X coordinate as OpenSSL's `derive` returns it (big-endian);
 * 2. master = KDF(Z, 16, "sev-master-secret", NONCE); KEK = KDF(master, 16, "sev-kek", "");
 *    KIK = KDF(master, 16, "sev-kik", "");
 * 3. fresh TEK and TIK (16 bytes each);
 * 4. WRAP_TK = AES-128-CTR(KEK, WRAP_IV, TEK ‖ TIK); WRAP_MAC = HMAC-SHA-256(KIK, WRAP_TK);
 * 5. POLICY_MAC = HMAC-SHA-256(TIK, POLICY as u32 LE).
 *
 * The session buffer is NONCE ‖ WRAP_TK ‖ WRAP_IV ‖ WRAP_MAC ‖ POLICY_MAC (layout.ts `SESSION`);
 * sevctl writes it and the GODH certificate base64-encoded (`<name>_session.b64`,
 * `<name>_godh.b64`), which is what QEMU's `session-file` / `dh-cert-file` and aleph-vm's
 * `/confidential/initialize` take.
 */
import { createCipheriv, createHmac, diffieHellman, type KeyObject } from 'node:crypto'
import { KeybrokerError } from '../errors.js'
import { fromBase64 } from '../evidence/reader.js'
import { ALGORITHM, KEY_USAGE, USAGE_INVALID } from './certificate.js'
import type { VerifiedPlatformChain } from './chain.js'
import { ECC_PUBKEY, PLATFORM_CERT, PLATFORM_CERT_SIZE, SESSION, SESSION_SIZE, SIGNATURE_SLOT } from './layout.js'
import { policyBytes } from './policy.js'

export const SEV_KEY_BYTES = 16

/**
 * NIST SP 800-108 §5.1 KDF in counter mode with HMAC-SHA-256 as the PRF, encoded as virtee/sev
 * `Key::derive` does: K(i) = HMAC(key, i ‖ label ‖ 0x00 ‖ context ‖ L), with the counter i and
 * the output length L (in bits) as u32 little-endian.
 */
export function sevKdf(key: Uint8Array, lengthBytes: number, label: string, context: Uint8Array): Uint8Array {
  const blocks = Math.ceil(lengthBytes / 32)
  const le32 = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n)
    return b
  }
  const out = Buffer.alloc(blocks * 32)
  for (let i = 1; i <= blocks; i++) {
    createHmac('sha256', key)
      .update(le32(i))
      .update(label, 'ascii')
      .update(new Uint8Array([0]))
      .update(context)
      .update(le32(lengthBytes * 8))
      .digest()
      .copy(out, (i - 1) * 32)
  }
  return new Uint8Array(out.subarray(0, lengthBytes))
}

/** KEK and KIK of a session (steps 2). */
export function deriveSessionKeys(z: Uint8Array, nonce: Uint8Array): { readonly kek: Uint8Array; readonly kik: Uint8Array } {
  const master = sevKdf(z, 16, 'sev-master-secret', nonce)
  try {
    return { kek: sevKdf(master, 16, 'sev-kek', new Uint8Array(0)), kik: sevKdf(master, 16, 'sev-kik', new Uint8Array(0)) }
  } finally {
    master.fill(0)
  }
}

export function hmacSha256(key: Uint8Array, ...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHmac('sha256', key)
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

/** AES-128-CTR with the whole 16-byte IV as the initial counter block (OpenSSL's, the PSP's). */
export function aes128Ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-128-ctr', key, iv)
  return new Uint8Array(Buffer.concat([cipher.update(data), cipher.final()]))
}

/** The fresh values of one session: TEK, TIK, NONCE and WRAP_IV (16 bytes each). */
export interface SessionSecrets {
  readonly tek: Uint8Array
  readonly tik: Uint8Array
  readonly nonce: Uint8Array
  readonly wrapIv: Uint8Array
}

function checkSecrets(s: SessionSecrets): void {
  for (const [name, v] of Object.entries(s)) {
    if (!(v instanceof Uint8Array) || v.byteLength !== SEV_KEY_BYTES) throw new KeybrokerError('internal', `session ${name}: ${SEV_KEY_BYTES} bytes expected`)
  }
}

/** The LAUNCH_START session buffer for shared secret `z` (steps 2, 4, 5). */
export function sessionBuffer(z: Uint8Array, secrets: SessionSecrets, policy: number): Uint8Array {
  checkSecrets(secrets)
  const { kek, kik } = deriveSessionKeys(z, secrets.nonce)
  try {
    const wrapTk = aes128Ctr(kek, secrets.wrapIv, new Uint8Array(Buffer.concat([secrets.tek, secrets.tik])))
    const out = new Uint8Array(SESSION_SIZE)
    out.set(secrets.nonce, SESSION.nonce.at)
    out.set(wrapTk, SESSION.wrapTk.at)
    out.set(secrets.wrapIv, SESSION.wrapIv.at)
    out.set(hmacSha256(kik, wrapTk), SESSION.wrapMac.at)
    out.set(hmacSha256(secrets.tik, policyBytes(policy)), SESSION.policyMac.at)
    return out
  } finally {
    kek.fill(0)
    kik.fill(0)
  }
}

/**
 * The GODH certificate for an EC public key: a version-1 platform certificate with usage PDH,
 * algorithm ECDH-SHA256, API version 0.0, the key's coordinates little-endian in 72-byte fields,
 * and both signature slots unused, as virtee/sev `sev::Certificate::generate(Usage::PDH)` builds it.
 */
export function encodeGodhCertificate(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' })
  if (jwk.crv !== 'P-384' || jwk.x === undefined || jwk.y === undefined) throw new KeybrokerError('internal', 'GODH key must be P-384')
  const out = new Uint8Array(PLATFORM_CERT_SIZE)
  const v = new DataView(out.buffer)
  v.setUint32(PLATFORM_CERT.version.at, 1, true)
  v.setUint32(PLATFORM_CERT.pubKeyUsage.at, KEY_USAGE.PDH, true)
  v.setUint32(PLATFORM_CERT.pubKeyAlgo.at, ALGORITHM.ECDH_SHA256, true)
  const key = PLATFORM_CERT.pubKey.at
  v.setUint32(key + ECC_PUBKEY.curve.at, 2, true)
  out.set(fromBase64(jwk.x, 'x').reverse(), key + ECC_PUBKEY.qx.at)
  out.set(fromBase64(jwk.y, 'y').reverse(), key + ECC_PUBKEY.qy.at)
  for (const slot of [PLATFORM_CERT.sig1.at, PLATFORM_CERT.sig2.at]) v.setUint32(slot + SIGNATURE_SLOT.usage.at, USAGE_INVALID, true)
  return out
}

export interface LaunchSession {
  /** The GODH certificate (0x824 bytes). */
  readonly godh: Uint8Array
  /** The LAUNCH_START session buffer (0x80 bytes). */
  readonly session: Uint8Array
}

/**
 * Opens a launch session with the PSP behind a verified chain's PDH. `godhPrivateKey` is a fresh
 * P-384 key (the caller generates it and forgets it after this call; nothing here is random).
 * @throws KeybrokerError `evidence-unsupported` when the PDH is not a P-384 ECDH key
 */
export function createLaunchSession(chain: VerifiedPlatformChain, godhPrivateKey: KeyObject, secrets: SessionSecrets, policy: number): LaunchSession {
  if (chain.pdh.key.kind !== 'ec' || chain.pdh.key.curve !== 'P-384') {
    throw new KeybrokerError('evidence-unsupported', 'PDH: only P-384 ECDH keys are supported (virtee/sev generates the GODH on P-384)')
  }
  const z = new Uint8Array(diffieHellman({ privateKey: godhPrivateKey, publicKey: chain.pdh.publicKey }))
  try {
    return { godh: encodeGodhCertificate(godhPrivateKey), session: sessionBuffer(z, secrets, policy) }
  } finally {
    z.fill(0)
  }
}
