/**
 * The optional Intel PCS / PCCS fetcher against a fake PCS on 127.0.0.1 serving synthetic,
 * correctly signed collateral with its issuer-chain headers: a quote with no collateral anywhere
 * verifies once fetching is on; failures back off, 404s are remembered, answers are bounded,
 * nothing fetched is trusted without the verifier's checks, nothing is written to the directory.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { TDX_COLLATERAL_KINDS, verifyTdxEvidence } from '../../src/evidence/tdx/index.js'
import { createLogger } from '../../src/log/logger.js'
import { continueTrace } from '../../src/log/trace-context.js'
import { createCollateralService } from '../../src/services/collateral.js'
import { createPcsFetcher, PCS_BACKOFF_BASE_MS, PCS_CACHE_TTL_MS, TDX_PCS_LAYOUT } from '../../src/services/tdx-pcs.js'
import { asyncCodeOf } from '../support/error-code.js'
import { createTdxPki, GEN_FMSPC, GEN_NOW, issueCrl, makeQuote, pckChainPem, signedQeIdentity, signedTcbInfo, type TdxPki } from '../generators/tdx.js'

const log = createLogger('silent')

class FakePcs {
  mode: 'ok' | '500' | '429' | 'hang' | 'no-header' | 'forged' = 'ok'
  requests: string[] = []
  /** The `traceparent` header of each request (undefined when absent). */
  traceparents: (string | undefined)[] = []
  url = ''
  #server: Server | undefined
  #hanging: ServerResponse[] = []

  constructor(
    private readonly pki: TdxPki,
    private readonly rogue: TdxPki,
    private readonly crl: Uint8Array,
  ) {}

  async start(): Promise<void> {
    this.#server = createServer((req, res) => this.#handle(req, res))
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.#server?.address() as AddressInfo).port}`
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(req.url ?? '')
    this.traceparents.push(typeof req.headers['traceparent'] === 'string' ? req.headers['traceparent'] : undefined)
    if (this.mode === 'hang') return void this.#hanging.push(res)
    if (this.mode === '500') return void res.writeHead(500).end('boom')
    if (this.mode === '429') return void res.writeHead(429, { 'Retry-After': '120' }).end()
    const signer = this.mode === 'forged' ? this.rogue : this.pki
    const chain = encodeURIComponent(pckChainPem([signer.tcbSigning, signer.root]))
    const headers = (name: string): Record<string, string> => (this.mode === 'no-header' ? {} : { [name]: chain })
    if (req.url === `/tdx/certification/v4/tcb?fmspc=${GEN_FMSPC}`) {
      return void res.writeHead(200, { 'Content-Type': 'application/json', ...headers('TCB-Info-Issuer-Chain') }).end(signedTcbInfo(signer))
    }
    if (req.url === '/tdx/certification/v4/qe/identity') {
      return void res.writeHead(200, { 'Content-Type': 'application/json', ...headers('SGX-Enclave-Identity-Issuer-Chain') }).end(signedQeIdentity(signer))
    }
    if (req.url === '/sgx/certification/v4/pckcrl?ca=platform&encoding=der') return void res.writeHead(200).end(this.crl)
    res.writeHead(404).end()
  }

  async stop(): Promise<void> {
    for (const r of this.#hanging.splice(0)) r.destroy()
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()))
  }
}

let pki: TdxPki
let pcs: FakePcs
let dir: string
let clock: Date
beforeAll(async () => {
  const [a, b] = await Promise.all([createTdxPki(), createTdxPki()])
  pki = a
  pcs = new FakePcs(a, b, await issueCrl(a.platformCa))
  await pcs.start()
  dir = await mkdtemp(join(tmpdir(), 'kb-pcs-'))
})
afterAll(async () => {
  await pcs?.stop()
  await rm(dir, { recursive: true, force: true })
})
beforeEach(() => {
  pcs.mode = 'ok'
  pcs.requests = []
  pcs.traceparents = []
  clock = GEN_NOW
})

function service(timeoutMs = 2000) {
  return createCollateralService({
    directory: dir,
    layouts: [TDX_PCS_LAYOUT],
    fetchers: [createPcsFetcher({ baseUrl: pcs.url, timeoutMs, now: () => clock, log })],
    log,
  })
}
const verify = (lookup: ReturnType<ReturnType<typeof service>['lookup']>) =>
  asyncCodeOf(() => verifyTdxEvidence({ quote: makeQuote(pki), now: GEN_NOW, lookup, options: { extraPinnedRoots: [pki.rootSpkiSha256] } }))

