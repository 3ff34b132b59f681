import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { compactDecrypt, decodeProtectedHeader } from 'jose'
import { describe, expect, it } from 'vitest'
import { parseRecipientKey, sealToKey, SecretValue } from '../../src/secrets/index.js'
import { requireWhen } from '../support/required.js'

interface TestKey {
  readonly name: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  readonly alg: string
}

const KEYS: readonly TestKey[] = [
  { name: 'P-256', ...generateKeyPairSync('ec', { namedCurve: 'P-256' }), alg: 'ECDH-ES+A256KW' },
  { name: 'P-384', ...generateKeyPairSync('ec', { namedCurve: 'P-384' }), alg: 'ECDH-ES+A256KW' },
  { name: 'RSA-2048', ...generateKeyPairSync('rsa', { modulusLength: 2048 }), alg: 'RSA-OAEP-256' },
  { name: 'RSA-3072', ...generateKeyPairSync('rsa', { modulusLength: 3072 }), alg: 'RSA-OAEP-256' },
]

const PLAINTEXT = new Uint8Array(Buffer.from('correct horse battery staple \u0000\u00ff', 'latin1'))

/** Debian's python3 (where apt installs python3-jwcrypto, see .ci/run), else the one on PATH. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'

function python(args: readonly string[], input: string): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync(PYTHON, args, { input, encoding: 'utf8', timeout: 30_000 })
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') }
}

const HAS_JWCRYPTO = requireWhen('KEYBROKER_TEST_REQUIRE_INTEROP', `python3 jwcrypto (${PYTHON})`, python(['-c', 'import jwcrypto'], '').ok)
const HAS_PYCA = requireWhen('KEYBROKER_TEST_REQUIRE_INTEROP', `python3 cryptography (${PYTHON})`, python(['-c', 'import cryptography'], '').ok)

/**
 * An independent decryptor written against RFC 7516/7518 with pyca/cryptography primitives:
 * ECDH-ES Concat KDF (RFC 7518 §4.6.2) + AES key unwrap (RFC 3394), or RSA-OAEP-SHA-256, then
 * AES-256-GCM with the protected header as AAD (RFC 7516 §5.2).
 */
const PYCA_DECRYPT = String.raw`
import sys, json, base64, struct
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
def b64(s): return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))
req = json.load(sys.stdin)
h, ek, iv, ct, tag = req['jwe'].split('.')
header = json.loads(b64(h))
key = serialization.load_pem_private_key(req['pem'].encode(), None)
assert header['enc'] == 'A256GCM'
if header['alg'] == 'ECDH-ES+A256KW':
    epk = header['epk']
    curve = {'P-256': ec.SECP256R1(), 'P-384': ec.SECP384R1()}[epk['crv']]
    pub = ec.EllipticCurvePublicNumbers(int.from_bytes(b64(epk['x']), 'big'), int.from_bytes(b64(epk['y']), 'big'), curve).public_key()
    z = key.exchange(ec.ECDH(), pub)
    alg = header['alg'].encode()
    apu = b64(header.get('apu', '')); apv = b64(header.get('apv', ''))
    other = struct.pack('>I', len(alg)) + alg + struct.pack('>I', len(apu)) + apu + struct.pack('>I', len(apv)) + apv + struct.pack('>I', 256)
    kek = ConcatKDFHash(hashes.SHA256(), 32, other).derive(z)
    cek = aes_key_unwrap(kek, b64(ek))
elif header['alg'] == 'RSA-OAEP-256':
    cek = key.decrypt(b64(ek), padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
else:
    raise SystemExit('unexpected alg')
print(AESGCM(cek).decrypt(b64(iv), b64(ct) + b64(tag), h.encode('ascii')).hex())
`

const JWCRYPTO_DECRYPT = String.raw`
import sys, json
from jwcrypto import jwk, jwe
req = json.load(sys.stdin)
key = jwk.JWK.from_pem(req['pem'].encode())
token = jwe.JWE()
token.deserialize(req['jwe'], key=key)
print(token.payload.hex())
`

describe('sealToKey', () => {
  for (const k of KEYS) {
    describe(k.name, () => {
      const recipient = parseRecipientKey(k.publicKey.export({ format: 'jwk' }))
      const pem = String(k.privateKey.export({ type: 'pkcs8', format: 'pem' }))

      it('round-trips through jose compactDecrypt with the expected header', async () => {
        const jwe = await sealToKey(recipient, PLAINTEXT, { kid: 'client-key', cty: 'application/octet-stream', 'kb.name': 'db-password', 'kb.version': 3 })
        const { plaintext, protectedHeader } = await compactDecrypt(jwe, k.privateKey, {
          keyManagementAlgorithms: [k.alg],
          contentEncryptionAlgorithms: ['A256GCM'],
        })
        expect(Buffer.from(plaintext).equals(Buffer.from(PLAINTEXT))).toBe(true)
        expect(protectedHeader).toMatchObject({ alg: k.alg, enc: 'A256GCM', kid: 'client-key', 'kb.name': 'db-password', 'kb.version': 3 })
      })

      it('accepts a SecretValue and never repeats ciphertexts', async () => {
        const a = await sealToKey(recipient, new SecretValue(PLAINTEXT))
        const b = await sealToKey(recipient, PLAINTEXT)
        expect(a).not.toBe(b)
        expect(Object.keys(decodeProtectedHeader(a)).sort()).toEqual(k.alg === 'RSA-OAEP-256' ? ['alg', 'enc'] : ['alg', 'enc', 'epk'])
        expect((await compactDecrypt(a, k.privateKey)).plaintext).toEqual(PLAINTEXT)
      })

      it('cannot be opened with another key', async () => {
        const other = KEYS.find((o) => o !== k && o.alg === k.alg)
        if (other === undefined) throw new Error('no other key')
        const jwe = await sealToKey(recipient, PLAINTEXT)
        await expect(compactDecrypt(jwe, other.privateKey)).rejects.toThrow()
      })

      it.skipIf(!HAS_PYCA)('decrypts with an independent pyca/cryptography implementation (skipped where python3 cryptography is missing, unless KEYBROKER_TEST_REQUIRE_INTEROP=1)', async () => {
        const jwe = await sealToKey(recipient, PLAINTEXT, { 'kb.name': 'x' })
        const r = python(['-c', PYCA_DECRYPT], JSON.stringify({ jwe, pem }))
        expect(r.stderr).toBe('')
        expect(r.stdout.trim()).toBe(Buffer.from(PLAINTEXT).toString('hex'))
      })

      it.skipIf(!HAS_JWCRYPTO)('decrypts with python3 jwcrypto (skipped where jwcrypto is missing, unless KEYBROKER_TEST_REQUIRE_INTEROP=1)', async () => {
        const jwe = await sealToKey(recipient, PLAINTEXT)
        const r = python(['-c', JWCRYPTO_DECRYPT], JSON.stringify({ jwe, pem }))
        expect(r.stderr).toBe('')
        expect(r.stdout.trim()).toBe(Buffer.from(PLAINTEXT).toString('hex'))
      })
    })
  }
})
