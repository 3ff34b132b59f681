/**
 * Cocos' PCR 16: the agent extends it with SHA3-256 (sha256 bank) and SHA3-384 (sha384 bank) of
 * the computation manifest (ultravioletrs/cocos `pkg/attestation/vtpm/vtpm.go` `ExtendPCR`). The
 * claims carry the quoted values; the README's openssl recipe computes the reference value.
 */
import { execFileSync } from 'node:child_process'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toBinary } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import { gotpmVerifier } from '../../../src/evidence/gotpm/index.js'
import { akIdOf } from '../../../src/evidence/tpm/public.js'
import { AttestationSchema } from '../../../src/proto-gen/attest_pb.js'
import { syntheticVtpm } from '../../generators/gotpm.js'
import { requireWhen } from '../../support/required.js'
import { trustLookup } from '../tpm/vectors.js'

/** The README's recipe needs openssl with SHA-3 and xxd. */
function hasSha3Tools(): boolean {
  try {
    execFileSync('openssl', ['dgst', '-sha3-256'], { input: '' })
    execFileSync('xxd', ['-v'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const HAS_SHA3_TOOLS = requireWhen('KEYBROKER_TEST_REQUIRE_INTEROP', 'openssl with SHA-3 and xxd', hasSha3Tools())

const MANIFEST = Buffer.from(JSON.stringify({ id: 'c1', name: 'computation', datasets: [{ hash: 'ab'.repeat(32) }] }))
/** TPM2_PCR_Extend from zero: H(0^n ‖ digest). */
const extend = (bank: 'sha256' | 'sha384', digest: Buffer): string => createHash(bank).update(Buffer.alloc(bank === 'sha256' ? 32 : 48)).update(digest).digest('hex')
const PCR16 = {
  sha256: extend('sha256', createHash('sha3-256').update(MANIFEST).digest()),
  sha384: extend('sha384', createHash('sha3-384').update(MANIFEST).digest()),
}

describe('PCR 16 (Cocos computation manifest, SHA-3 digests)', () => {
  it('the claims expose the quoted PCR 16 of both banks', async () => {
    const ak = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const a = syntheticVtpm({ ak, nonce: new Uint8Array(32).fill(7), pcrs: { sha256: { 16: PCR16.sha256 }, sha384: { 16: PCR16.sha384 } } })
    const lookup = trustLookup({ aks: { [akIdOf(ak.publicKey)]: { source: 'registered', name: 'a' } } })
    const claims = await gotpmVerifier.verify(gotpmVerifier.schema.parse({ type: 'gotpm', attestation: Buffer.from(toBinary(AttestationSchema, a)).toString('base64') }), { now: new Date(), collateral: lookup })
    expect(claims.measurements['pcr16']).toBe(PCR16.sha256)
    expect(claims.measurements['sha384-pcr16']).toBe(PCR16.sha384)
  })

  it("the README's openssl recipe gives the same reference values", (ctx) => {
    if (!HAS_SHA3_TOOLS) ctx.skip()
    const dir = mkdtempSync(join(tmpdir(), 'kb-pcr16-'))
    try {
      writeFileSync(join(dir, 'manifest.json'), MANIFEST)
      const run = (zeros: number, sha3: string, sha2: string) =>
        execFileSync('sh', ['-c', `(printf '%0${zeros * 2}d' 0 | xxd -r -p; openssl dgst -${sha3} -binary manifest.json) | openssl dgst -${sha2} | sed 's/^.*= //'`], { cwd: dir, encoding: 'utf8' }).trim()
      expect(run(32, 'sha3-256', 'sha256')).toBe(PCR16.sha256)
      expect(run(48, 'sha3-384', 'sha384')).toBe(PCR16.sha384)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
