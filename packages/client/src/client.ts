import type { JWK } from 'jose'
import { KeybrokerClientError, KeybrokerConnectionError, KeybrokerResponseError, type Problem } from './errors.js'
import { generateAttestationKey, openSecret, type AttestationKey, type KeyAlgorithm } from './keys.js'
import { encodeReportData, reportDataFor, type ReportDataEncodings } from './report-data.js'
import { retryAfterSeconds, send, type TransportResponse } from './transport.js'

export interface KeybrokerClientOptions {
  /** e.g. `https://keybroker.example:8443` */
  readonly baseUrl: string
  /** PEM of the CA (or of the self-signed certificate) to trust for HTTPS. */
  readonly ca?: string | readonly string[]
  /**
   * SHA-256 of the server's DER certificate (hex, colons allowed, or base64): the connection is
   * refused before anything is sent unless the certificate matches one pin. Without `ca`, the
   * pin replaces chain validation, which is how to trust the development certificate whose
   * fingerprint keybroker logs at start.
   */
  readonly pinSha256?: string | readonly string[]
  /** Per attempt; default 30 s. */
  readonly timeoutMs?: number
  /** Retries after 503 or 429 (honouring `Retry-After`), a connection failure of a safe request or one refused before the request was sent, or `nonce-expired` in `attestAndOpen`; default 3. */
  readonly retries?: number
  /** Longest wait before a retry; an answer asking for longer is not retried. Default 30 s. */
  readonly maxRetryDelayMs?: number
  /** Sent with every request, e.g. a W3C `traceparent`. */
  readonly headers?: Readonly<Record<string, string>>
}

/** `POST /v1/challenge`. */
export interface Challenge {
  readonly nonce: string
  readonly expiresAt: string
  /** With a public key in the request: the agent nonce of that key. */
  readonly agentNonce?: string
}

/** Evidence of one type: `{type: 'snp', report: …}`, `{type: 'sample', …}`, … */
export interface Evidence {
  readonly type: string
  readonly [field: string]: unknown
}

/** `POST /v1/attest`: the EAR and the released secrets, each a compact JWE to the bound key. */
export interface AttestResult {
  readonly token: string
  readonly secrets: Readonly<Record<string, string>>
  readonly [member: string]: unknown
}

/** `POST /v1/attest` with `token: false`: the released secrets (and `recovered`), no EAR. */
export interface AttestResultWithoutToken {
  readonly secrets: Readonly<Record<string, string>>
  readonly [member: string]: unknown
}

/** The body of `POST /v1/attest`; other members (`recover`, `certificates`) pass through as given. */
export interface AttestBody {
  readonly nonce: string
  readonly evidence: Evidence
  readonly publicKey: JWK
  readonly release?: readonly string[]
  /** `false`: no EAR in the answer (none is signed), for a client that only opens the answer's JWEs. */
  readonly token?: boolean
  readonly [member: string]: unknown
}

/** A released secret: its plaintext, opened with the attestation key, and the JWE it came in. */
export interface ReleasedSecret {
  readonly name: string
  readonly version: number
  readonly jwe: string
  readonly plaintext: Uint8Array
}

/** What `attestAndOpen` gives: the token, the key it is bound to, and every secret opened. */
export interface Attestation {
  readonly token: string
  readonly key: AttestationKey
  /** name → plaintext */
  readonly secrets: Readonly<Record<string, Uint8Array>>
  /** name → the compact JWE the plaintext was opened from */
  readonly jwe: Readonly<Record<string, string>>
}

/** Builds the evidence for the report data of one attempt (a fresh nonce each time). */
export type EvidenceProvider = (reportData: Uint8Array, encodings: ReportDataEncodings) => Promise<Evidence> | Evidence

/** `POST /v1/sev/sessions`: the LAUNCH_START inputs for the host and the sealed state for the launch. */
export interface SevSessionAnswer {
  readonly godh: string
  readonly session: string
  readonly state: string
  readonly expiresAt: string
  readonly platform: { readonly product: string; readonly chipId: string; readonly pdhSha256: string }
}

interface RequestOptions {
  readonly json?: unknown
  readonly token?: string
  /** Safe to repeat after a connection failure (nothing changed on the server). */
  readonly idempotent?: boolean
  readonly onRetry?: () => void
}

const PACKAGE_AGENT = 'keybroker-client/0.1'

/**
 * A keybroker client for workloads: challenge → evidence carrying the binding → attest → open
 * the released JWEs with the private key that never leaves the process.
 */
export class KeybrokerClient {
  readonly #options: KeybrokerClientOptions

