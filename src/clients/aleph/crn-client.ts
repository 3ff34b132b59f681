/**
 * A client of an aleph.im compute node (CRN) for confidential VMs: the supervisor routes of
 * aleph-im/aleph-vm@6da21a3aafb51de0b7f5a92078ca4a68e6bf11b2 (`src/aleph/vm/orchestrator/supervisor.py`,
 * handlers in `views/operator.py`), called as the aleph SDK's `VmConfidentialClient` calls them
 * (aleph-im/aleph-sdk-python@df8ed9b1df093de7c9814c26b3c3ef8434b635c9
 * `src/aleph/sdk/client/vm_confidential_client.py`):
 *
 * - `GET /about/certificates` (public): the platform chain, raw `sevctl export` bytes;
 * - `POST /control/machine/{ref}/confidential/initialize`: multipart/form-data with file fields
 *   `session` and `godh` (the base64 text sevctl writes); the CRN starts QEMU paused;
 * - `GET /control/machine/{ref}/confidential/measurement`: `{sev_info, launch_measure}`;
 * - `POST /control/machine/{ref}/confidential/inject_secret`: JSON `{packet_header, secret}`;
 *   the CRN injects it and resumes the VM.
 *
 * The `/control` routes carry the operator headers of ./operator-auth.ts.
 */
import type { KeyObject } from 'node:crypto'
import { z } from 'zod'
import { signedOperationHeader, type Delegation } from './operator-auth.js'

/** An error answer (or no answer) from the CRN. */
export class AlephCrnError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    message: string,
  ) {
    super(message)
    this.name = 'AlephCrnError'
  }
}

export interface AlephCrnOptions {
  /** The CRN's base URL, e.g. https://crn.example.org */
  readonly url: string
  /** The ES256 key the delegation names. */
  readonly key: KeyObject
  readonly delegation: Delegation
  readonly timeoutMs?: number
  readonly now?: () => Date
}

/** The measurement answer, as aleph-vm builds it from QMP `query-sev` and `query-sev-launch-measure`. */
export const CrnMeasurementSchema = z.object({
  sev_info: z
    .object({
      api_major: z.number().int().min(0).max(255),
      api_minor: z.number().int().min(0).max(255),
      build_id: z.number().int().min(0).max(255),
      policy: z.number().int().min(0).max(0xffff_ffff),
    })
    .passthrough(),
  launch_measure: z.string().min(1).max(128),
})
export type CrnMeasurement = z.infer<typeof CrnMeasurementSchema>

/** aleph item hashes: SHA-256 hex, or an IPFS CID; nothing that could change the URL path. */
const VM_REF = /^[A-Za-z0-9]{1,128}$/
/** The largest answer read from a CRN (the platform chain is 8 KiB; JSON answers are small). */
const MAX_ANSWER_BYTES = 64 * 1024

export class AlephCrnClient {
  readonly #origin: string
  readonly #domain: string
  readonly #options: AlephCrnOptions

  constructor(options: AlephCrnOptions) {
    const url = new URL(options.url)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AlephCrnError(0, '', `--crn: an http(s) URL expected, got ${url.protocol}`)
    this.#origin = url.origin
    // The SDK signs the node URL's host name (VmClient.node_domain); the CRN compares it with its DOMAIN_NAME.
    this.#domain = url.hostname
    this.#options = options
  }

  get domain(): string {
    return this.#domain
  }

  /** `GET /about/certificates`: the platform chain bytes. */
  async certificates(): Promise<Uint8Array> {
    return this.#request('GET', '/about/certificates', { auth: false })
  }

  /** `POST …/confidential/initialize` with the GODH and session blobs (base64 text, as sevctl writes them). */
  async initialize(vm: string, blobs: { readonly godh: string; readonly session: string }): Promise<string> {
    const form = new FormData()
    // File parts (with a filename), as aiohttp's FormData sends bytes: aleph-vm reads `.file` of each.
    form.append('session', new Blob([blobs.session], { type: 'application/octet-stream' }), 'vm_session.b64')
    form.append('godh', new Blob([blobs.godh], { type: 'application/octet-stream' }), 'vm_godh.b64')
    return Buffer.from(await this.#request('POST', this.#vmPath(vm, 'initialize'), { body: form })).toString('utf8')
  }

  /** `GET …/confidential/measurement`. */
  async measurement(vm: string): Promise<CrnMeasurement> {
    const answer = await this.#request('GET', this.#vmPath(vm, 'measurement'))
    let parsed: unknown
    try {
      parsed = JSON.parse(Buffer.from(answer).toString('utf8'))
    } catch {
      throw new AlephCrnError(200, '', 'the CRN measurement answer is not JSON')
    }
    const r = CrnMeasurementSchema.safeParse(parsed)
    if (!r.success) throw new AlephCrnError(200, '', 'the CRN measurement answer lacks sev_info {api_major, api_minor, build_id, policy} or launch_measure')
    return r.data
  }

  /** `POST …/confidential/inject_secret`; returns the CRN's answer (`{"status": …}`). */
  async injectSecret(vm: string, packet: { readonly packet_header: string; readonly secret: string }): Promise<unknown> {
    const answer = await this.#request('POST', this.#vmPath(vm, 'inject_secret'), {
      body: JSON.stringify({ packet_header: packet.packet_header, secret: packet.secret }),
      contentType: 'application/json',
    })
    const text = Buffer.from(answer).toString('utf8')
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }

  #vmPath(vm: string, operation: string): string {
    if (!VM_REF.test(vm)) throw new AlephCrnError(0, '', '--vm: an aleph item hash (letters and digits) expected')
    return `/control/machine/${vm}/confidential/${operation}`
  }

  async #request(method: 'GET' | 'POST', path: string, o: { auth?: boolean; body?: FormData | string; contentType?: string } = {}): Promise<Uint8Array> {
    const headers: Record<string, string> = {}
    if (o.auth !== false) {
      headers['X-SignedPubKey'] = this.#options.delegation.header
      headers['X-SignedOperation'] = signedOperationHeader(this.#options.key, { method, path, domain: this.#domain, time: (this.#options.now ?? (() => new Date()))() })
    }
    if (o.contentType !== undefined) headers['Content-Type'] = o.contentType
    let res: Response
    try {
      res = await fetch(`${this.#origin}${path}`, {
        method,
        headers,
        ...(o.body === undefined ? {} : { body: o.body }),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 30_000),
        redirect: 'error',
      })
    } catch (err) {
      throw new AlephCrnError(0, '', `${method} ${path}: ${err instanceof Error ? err.message : String(err)}`)
    }
    const body = await readBounded(res, MAX_ANSWER_BYTES, `${method} ${path}`)
    if (!res.ok) {
      const text = Buffer.from(body).toString('utf8').slice(0, 300)
      throw new AlephCrnError(res.status, text, `${method} ${path}: the CRN answered ${res.status} ${text}`)
    }
    return body
  }
}

async function readBounded(res: Response, max: number, what: string): Promise<Uint8Array> {
  if (res.body === null) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = res.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel()
      throw new AlephCrnError(res.status, '', `${what}: the answer is larger than ${max} bytes`)
    }
    chunks.push(value)
  }
  return new Uint8Array(Buffer.concat(chunks))
}