describe('PCS fetcher', () => {
  it('fetches TCB info, QE identity (its header gives the TCB Signing chain) and the PCK CRL; the quote verifies', async () => {
    const s = service()
    expect(await verify(s.lookup())).toBe('no-error')
    expect(pcs.requests.sort()).toEqual(
      ['/sgx/certification/v4/pckcrl?ca=platform&encoding=der', '/tdx/certification/v4/qe/identity', `/tdx/certification/v4/tcb?fmspc=${GEN_FMSPC}`].sort(),
    )
    // Values are reused for an hour, then asked for again; nothing is written to the directory.
    pcs.requests = []
    expect(await verify(s.lookup())).toBe('no-error')
    expect(pcs.requests).toEqual([])
    clock = new Date(GEN_NOW.getTime() + PCS_CACHE_TTL_MS + 1)
    expect(await verify(s.lookup())).toBe('no-error')
    expect(pcs.requests.length).toBe(3)
    expect(await readdir(dir)).toEqual([])
  })

  it("each PCS request carries the request's trace as a child span of its own, logged; without a trace, no header", async () => {
    const lines: string[] = []
    const fetcher = createPcsFetcher({ baseUrl: pcs.url, timeoutMs: 2000, now: () => clock, log: createLogger('info', (l) => lines.push(l)) })
    const s = createCollateralService({ directory: dir, layouts: [TDX_PCS_LAYOUT], fetchers: [fetcher], log })
    const request = continueTrace('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
    expect(await verify(s.lookup(request))).toBe('no-error')
    expect(pcs.traceparents).toHaveLength(3)
    const sent = pcs.traceparents.map((h) => /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(h ?? '')?.slice(1))
    expect(sent.map((m) => m?.[0])).toEqual([request.traceId, request.traceId, request.traceId])
    expect(sent.map((m) => m?.[2])).toEqual(['01', '01', '01'])
    const parents = sent.map((m) => m?.[1])
    expect(new Set([...parents, request.spanId, request.parentId]).size).toBe(5)
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['msg'] === 'pcs: collateral fetched')
    expect(logged.map((r) => r['traceId'])).toEqual([request.traceId, request.traceId, request.traceId])
    expect(logged.map((r) => r['spanId']).sort()).toEqual([...parents].sort())

    pcs.traceparents = []
    expect(await verify(service().lookup())).toBe('no-error')
    expect(pcs.traceparents).toEqual([undefined, undefined, undefined])
  })

  it('the Root CA CRL is not fetched (another host); unknown keys are not asked for', async () => {
    const fetcher = createPcsFetcher({ baseUrl: pcs.url, timeoutMs: 2000, now: () => clock, log })
    expect(fetcher.handles(TDX_COLLATERAL_KINDS.rootCaCrl)).toBe(false)
    expect(fetcher.handles('snp-vcek')).toBe(false)
    expect(await fetcher.fetch(TDX_COLLATERAL_KINDS.tcbInfo, '../../etc')).toBeUndefined()
    expect(await fetcher.fetch(TDX_COLLATERAL_KINDS.pckCrl, 'other')).toBeUndefined()
    expect(pcs.requests).toEqual([])
  })

  it('collateral signed under another root is fetched but refused by the verifier', async () => {
    pcs.mode = 'forged'
    expect(await verify(service().lookup())).toBe('chain-untrusted')
  })

  it('a response without its issuer-chain header is a failure: collateral-missing, then back-off', async () => {
    pcs.mode = 'no-header'
    const s = service()
    expect(await verify(s.lookup())).toBe('collateral-missing')
    const asked = pcs.requests.length
    pcs.mode = 'ok'
    expect(await verify(s.lookup())).toBe('collateral-missing')
    expect(pcs.requests.length).toBe(asked)
    clock = new Date(GEN_NOW.getTime() + PCS_BACKOFF_BASE_MS + 1)
    expect(await verify(s.lookup())).toBe('no-error')
  })

  it('5xx and 429 back off (Retry-After honoured); a timeout is bounded', async () => {
    pcs.mode = '429'
    const s = service()
    expect(await verify(s.lookup())).toBe('collateral-missing')
    pcs.mode = 'ok'
    clock = new Date(GEN_NOW.getTime() + PCS_BACKOFF_BASE_MS + 1) // past the base back-off, inside Retry-After (120 s)
    const before = pcs.requests.length
    expect(await verify(s.lookup())).toBe('collateral-missing')
    expect(pcs.requests.length).toBe(before)
    clock = new Date(GEN_NOW.getTime() + 121_000)
    expect(await verify(s.lookup())).toBe('no-error')

    pcs.mode = 'hang'
    const started = Date.now()
    expect(await verify(service(200).lookup())).toBe('collateral-missing')
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('404 is remembered per path', async () => {
    const fetcher = createPcsFetcher({ baseUrl: pcs.url, timeoutMs: 2000, now: () => clock, log })
    expect(await fetcher.fetch(TDX_COLLATERAL_KINDS.tcbInfo, '00000000ffff')).toBeUndefined()
    expect(await fetcher.fetch(TDX_COLLATERAL_KINDS.tcbInfo, '00000000ffff')).toBeUndefined()
    expect(pcs.requests).toEqual(['/tdx/certification/v4/tcb?fmspc=00000000ffff'])
  })
})
