/**
 * A fake aleph.im compute node (CRN) on 127.0.0.1 for the `keybroker aleph launch` driver. It
 * answers the confidential-VM routes and checks requests the way
 * aleph-im/aleph-vm@6da21a3aafb51de0b7f5a92078ca4a68e6bf11b2 does:
 *
 * - operator authentication (`views/authentication.py` `authenticate_jwk`): X-SignedPubKey with
 *   an unexpired payload whose EIP-191 signature recovers the payload's address; X-SignedOperation
 *   with a payload time within 2 minutes, this CRN's DOMAIN_NAME, the request's path and method,
 *   ES256-signed by the delegated key; errors as `{"error": reason}` with 400/401; then the
 *   sender must own the VM (403 "Unauthorized sender");
 * - `initialize` (`views/operator.py` `operate_confidential_initialize`): multipart fields
 *   `session` and `godh` read as files (`post.get(…).file.read()`), 400 `field_missing`;
 * - `measurement`: 403 "Operation not running" until the VM runs, then `{sev_info, launch_measure}`;
 * - `inject_secret`: JSON `{packet_header, secret}` (pydantic), then QMP inject + cont.
 *
 * It plays the PSP too (test/generators/sev.ts `FakePsp`): LAUNCH_START with the blobs as QEMU
 * would read them (base64 files), LAUNCH_MEASURE over the VM's firmware, LAUNCH_SECRET checking
 * the packet and decrypting the table; the passphrase GRUB would read is recorded per VM.
 */
import { createPublicKey, verify } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { FakePsp, diskPassphraseOf, type PspGuest } from '../generators/sev.js'

export interface FakeVm {
  /** The wallet address of the VM message's sender. */
  readonly owner: string
  /** `trusted_execution.policy` of the VM message. */
  readonly policy: number
  /** GCTX.LD of the firmware the VM boots (SHA-256 of its OVMF.fd). */
  readonly launchDigest: Uint8Array
  /** Answer 403 "Operation not running" to this many measurement requests after initialize. */
  notRunningPolls?: number
  guest?: PspGuest
  launchError?: string
  measure?: Uint8Array
  /** The passphrase GRUB would read from the injected secret table. */
  injected?: string
}

export interface FakeCrn {
  readonly url: string
  readonly vms: Map<string, FakeVm>
  /** Every request: method, path, and what the checks concluded. */
  readonly requests: { method: string; path: string; status: number; authenticated?: string }[]
  close(): Promise<void>
}

/** An Ethereum address from a secp256k1 public key: the last 20 bytes of keccak256(X ‖ Y). */
export function ethAddress(publicKey: Uint8Array): string {
  const uncompressed = publicKey.byteLength === 65 ? publicKey : secp256k1.Point.fromBytes(publicKey).toBytes(false)
  return `0x${Buffer.from(keccak_256(uncompressed.subarray(1))).subarray(12).toString('hex')}`
}

/** EIP-191 `personal_sign` digest of a message (what eth_account's `encode_defunct` + `recover_message` hash). */
function eip191Digest(message: Uint8Array): Uint8Array {
  return keccak_256(Buffer.concat([Buffer.from(`\x19Ethereum Signed Message:\n${message.byteLength}`, 'utf8'), message]))
}

