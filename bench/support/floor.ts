/** The one-core crypto floor of an attest+release, shared by bench/attest.ts and bench/snp-attest.ts. */
import { randomBytes } from 'node:crypto'
import type { AttestationKey } from '../../src/clients/index.js'
import { createKekRing, kekFromBytes, openAtRest, parseRecipientKey, sealAtRest, sealToKey } from '../../src/secrets/index.js'
import { checkBinding, computeBinding, createNonceService, generateSigner, issueEar } from '../../src/tokens/index.js'

/**
 * The crypto work of one attest+release, in the order the service does it: nonce issue + verify
 * (HMAC), recipient key import, binding (SHA-512 + thumbprint), envelope open (AES-GCM ×2), JWE
 * seal (ECDH-ES+A256KW), EAR sign (ES256); with `verifyEvidence`, that check too (bench/snp-attest.ts:
 * the one ECDSA P-384 verify of an SNP report signature) after the binding.
 */
export async function measureFloor(
  keys: readonly AttestationKey[],
  options: { readonly iterations: number; readonly measurement: string; readonly evidenceType?: string; readonly verifyEvidence?: () => void },
): Promise<{ throughput: number; cpuMsPerOp: number }> {
  const { iterations, measurement } = options
  const nonces = createNonceService({ key: randomBytes(32), ttlSeconds: 120 })
  const keks = createKekRing(kekFromBytes(randomBytes(32)))
  const envelope = sealAtRest(keks.current, randomBytes(64), 'aad')
  const signer = await generateSigner('ES256')
  const once = async (i: number) => {
    const now = new Date()
    const { nonce } = nonces.issue(now)
    nonces.verify(nonce, now)
    const key = parseRecipientKey(keys[i % keys.length]?.publicJwk)
    const binding = await computeBinding(nonce, key.publicJwk)
    checkBinding(binding, binding)
    options.verifyEvidence?.()
    const plaintext = openAtRest(keks, envelope, 'aad')
    await sealToKey(key, plaintext)
    await issueEar(signer, {
      issuer: 'https://bench',
      audience: 'keybroker',
      now,
      ttlSeconds: 300,
      nonce,
      cnfJwk: key.publicJwk,
      status: 'affirming',
      trustVector: { executables: 2, configuration: 2 },
      hardwareBacked: false,
      evidenceType: options.evidenceType ?? 'sample',
      claims: { measurement, debug: false, hardwareBacked: false },
    })
  }
  for (let i = 0; i < 200; i++) await once(i)
  const cpuStart = process.cpuUsage()
  const started = performance.now()
  for (let i = 0; i < iterations; i++) await once(i)
  const cpu = process.cpuUsage(cpuStart)
  return {
    throughput: iterations / ((performance.now() - started) / 1000),
    cpuMsPerOp: (cpu.user + cpu.system) / 1000 / iterations,
  }
}