  constructor(options: KeybrokerClientOptions) {
    new URL(options.baseUrl) // throws TypeError on a malformed base URL, here rather than at the first call
    this.#options = options
  }

  /** A challenge; with `publicKey`, also the agent nonce of that key. */
  async challenge(publicKey?: JWK): Promise<Challenge> {
    const body = await this.request('POST', '/v1/challenge', { json: publicKey === undefined ? {} : { publicKey }, idempotent: true })
    return { nonce: stringField(body, 'nonce'), expiresAt: stringField(body, 'expiresAt'), ...optionalString(body, 'agentNonce') }
  }

  /**
   * `POST /v1/attest`: one attempt with a nonce from `challenge`; see `attestAndOpen` for the whole
   * flow. With `token: false` the answer has no EAR (one signature less on the server).
   */
  async attest(body: AttestBody & { readonly token: false }): Promise<AttestResultWithoutToken>
  async attest(body: AttestBody): Promise<AttestResult>
  async attest(body: AttestBody): Promise<AttestResult | AttestResultWithoutToken> {
    return body.token === false ? this.#attestWithoutToken(body) : this.#attest(body)
  }

  /** `POST /v1/verify`: the verdict only (an EAR), no release. */
  async verify(body: { nonce: string; evidence: Evidence; publicKey?: JWK }): Promise<{ token: string }> {
    const answer = await this.request('POST', '/v1/verify', { json: body })
    return { token: stringField(answer, 'token') }
  }

  /**
   * `GET /v1/secrets/{name}` with an attestation result token: the plaintext, opened with the
   * key the token is bound to, and the JWE it came in.
   */
  async secret(name: string, attestation: { readonly token: string; readonly key: AttestationKey }): Promise<ReleasedSecret> {
    const answer = await this.request('GET', `/v1/secrets/${encodeURIComponent(name)}`, { token: attestation.token, idempotent: true })
    const jwe = stringField(answer, 'jwe')
    const version = answer.version
    if (typeof version !== 'number') throw new KeybrokerResponseError(200, 'application/json', 'no version', '')
    return { name: stringField(answer, 'name'), version, jwe, plaintext: await openSecret(jwe, attestation.key) }
  }

  /** AMD SEV guest owner, step 1: verify the platform chain and open a launch session. */
  async sevSession(body: { platformCertificates: string; policy?: number; secret: string; vm?: string }): Promise<SevSessionAnswer> {
    const answer = await this.request('POST', '/v1/sev/sessions', { json: body })
    for (const field of ['godh', 'session', 'state', 'expiresAt']) stringField(answer, field)
    // Shape checked above for the fields a launch needs; the platform is descriptive.
    return answer as unknown as SevSessionAnswer
  }

  /** AMD SEV guest owner, step 3: check the launch measurement and get the inject_secret body. */
  async sevLaunch(body: { state: string; measurement: unknown; vm?: string; format?: 'aleph' | 'sevctl' }): Promise<{ packet_header: string; secret: string }> {
    const answer = await this.request('POST', '/v1/sev/launches', { json: body })
    return { packet_header: stringField(answer, 'packet_header'), secret: stringField(answer, 'secret') }
  }

