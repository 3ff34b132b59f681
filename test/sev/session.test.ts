import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  PLATFORM_CERT_SIZE,
  SESSION,
  SESSION_SIZE,
  createLaunchSession,
  encodeGodhCertificate,
  hmacSha256,
  parsePlatformCertificate,
  parsePlatformChain,
  sessionBuffer,
  sevKdf,
  verifyPlatformChain,
} from '../../src/sev/index.js'
import { FakePsp, syntheticSev } from '../generators/sev.js'

const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/**
 * test/vectors/sev/sev-launch-vectors.virtee.json, `launch_start_session`: the expected values are
 * typed in from virtee/sev@9cf2adbffa209cc5becf7ff89ffdf624e7278ced src/session/mod.rs
 * (`mod initialized`, `fn session`), where `Session::session` runs with TEK = TIK = 16 zero
 * bytes, NONCE = WRAP_IV = zero, the shared secret Z = 16 zero bytes (`Key::zeroed(16)`) and the
 * default policy 0. They were recomputed with Python's hmac/cryptography when the vector was
 * made. The master-secret and MAC vectors are virtee/sev src/session/key.rs `fn derive`, `fn mac`.
 */
const virtee = JSON.parse(readFileSync(new URL('../vectors/sev/sev-launch-vectors.virtee.json', import.meta.url), 'utf8')) as {
  launch_start_session: Record<string, string | number>
}

describe('LAUNCH_START session derivation (virtee/sev vectors)', () => {
  const v = virtee.launch_start_session
  const zero16 = new Uint8Array(16)

  it('KDF: the master secret of Z = 0, NONCE = 0 (virtee/sev key.rs `derive`)', () => {
    expect(toHex(sevKdf(zero16, 16, 'sev-master-secret', zero16))).toBe('ab4d269fcc62bedb4511d56c386ce706')
  })

  it('MAC: HMAC-SHA-256 of four zero bytes under a zero TIK (virtee/sev key.rs `mac`)', () => {
    expect(toHex(hmacSha256(zero16, new Uint8Array(4)))).toBe('aa7855e13839dd767cd5da7c1ff5036540c9264b7a803029315e55375287b4af')
  })

  it('wrap_tk, wrap_mac and policy_mac byte for byte', () => {
    const blob = sessionBuffer(
      hex(v['z_shared_secret'] as string),
      { tek: hex(v['tek'] as string), tik: hex(v['tik'] as string), nonce: hex(v['nonce'] as string), wrapIv: hex(v['wrap_iv'] as string) },
      v['policy'] as number,
    )
    const field = (f: { at: number; size: number }) => toHex(blob.subarray(f.at, f.at + f.size))
    expect(blob.byteLength).toBe(SESSION_SIZE)
    expect(field(SESSION.nonce)).toBe(v['nonce'])
    expect(field(SESSION.wrapIv)).toBe(v['wrap_iv'])
    expect(field(SESSION.wrapTk)).toBe(v['expected_wrap_tk'])
    expect(field(SESSION.wrapMac)).toBe(v['expected_wrap_mac'])
    expect(field(SESSION.policyMac)).toBe(v['expected_policy_mac'])
  })

  it('a different policy or TIK changes POLICY_MAC, a different TEK changes WRAP_TK (the vector is not a constant)', () => {
    const base = { tek: zero16, tik: zero16, nonce: zero16, wrapIv: zero16 }
    const a = sessionBuffer(zero16, base, 0)
    expect(toHex(sessionBuffer(zero16, base, 1).subarray(SESSION.policyMac.at))).not.toBe(toHex(a.subarray(SESSION.policyMac.at)))
    const otherTek = sessionBuffer(zero16, { ...base, tek: new Uint8Array(16).fill(1) }, 0)
    expect(toHex(otherTek.subarray(SESSION.wrapTk.at, SESSION.wrapIv.at))).not.toBe(toHex(a.subarray(SESSION.wrapTk.at, SESSION.wrapIv.at)))
  })
})

describe('GODH certificate and a whole session with a software PSP', () => {
  it('the GODH is a 0x824-byte PDH-usage ECDH certificate of the key, with unused signature slots', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
    const godh = encodeGodhCertificate(privateKey)
    expect(godh.byteLength).toBe(PLATFORM_CERT_SIZE)
    const parsed = parsePlatformCertificate(godh, 'GODH')
    expect(parsed.usage).toBe('PDH')
    expect(parsed.algorithm).toBe('ECDH_SHA256')
    expect(parsed.signatures).toEqual([])
    expect(parsed.publicKey.equals(publicKey)).toBe(true)
  })

  it('the PSP (holding the PDH private key) unwraps exactly our TEK and TIK and accepts POLICY_MAC', () => {
    const sev = syntheticSev()
    const chain = verifyPlatformChain(parsePlatformChain(sev.chain), [sev.root])
    const secrets = { tek: new Uint8Array(randomBytes(16)), tik: new Uint8Array(randomBytes(16)), nonce: new Uint8Array(randomBytes(16)), wrapIv: new Uint8Array(randomBytes(16)) }
    const godhKey = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey
    const { godh, session } = createLaunchSession(chain, godhKey, secrets, 0x1)
    const psp = new FakePsp(sev.keys.pdh.privateKey)
    const guest = psp.launchStart(godh, session, 0x1)
    expect(toHex(guest.tek)).toBe(toHex(secrets.tek))
    expect(toHex(guest.tik)).toBe(toHex(secrets.tik))
    // The PSP refuses the same session under another policy (the host cannot change it).
    expect(() => psp.launchStart(godh, session, 0x0)).toThrow(/POLICY_MAC/)
    // …and another PSP (another PDH) cannot unwrap it.
    expect(() => new FakePsp(syntheticSev({ ca: sev }).keys.pdh.privateKey).launchStart(godh, session, 0x1)).toThrow(/WRAP_MAC/)
  })
})