/** A test wallet: `personal_sign` as a wallet does it, r ‖ s ‖ v (v = 27 + recovery id). */
export function testWallet(secretKey: Uint8Array = secp256k1.utils.randomSecretKey()) {
  return {
    address: ethAddress(secp256k1.getPublicKey(secretKey, false)),
    personalSign(message: Uint8Array): string {
      const sig = secp256k1.sign(eip191Digest(message), secretKey, { prehash: false, format: 'recovered' })
      return `0x${Buffer.concat([sig.subarray(1), Buffer.from([27 + sig[0]!])]).toString('hex')}`
    },
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`)
  }
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/
const hexBytes = (s: string): Buffer => {
  const t = s.startsWith('0x') ? s.slice(2) : s
  if (!HEX.test(t)) throw new Error('not hex')
  return Buffer.from(t, 'hex')
}

/** aleph-vm `authenticate_jwk`: returns the authenticated wallet address. */
function authenticate(req: IncomingMessage, path: string, domain: string, now: Date): string {
  const unauthorized = (reason: string) => new HttpError(401, { error: reason })
  const badRequest = (reason: string) => new HttpError(400, { error: reason })
  const signedPubKey = req.headers['x-signedpubkey']
  if (typeof signedPubKey !== 'string') throw badRequest('Missing X-SignedPubKey header')
  let payload: Buffer
  let content: { pubkey: Record<string, string>; address: string; expires: string; chain?: string }
  let walletSignature: Buffer
  try {
    const header = JSON.parse(signedPubKey) as { payload: string; signature: string }
    payload = hexBytes(header.payload)
    walletSignature = hexBytes(header.signature)
    content = JSON.parse(payload.toString('utf8'))
    if (typeof content.address !== 'string' || typeof content.expires !== 'string' || typeof content.pubkey !== 'object') throw new Error('fields')
  } catch {
    throw badRequest('Invalid X-SignedPubKey data')
  }
  if (!(Date.parse(content.expires.replace('Z', '+00:00')) > now.getTime())) throw unauthorized('Token expired')
  if ((content.chain ?? 'ETH') !== 'ETH') throw badRequest('Invalid X-SignedPubKey data')
  // eth_account Account.recover_message(encode_defunct(hexstr=payload.hex()), signature)
  let recovered: string
  try {
    if (walletSignature.byteLength !== 65) throw new Error('length')
    const v = walletSignature[64]!
    const sig = Buffer.concat([Buffer.from([v >= 27 ? v - 27 : v]), walletSignature.subarray(0, 64)])
    recovered = ethAddress(secp256k1.recoverPublicKey(sig, eip191Digest(payload), { prehash: false }))
  } catch {
    throw unauthorized('Invalid signature')
  }
  if (recovered.toLowerCase() !== content.address.toLowerCase()) throw unauthorized('Invalid signature')

  const signedOperation = req.headers['x-signedoperation']
  if (typeof signedOperation !== 'string') throw badRequest('Missing X-SignedOperation header')
  let operation: { time: string; method: string; domain: string; path: string }
  let opPayload: Buffer
  let opSignature: Buffer
  try {
    const header = JSON.parse(signedOperation) as { payload: string; signature: string }
    opPayload = hexBytes(header.payload)
    opSignature = hexBytes(header.signature)
    operation = JSON.parse(opPayload.toString('utf8'))
    const time = Date.parse(operation.time)
    if (!['POST', 'GET', 'DELETE'].includes(operation.method) || typeof operation.domain !== 'string' || typeof operation.path !== 'string') throw new Error('fields')
    if (!Number.isFinite(time) || Math.abs(time - now.getTime()) > 120_000) throw new Error('time')
  } catch {
    throw badRequest('Invalid X-SignedOperation fields')
  }
  if (operation.domain !== domain) throw unauthorized(`Invalid domain: Signed: '${operation.domain}' != Request: '${domain}'`)
  if (operation.path !== path) throw unauthorized('Invalid path')
  if (operation.method !== req.method) throw unauthorized('Invalid method')
  const key = createPublicKey({ key: { kty: 'EC', crv: content.pubkey['crv'], x: content.pubkey['x'], y: content.pubkey['y'] }, format: 'jwk' })
  if (!verify('sha256', opPayload, { key, dsaEncoding: 'ieee-p1363' }, opSignature)) throw unauthorized('Signature could not verified')
  return content.address
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength
    if (size > 1024 * 1024) throw new HttpError(413, { error: 'too large' })
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/** Starts the fake CRN on 127.0.0.1 (an ephemeral port). Its DOMAIN_NAME is `127.0.0.1`. */
export async function startFakeCrn(options: { readonly chain: Uint8Array; readonly psp: FakePsp; readonly now?: () => Date }): Promise<FakeCrn> {
  const vms = new Map<string, FakeVm>()
  const requests: FakeCrn['requests'] = []
  const domain = '127.0.0.1'
  const now = options.now ?? (() => new Date())

  async function handle(req: IncomingMessage): Promise<{ status: number; body: unknown; authenticated?: string }> {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (req.method === 'GET' && path === '/about/certificates') return { status: 200, body: Buffer.from(options.chain) }
    const m = /^\/control\/machine\/([^/]+)\/confidential\/(initialize|measurement|inject_secret)$/.exec(path)
    if (m === null) throw new HttpError(404, { error: 'not found' })
    const sender = authenticate(req, path, domain, now())
    const vm = vms.get(m[1]!)
    if (vm === undefined) throw new HttpError(404, { error: 'VM not found' })
    if (sender.toLowerCase() !== vm.owner.toLowerCase()) throw new HttpError(403, 'Unauthorized sender')
    switch (`${req.method} ${m[2]}`) {
      case 'POST initialize': {
        const contentType = req.headers['content-type'] ?? ''
        if (!contentType.startsWith('multipart/form-data')) throw new HttpError(400, { code: 'field_missing', description: 'Session field is missing' })
        const form = await new Response(new Uint8Array(await readBody(req)), { headers: { 'content-type': contentType } }).formData()
        const session = form.get('session')
        const godh = form.get('godh')
        if (session === null) throw new HttpError(400, { code: 'field_missing', description: 'Session field is missing' })
        // aleph-vm reads `.file` of the field: a plain text field would fail there.
        if (!(session instanceof Blob)) throw new HttpError(500, 'session is not a file field')
        if (godh === null) throw new HttpError(400, { code: 'field_missing', description: 'godh field is missing. Please provide a GODH file' })
        if (!(godh instanceof Blob)) throw new HttpError(500, 'godh is not a file field')
        // QEMU's sev-guest reads dh-cert-file and session-file as base64 text.
        const godhBytes = Buffer.from(await godh.text(), 'base64')
        const sessionBytes = Buffer.from(await session.text(), 'base64')
        try {
          vm.guest = options.psp.launchStart(godhBytes, sessionBytes, vm.policy)
        } catch (err) {
          vm.launchError = err instanceof Error ? err.message : String(err)
        }
        return { status: 200, body: `Started VM with ref ${m[1]}`, authenticated: sender }
      }
      case 'GET measurement': {
        if ((vm.notRunningPolls ?? 0) > 0) {
          vm.notRunningPolls = (vm.notRunningPolls ?? 0) - 1
          throw new HttpError(403, 'Operation not running')
        }
        if (vm.guest === undefined) throw new HttpError(500, vm.launchError ?? 'not started')
        const blob = options.psp.launchMeasure(vm.guest, vm.launchDigest)
        vm.measure = blob.subarray(0, 32)
        const p = options.psp.platform
        return {
          status: 200,
          body: {
            sev_info: { enabled: true, api_major: p.apiMajor, api_minor: p.apiMinor, build_id: p.build, policy: vm.policy, state: 'launch-secret', handle: 1 },
            launch_measure: Buffer.from(blob).toString('base64'),
          },
          authenticated: sender,
        }
      }
      case 'POST inject_secret': {
        let body: { packet_header?: unknown; secret?: unknown }
        try {
          body = JSON.parse((await readBody(req)).toString('utf8'))
        } catch {
          throw new HttpError(400, 'Body is not valid JSON')
        }
        if (typeof body.packet_header !== 'string' || typeof body.secret !== 'string') throw new HttpError(400, { error: 'packet_header and secret are required strings' })
        if (vm.guest === undefined || vm.measure === undefined) throw new HttpError(500, 'QMP: no launch in progress')
        try {
          const table = options.psp.launchSecret(vm.guest, vm.measure, Buffer.from(body.packet_header, 'base64'), Buffer.from(body.secret, 'base64'))
          vm.injected = diskPassphraseOf(table) ?? ''
        } catch (err) {
          throw new HttpError(500, `QMP sev-inject-launch-secret failed: ${err instanceof Error ? err.message : String(err)}`)
        }
        return { status: 200, body: { status: { status: 'running', singlestep: false, running: true } }, authenticated: sender }
      }
      default:
        throw new HttpError(405, { error: 'method not allowed' })
    }
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void handle(req).then(
      (r) => {
        requests.push({ method: req.method ?? '', path: req.url ?? '', status: r.status, ...(r.authenticated === undefined ? {} : { authenticated: r.authenticated }) })
        send(res, r.status, r.body)
      },
      (err: unknown) => {
        const e = err instanceof HttpError ? err : new HttpError(500, String(err))
        requests.push({ method: req.method ?? '', path: req.url ?? '', status: e.status })
        send(res, e.status, e.body)
      },
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    vms,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (Buffer.isBuffer(body)) {
    res.writeHead(status, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.byteLength })
    res.end(body)
  } else if (typeof body === 'string') {
    res.writeHead(status, { 'Content-Type': 'text/plain' })
    res.end(body)
  } else {
    res.writeHead(status, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify(body))
  }
}
