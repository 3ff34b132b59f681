import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { compactDecrypt, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose'
import { computeBinding } from '../tokens/binding.js'

/**
 * A small TypeScript client for workloads and tests: challenge → evidence carrying the binding
 * → attest → open the released JWEs with the private key that never left the client.
 */
export interface KeybrokerClientOptions {
  /** e.g. https://127.0.0.1:8443 */
  readonly baseUrl: string
  /** PEM of the CA (or the self-signed certificate) to trust for HTTPS. */
  readonly ca?: string
  readonly timeoutMs?: number
  /**
   * Answers 503 and 429 that carry `Retry-After` (overloaded, not ready) are retried after that
   * delay plus jitter (up to the same again, so that clients refused together do not come back
   * together), within `attempts` tries and `maxTotalMs` in all; the last refusal is thrown.
   * Default: 8 attempts, 60 s. `false`: never retry.
   */
  readonly retry?: RetryOptions | false
}

export interface RetryOptions {
  readonly attempts?: number
  readonly maxTotalMs?: number
}

/** Seconds of a `Retry-After` header (RFC 9110 §10.2.3, delay-seconds or HTTP-date), capped at 300; undefined if absent or invalid. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined) return undefined
  const trimmed = text.trim()
  let seconds: number
  if (/^\d{1,9}$/.test(trimmed)) seconds = Number(trimmed)
  else {
    // An IMF-fixdate such as "Wed, 21 Oct 2026 07:28:00 GMT"; Date.parse alone would take "-1".
    if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(trimmed)) return undefined
    const at = Date.parse(trimmed)
    if (Number.isNaN(at)) return undefined
    seconds = Math.max(0, Math.ceil((at - now) / 1000))
  }
  return Math.min(seconds, 300)
}

/** An error answer from keybroker: the HTTP status and the RFC 9457 problem document. */
export class KeybrokerClientError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { readonly type?: string; readonly title?: string; readonly detail?: string; readonly [k: string]: unknown },
  ) {
    super(`keybroker answered ${status}: ${problem.type ?? ''} ${problem.detail ?? ''}`.trim())
    this.name = 'KeybrokerClientError'
  }

  /** The problem type's last path segment, e.g. `nonce-reused`. */
  get code(): string {
    return (this.problem.type ?? '').split('/').pop() ?? ''
  }
}

export interface HttpResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly body: string
}

export interface AttestationKey {
  readonly publicJwk: JWK
  readonly privateKey: CryptoKey
}

export type KeyAlgorithm = 'P-256' | 'P-384' | 'RSA'

/** `POST /v1/sev/sessions`: the LAUNCH_START inputs for the host and the sealed state for the launch. */
export interface SevSessionAnswer {
  readonly godh: string
  readonly session: string
  readonly state: string
  readonly expiresAt: string
  readonly platform: { readonly product: string; readonly chipId: string; readonly pdhSha256: string }
}

/** A fresh ephemeral key pair for one attestation (ECDH-ES or RSA-OAEP-256 recipient). */
export async function generateAttestationKey(alg: KeyAlgorithm = 'P-256'): Promise<AttestationKey> {
  const { publicKey, privateKey } =
    alg === 'RSA'
      ? await generateKeyPair('RSA-OAEP-256', { modulusLength: 2048, extractable: false })
      : await generateKeyPair('ECDH-ES+A256KW', { crv: alg, extractable: false })
  const { kty, crv, x, y, n, e } = await exportJWK(publicKey)
  const publicJwk: JWK = alg === 'RSA' ? { kty, n, e } : { kty, crv, x, y }
  return { publicJwk, privateKey }
}

/** The 64-byte report_data binding the nonce and the key (DESIGN.md, "Binding"). */
export async function reportDataFor(nonce: string, key: AttestationKey): Promise<Uint8Array> {
  return computeBinding(nonce, key.publicJwk)
}

/** Opens a compact JWE released to `key`. */
export async function openSecret(jwe: string, key: AttestationKey): Promise<Uint8Array> {
  const { plaintext } = await compactDecrypt(jwe, key.privateKey)
  return plaintext
}

export class KeybrokerClient {
  readonly #options: KeybrokerClientOptions

  constructor(options: KeybrokerClientOptions) {
    this.#options = options
  }

  /** A challenge; with `publicKey`, also the agent nonce of that key (README, "Binding profiles"). */
  async challenge(publicKey?: JWK): Promise<{ nonce: string; expiresAt: string; agentNonce?: string }> {
    return this.#json('POST', '/v1/challenge', publicKey === undefined ? {} : { publicKey })
  }

