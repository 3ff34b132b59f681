/**
 * A fake Cosmian VM agent on 127.0.0.1, HTTPS with its own self-signed certificate, speaking the
 * agent API of Cosmian/cosmian_vm@d5d7bbe9 (`crate/agent/src/endpoints.rs`): `GET /quote/tee`
 * and `/quote/tpm` with a base64 (no padding) `nonce`, `GET /ima/binary`, `POST /app/init`.
 *
 * What it serves: the IMA list is a real one (test/vectors/tpm/cosmian/ima/ima_256.ascii in its
 * binary form, the list the vectors' snapshot was made from). The TEE and TPM quotes are
 * synthetic — no real quote can carry keybroker's fresh nonce and this server's certificate
 * hash: an SEV-SNP report signed by a test VCEK (test/generators/snp.ts) with
 * REPORT_DATA = nonce ‖ SHA-256(this server's certificate DER), in the agent's bincode layout with
 * ARK, ASK and VCEK; a TPM quote of PCR 10 (the IMA replay) signed by a test AK, extraData = nonce.
 *
 * Switches make it misbehave the ways keybroker must refuse (`misbehave`).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseImaAscii, parseImaBinary } from '../../src/evidence/tpm/ima/parse.js'
import { replayIma } from '../../src/evidence/tpm/ima/replay.js'
import { hashByName } from '../../src/evidence/tpm/algorithms.js'
import type { ImaEntry } from '../../src/evidence/tpm/ima/templates.js'
import { makeReport, type ReportFields, type SnpPki } from '../generators/snp.js'
import { bincodeQuote, byteArray, CERT_TYPE, imaBinaryOf, tpmQuoteJson, type TestAk } from '../generators/cosmian.js'
import { fileEntry, binaryList } from '../generators/ima.js'

export interface AgentTls {
  readonly cert: string
  readonly key: string
}

export interface FakeCosmianAgentOptions {
  readonly pki: SnpPki
  readonly vcek: Uint8Array
  readonly ak: TestAk
  readonly tls: AgentTls
  /** Report fields besides REPORT_DATA (the snapshot's TEE policy). */
  readonly report: Partial<ReportFields>
  readonly resetCount: number
}

export interface Misbehaviour {
  /** After the request to `swapAfter` (default `/quote/tee`), switch the TLS certificate for every new connection. */
  swapCertificateTo?: AgentTls
  swapAfter?: '/quote/tee' | '/ima/binary'
  /** Serve this recorded /quote/tee answer instead of a fresh one (a replay). */
  replayTeeQuote?: number[]
  /** Append a file that is not in the snapshot to the IMA list (quoted consistently). */
  extraImaFile?: string
  /** Report this TPM reset count instead (a reboot since the snapshot). */
  resetCount?: number
}

export interface FakeCosmianAgent {
  readonly url: string
  /** What each /app/init received (decoded content). */
  readonly received: Uint8Array[]
  /** Every /quote/tee answer served, for replays. */
  readonly teeQuotes: number[][]
  readonly requests: string[]
  /** The `traceparent` header of each request, in the order of `requests` (undefined when absent). */
  readonly traceparents: (string | undefined)[]
  misbehave: Misbehaviour
  close(): Promise<void>
}

const IMA_ASCII = readFileSync(new URL('../vectors/tpm/cosmian/ima/ima_256.ascii', import.meta.url), 'utf8')
const sha256 = (b: Uint8Array | Buffer): Buffer => createHash('sha256').update(b).digest()

function certificateDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64')
}

function nonceOf(req: IncomingMessage): Buffer | undefined {
  const text = new URL(req.url ?? '/', 'https://agent').searchParams.get('nonce')
  if (text === null || !/^[A-Za-z0-9+/]*$/.test(text)) return undefined
  return Buffer.from(text, 'base64')
}

