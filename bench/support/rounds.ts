/**
 * The attest+release round every HTTPS benchmark runs (challenge, evidence bound to the nonce and
 * a fresh key, attest releasing secrets), and the reference-value set + secret it releases.
 */
import { reportDataFor, type AttestationKey } from '../../src/clients/index.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import { call, type BenchService } from './service.js'

/** The evidence of one round for `nonce` and `key` (sample evidence unless a bench sends its own). */
export type MakeEvidence = (nonce: string, key: AttestationKey) => Promise<unknown>

/** Sample evidence with `measurement`, its report data binding `nonce` and `key`. */
export function sampleEvidence(measurement: string): MakeEvidence {
  return async (nonce, key) => ({ type: 'sample', measurement, reportData: toBase64Url(await reportDataFor(nonce, key)) })
}

export interface RoundsOptions {
  readonly requests: number
  readonly concurrency: number
  readonly release: readonly string[]
  readonly evidence: MakeEvidence
}

export interface RoundsResult {
  /** Wall time of all rounds. */
  readonly seconds: number
  /** Per round: the attest request alone, and challenge + attest. */
  readonly attestLatencies: number[]
  readonly roundLatencies: number[]
  readonly errors: number
  /** Status and start of the body of the last answer that was not 200. */
  readonly lastError: string
}

/** One round: a challenge, evidence for its nonce and `key`, an attest releasing `release`. */
export async function attestRound(
  service: Pick<BenchService, 'port' | 'agent'>,
  key: AttestationKey,
  release: readonly string[],
  evidence: MakeEvidence,
): Promise<{ attestMs: number; roundMs: number; status: number; body: string }> {
  const roundStart = performance.now()
  const challenge = await call(service, 'POST', '/v1/challenge', {})
  const { nonce } = JSON.parse(challenge.body) as { nonce: string }
  const made = await evidence(nonce, key)
  const started = performance.now()
  const res = await call(service, 'POST', '/v1/attest', { nonce, evidence: made, publicKey: key.publicJwk, release })
  const done = performance.now()
  return { attestMs: done - started, roundMs: done - roundStart, ...res }
}

/** `requests` rounds, `concurrency` at a time back to back, keys taken in turn from `keys`. */
export async function runRounds(
  service: Pick<BenchService, 'port' | 'agent'>,
  keys: readonly AttestationKey[],
  options: RoundsOptions,
): Promise<RoundsResult> {
  const attestLatencies: number[] = []
  const roundLatencies: number[] = []
  let errors = 0
  let lastError = ''
  let next = 0
  const worker = async () => {
    while (next < options.requests) {
      const i = next++
      const r = await attestRound(service, keys[i % keys.length] as AttestationKey, options.release, options.evidence)
      attestLatencies.push(r.attestMs)
      roundLatencies.push(r.roundMs)
      if (r.status !== 200) {
        errors++
        lastError = `${r.status} ${r.body.slice(0, 300)}`
      }
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  return { seconds: (performance.now() - started) / 1000, attestLatencies, roundLatencies, errors, lastError }
}

/** Registers the reference-value set `set` with `measurement` and a generated secret `secret` under it. */
export async function createReleasableSecret(
  service: Pick<BenchService, 'port' | 'agent' | 'adminToken'>,
  names: { readonly set: string; readonly secret: string },
  measurement: string,
  extra: { readonly bytes?: number; readonly policy?: string } = {},
): Promise<void> {
  const steps: [string, unknown][] = [
    ['/admin/v1/reference-values', { name: names.set, measurements: [measurement] }],
    ['/admin/v1/secrets', { name: names.secret, generate: { bytes: extra.bytes ?? 64 }, referenceValues: [names.set], ...(extra.policy === undefined ? {} : { policy: extra.policy }) }],
  ]
  for (const [path, body] of steps) {
    const r = await call(service, 'POST', path, body, service.adminToken)
    if (r.status !== 201) throw new Error(`setup failed: ${r.status} ${r.body}`)
  }
}