  async attest(body: {
    nonce: string
    evidence: Record<string, unknown>
    publicKey: JWK
    release?: readonly string[]
  }): Promise<{ token: string; secrets: Record<string, string> }> {
    return this.#json('POST', '/v1/attest', body)
  }

  /** `POST /v1/verify`: the verdict only (an EAR), no release. */
  async verify(body: { nonce: string; evidence: Record<string, unknown>; publicKey?: JWK }): Promise<{ token: string }> {
    return this.#json('POST', '/v1/verify', body)
  }

  async secret(name: string, token: string): Promise<{ name: string; version: number; jwe: string }> {
    return this.#json('GET', `/v1/secrets/${encodeURIComponent(name)}`, undefined, { Authorization: `Bearer ${token}` })
  }

  /** AMD SEV guest owner, step 1: verify the platform chain and open a launch session. */
  async sevSession(body: { platformCertificates: string; policy?: number; secret: string; vm?: string }): Promise<SevSessionAnswer> {
    return this.#json('POST', '/v1/sev/sessions', body)
  }

  /** AMD SEV guest owner, step 3: check the launch measurement and get the inject_secret body. */
  async sevLaunch(body: { state: string; measurement: unknown; vm?: string; format?: 'aleph' | 'sevctl' }): Promise<{ packet_header: string; secret: string }> {
    return this.#json('POST', '/v1/sev/launches', body)
  }

  /**
   * The whole flow: challenge, evidence from `evidenceFor(reportData)`, attest, open every
   * released secret. Returns the token and the plaintexts.
   */
  async attestAndOpen(
    evidenceFor: (reportData: Uint8Array) => Promise<Record<string, unknown>> | Record<string, unknown>,
    release: readonly string[],
    alg: KeyAlgorithm = 'P-256',
  ): Promise<{ token: string; key: AttestationKey; secrets: Record<string, Uint8Array> }> {
    const key = await generateAttestationKey(alg)
    let result: { token: string; secrets: Record<string, string> }
    for (let flow = 1; ; flow++) {
      const { nonce } = await this.challenge()
      const evidence = await evidenceFor(await reportDataFor(nonce, key))
      try {
        result = await this.attest({ nonce, evidence, publicKey: key.publicJwk, release })
        break
      } catch (err) {
        // A retried attest whose first try used the nonce before failing (database unavailable)
        // finds it used or expired: start over with a fresh challenge, a bounded number of times.
        const stale = err instanceof KeybrokerClientError && (err.code === 'nonce-reused' || err.code === 'nonce-expired')
        if (!stale || flow >= 3 || this.#options.retry === false) throw err
      }
    }
    const secrets: Record<string, Uint8Array> = {}
    for (const [name, jwe] of Object.entries(result.secrets)) secrets[name] = await openSecret(jwe, key)
    return { token: result.token, key, secrets }
  }

  /** A raw request: any method, path, body text and headers; used by tests for bad input. */
  async raw(method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}): Promise<HttpResponse> {
    const url = new URL(path, this.#options.baseUrl)
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise<HttpResponse>((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          headers: body === undefined ? headers : { 'Content-Length': String(Buffer.byteLength(body)), ...headers },
          ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
          timeout: this.#options.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error('request timed out')))
      req.on('error', reject)
      req.end(body)
    })
  }

  async #json<T>(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
    const retry = this.#options.retry === false ? { attempts: 1, maxTotalMs: 0 } : { attempts: 8, maxTotalMs: 60_000, ...this.#options.retry }
    const started = Date.now()
    let res: HttpResponse
    for (let attempt = 1; ; attempt++) {
      res = await this.raw(
        method,
        path,
        body === undefined ? undefined : JSON.stringify(body),
        body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
      )
      const after = res.status === 503 || res.status === 429 ? parseRetryAfter(res.headers['retry-after']) : undefined
      if (after === undefined || attempt >= retry.attempts) break
      const delayMs = after * 1000 + Math.random() * Math.max(after * 1000, 250)
      if (Date.now() - started + delayMs > retry.maxTotalMs) break
      await new Promise((r) => setTimeout(r, delayMs))
    }
    const parsed: unknown = res.body === '' ? {} : JSON.parse(res.body)
    if (res.status >= 400) {
      throw new KeybrokerClientError(res.status, typeof parsed === 'object' && parsed !== null ? { ...parsed } : {})
    }
    // The server's responses are schema-defined (openapi/openapi.json); the client trusts its server.
    return parsed as T
  }
}