export async function startFakeCosmianAgent(options: FakeCosmianAgentOptions): Promise<FakeCosmianAgent> {
  const real: ImaEntry[] = [...parseImaAscii(IMA_ASCII).entries]
  let currentTls = options.tls
  const state = { received: [] as Uint8Array[], teeQuotes: [] as number[][], requests: [] as string[], traceparents: [] as (string | undefined)[], misbehave: {} as Misbehaviour }

  const imaList = (): Uint8Array => {
    const base = imaBinaryOf(real)
    if (state.misbehave.extraImaFile === undefined) return base
    return new Uint8Array(Buffer.concat([Buffer.from(base), binaryList([fileEntry(state.misbehave.extraImaFile, 'not in the snapshot')])]))
  }
  // What the TPM holds in PCR 10 after the kernel extended it with the served list.
  const pcr10 = (list: Uint8Array): Uint8Array => replayIma(parseImaBinary(list).entries, hashByName('sha256')!).get(10)!

  const swapIfAsked = (after: string): void => {
    const swap = state.misbehave.swapCertificateTo
    if (swap === undefined || (state.misbehave.swapAfter ?? '/quote/tee') !== after) return
    currentTls = swap
    server.setSecureContext({ cert: swap.cert, key: swap.key })
  }

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
    res.end(text)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'https://agent').pathname
    state.requests.push(`${req.method} ${path}`)
    state.traceparents.push(typeof req.headers['traceparent'] === 'string' ? req.headers['traceparent'] : undefined)
    if (req.method === 'GET' && path === '/quote/tee') {
      const nonce = nonceOf(req)
      if (nonce === undefined || nonce.length !== 32) return json(res, 400, { error: 'nonce must be 32 bytes' })
      if (state.misbehave.replayTeeQuote !== undefined) return json(res, 200, state.misbehave.replayTeeQuote)
      const reportData = Buffer.concat([nonce, sha256(certificateDer(currentTls.cert))])
      const report = makeReport(options.pki, { ...options.report, reportData: new Uint8Array(reportData) })
      const quote = bincodeQuote(report, [
        { type: CERT_TYPE.ark, der: options.pki.ark.der },
        { type: CERT_TYPE.ask, der: options.pki.ask.der },
        { type: CERT_TYPE.vcek, der: options.vcek },
      ])
      const answer = byteArray(quote)
      state.teeQuotes.push(answer)
      json(res, 200, answer)
      swapIfAsked('/quote/tee')
      return
    }
    if (req.method === 'GET' && path === '/quote/tpm') {
      const nonce = nonceOf(req)
      if (nonce === undefined || nonce.length > 64) return json(res, 400, { error: 'nonce too long' })
      const value = pcr10(imaList())
      return json(res, 200, tpmQuoteJson(options.ak, { pcrValue: value, nonce: new Uint8Array(nonce), resetCount: state.misbehave.resetCount ?? options.resetCount, restartCount: 0 }))
    }
    if (req.method === 'GET' && path === '/ima/binary') {
      json(res, 200, byteArray(imaList()))
      swapIfAsked('/ima/binary')
      return
    }
    if (req.method === 'POST' && path === '/app/init') {
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { content?: unknown }
      if (typeof body.content !== 'string' || body.content.includes('=')) return json(res, 400, { error: 'content: base64 without padding' })
      state.received.push(new Uint8Array(Buffer.from(body.content, 'base64')))
      return json(res, 200, null)
    }
    json(res, 404, { error: 'not found' })
  }

  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    handle(req, res).catch(() => json(res, 500, { error: 'internal' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `https://127.0.0.1:${port}`,
    get received() {
      return state.received
    },
    get teeQuotes() {
      return state.teeQuotes
    },
    get traceparents() {
      return state.traceparents
    },
    get requests() {
      return state.requests
    },
    get misbehave() {
      return state.misbehave
    },
    set misbehave(m: Misbehaviour) {
      state.misbehave = m
      // A fresh scenario starts from the original certificate.
      if (currentTls !== options.tls) {
        currentTls = options.tls
        server.setSecureContext({ cert: options.tls.cert, key: options.tls.key })
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