  /**
   * The whole flow: a fresh key, a challenge, evidence from `evidenceFor`, attest, and every
   * released secret opened. A `nonce-expired` answer (slow evidence, a clock step) starts over
   * with a new challenge and new evidence, as does `nonce-reused` after a retried attempt
   * (the first attempt may have consumed the nonce before failing).
   * @throws KeybrokerClientError for a refusal (`policy-denied` lists `failedRules`)
   */
  async attestAndOpen(evidenceFor: EvidenceProvider, release: readonly string[], alg: KeyAlgorithm = 'P-256'): Promise<Attestation> {
    const key = await generateAttestationKey(alg)
    for (let attempt = 0; ; attempt++) {
      const { nonce } = await this.challenge()
      const reportData = await reportDataFor(nonce, key)
      const evidence = await evidenceFor(reportData, encodeReportData(reportData))
      let retried = false
      try {
        const result = await this.#attest({ nonce, evidence, publicKey: key.publicJwk, release }, () => (retried = true))
        const secrets: Record<string, Uint8Array> = {}
        for (const [name, jwe] of Object.entries(result.secrets)) secrets[name] = await openSecret(jwe, key)
        return { token: result.token, key, secrets, jwe: { ...result.secrets } }
      } catch (err) {
        const again = err instanceof KeybrokerClientError && (err.code === 'nonce-expired' || (err.code === 'nonce-reused' && retried))
        if (!again || attempt >= this.#retries) throw err
      }
    }
  }

  /**
   * A JSON request to any route without a method of its own (the admin API, with an admin
   * token): the parsed JSON object of a 2xx answer (`{}` for 204).
   * @throws KeybrokerClientError, KeybrokerResponseError, KeybrokerConnectionError
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { Accept: 'application/json, application/problem+json', 'User-Agent': PACKAGE_AGENT, ...this.#options.headers }
    if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`
    if (options.json !== undefined) headers['Content-Type'] = 'application/json'
    const body = options.json === undefined ? undefined : JSON.stringify(options.json)
    for (let attempt = 0; ; attempt++) {
      let res: TransportResponse
      try {
        res = await send(this.#options, method, path, body, headers)
      } catch (err) {
        // A connection refused before the request left (keybroker's connection bound in a storm)
        // is retried whatever the request, after a second or more: the server is full now.
        const safe = options.idempotent === true || (err instanceof KeybrokerConnectionError && err.beforeRequest)
        if (!(err instanceof KeybrokerConnectionError) || err.code === 'pin-mismatch' || !safe || attempt >= this.#retries) throw err
        options.onRetry?.()
        await sleep(err.beforeRequest ? 1000 + backoffMs(attempt) : backoffMs(attempt))
        continue
      }
      if ((res.status === 503 || res.status === 429) && attempt < this.#retries) {
        const after = retryAfterSeconds(res.headers['retry-after'])
        // Retry-After plus up to a quarter more (at most 1 s), so that clients shed together
        // (a fleet rebooting) do not come back together.
        const delayMs = after === undefined ? backoffMs(attempt) : after * 1000 + retryAfterJitterMs(after)
        if (delayMs <= (this.#options.maxRetryDelayMs ?? 30_000)) {
          options.onRetry?.()
          await sleep(delayMs)
          continue
        }
      }
      return parseAnswer(res)
    }
  }

  get #retries(): number {
    return this.#options.retries ?? 3
  }

  async #attest(body: AttestBody, onRetry?: () => void): Promise<AttestResult> {
    const answer = await this.#attestWithoutToken(body, onRetry)
    return { ...answer, token: stringField(answer, 'token') }
  }

  async #attestWithoutToken(body: AttestBody, onRetry?: () => void): Promise<AttestResultWithoutToken> {
    const answer = await this.request('POST', '/v1/attest', { json: body, ...(onRetry === undefined ? {} : { onRetry }) })
    const secrets = answer.secrets
    if (typeof secrets !== 'object' || secrets === null || Object.values(secrets).some((jwe) => typeof jwe !== 'string')) {
      throw new KeybrokerResponseError(200, 'application/json', 'no secrets map', '')
    }
    return { ...answer, secrets: secrets as Record<string, string> }
  }
}

/** Turns an answer into a JSON object or the matching typed error. */
function parseAnswer(res: TransportResponse): Record<string, unknown> {
  const contentType = typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : undefined
  const text = res.body.toString('utf8')
  const refuse = (reason: string): KeybrokerResponseError => new KeybrokerResponseError(res.status, contentType, reason, text.slice(0, 200))
  if (res.status >= 200 && res.status < 300 && text === '') return {}
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase()
  if (mediaType !== 'application/json' && mediaType !== 'application/problem+json') throw refuse('not JSON')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw refuse('malformed JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw refuse('not a JSON object')
  if (res.status >= 200 && res.status < 300) return parsed as Record<string, unknown>
  if (res.status < 400 || mediaType !== 'application/problem+json') throw refuse(`HTTP ${res.status} without a problem document`)
  throw new KeybrokerClientError(res.status, parsed as Problem, retryAfterSeconds(res.headers['retry-after']))
}

function stringField(body: Record<string, unknown>, field: string): string {
  const value = body[field]
  if (typeof value !== 'string') throw new KeybrokerResponseError(200, 'application/json', `no ${field}`, '')
  return value
}

function optionalString<K extends string>(body: Record<string, unknown>, field: K): { [P in K]?: string } {
  const value = body[field]
  return (typeof value === 'string' ? { [field]: value } : {}) as { [P in K]?: string }
}

/** Exponential back-off with full jitter: 0–250 ms, 0–500 ms, 0–1 s, … (at most 8 s). */
function retryAfterJitterMs(afterSeconds: number): number {
  return Math.random() * Math.min(1000, afterSeconds * 250)
}

function backoffMs(attempt: number): number {
  return Math.random() * Math.min(8000, 250 * 2 ** attempt)
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}
