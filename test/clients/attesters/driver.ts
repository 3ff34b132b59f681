/**
 * What the attester tests need where no SEV-SNP or TDX hardware is:
 *
 * - `buildAttesters`: compiles keybroker-snp-report and keybroker-tdx-report with the system C
 *   compiler, `-Wall -Wextra -Werror`, under AddressSanitizer and UBSan when the toolchain has
 *   them, and the LD_PRELOAD shim (`fixtures/ioctl-shim.c`).
 * - `DriverEmulator`: the Unix socket the shim forwards open()/ioctl() of /dev/sev-guest and
 *   /dev/tdx_guest to. It plays the guest driver and the firmware after Linux's
 *   drivers/virt/coco/sev-guest/sev-guest.c and drivers/virt/coco/tdx-guest/tdx-guest.c, with
 *   reports and quotes from the synthetic signers (test/generators/snp.ts, tdx.ts), and records
 *   every request byte for byte so that tests can check the structures the attester built.
 * - `QgsEmulator`: the host's TDX quote generation service behind the shim's vsock redirect.
 *
 * Synthetic on purpose: real SEV-SNP/TDX guests are not available to CI; the evidence the
 * attesters print is checked with keybroker's own verifiers against the synthetic roots.
 */
import { spawnSync } from 'node:child_process'
import { createServer, type Server, type Socket } from 'node:net'
import { join, resolve } from 'node:path'
import { buildCertTable, CERT_TABLE_GUIDS } from '../../../src/evidence/snp/index.js'
import { createSnpPki, issueEndorsement, makeReport, type ReportFields, type SnpPki } from '../../generators/snp.js'
import { makeQuote, quoteFields, type TdxPki } from '../../generators/tdx.js'
import { afterAll, beforeAll } from 'vitest'
import { run, scratch } from '../clevis/tools.js'

export const ATTESTER_SOURCES = resolve('src/clients/attesters')
const SHIM_SOURCE = resolve('test/clients/attesters/fixtures/ioctl-shim.c')

export const ERRNO = { EPERM: 1, ENOENT: 2, EINTR: 4, EIO: 5, ENXIO: 6, EAGAIN: 11, EACCES: 13, EFAULT: 14, EBUSY: 16, ENODEV: 19, EINVAL: 22, ENOTTY: 25, ETIMEDOUT: 110 } as const

/** The compiler flags every build of the attesters must pass (also CI's). */
export const STRICT_CFLAGS = ['-std=c11', '-O1', '-g', '-Wall', '-Wextra', '-Werror'] as const
const SANITIZE = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer'] as const

export interface BuiltAttesters {
  readonly dir: string
  readonly snp: string
  readonly tdx: string
  readonly shim: string
  readonly sanitized: boolean
}

/** Whether `cc` links and runs a program built with ASan + UBSan here. */
function sanitizersWork(dir: string): boolean {
  const src = join(dir, 'probe.c')
  const bin = join(dir, 'probe')
  const ok = spawnSync('sh', ['-c', `printf 'int main(void){return 0;}' > ${src} && cc ${SANITIZE.join(' ')} -o ${bin} ${src} && ${bin}`])
  return ok.status === 0
}

export async function buildAttesters(dir: string): Promise<BuiltAttesters> {
  const sanitized = sanitizersWork(dir)
  const flags = [...STRICT_CFLAGS, ...(sanitized ? SANITIZE : [])]
  const out = { dir, snp: join(dir, 'keybroker-snp-report'), tdx: join(dir, 'keybroker-tdx-report'), shim: join(dir, 'ioctl-shim.so'), sanitized }
  for (const [bin, src] of [
    [out.snp, join(ATTESTER_SOURCES, 'keybroker-snp-report.c')],
    [out.tdx, join(ATTESTER_SOURCES, 'keybroker-tdx-report.c')],
  ] as const) {
    const r = await run('cc', [...flags, '-o', bin, src])
    if (r.code !== 0) throw new Error(`cc ${src}: ${r.stderr}`)
  }
  const shim = await run('cc', [...STRICT_CFLAGS, '-shared', '-fPIC', '-o', out.shim, SHIM_SOURCE, '-ldl'])
  if (shim.code !== 0) throw new Error(`cc ${SHIM_SOURCE}: ${shim.stderr}`)
  return out
}

/** Environment under which an attester (or anything that runs it) talks to the emulators. */
export function shimEnv(built: BuiltAttesters, driver: DriverEmulator, qgs?: QgsEmulator): Record<string, string> {
  return {
    LD_PRELOAD: built.shim,
    KB_SHIM_SOCKET: driver.path,
    ...(qgs === undefined ? {} : { KB_SHIM_QGS_SOCKET: qgs.path }),
    // The shim is preloaded before the sanitizer runtime; every finding still aborts.
    ASAN_OPTIONS: 'verify_asan_link_order=0:abort_on_error=0:exitcode=99',
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:exitcode=98',
    KEYBROKER_ATTESTER_BACKOFF_MS: '20',
  }
}

// --- the shim's wire --------------------------------------------------------------------------

export interface ShimCall {
  readonly kind: 'open' | 'ioctl'
  readonly device: 'sev-guest' | 'tdx_guest'
  readonly request: bigint
  /** The memory the ioctl named (for open: the path), as the attester left it. */
  readonly parts: readonly Uint8Array[]
}
export interface ShimAnswer {
  readonly errno: number
  /** New contents of each part (same lengths); default: unchanged. */
  readonly parts?: readonly Uint8Array[]
}
export type ShimHandler = (call: ShimCall) => ShimAnswer

/** Parses one request of the shim from `buf`, or undefined when more bytes are needed. */
function parseShimRequest(buf: Buffer): ShimCall | undefined {
  if (buf.byteLength < 20) return undefined
  const kind = buf.readUInt32LE(0)
  const device = buf.readUInt32LE(4)
  const request = buf.readBigUInt64LE(8)
  const n = buf.readUInt32LE(16)
  let at = 20
  const parts: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    if (buf.byteLength < at + 4) return undefined
    const len = buf.readUInt32LE(at)
    if (buf.byteLength < at + 4 + len) return undefined
    parts.push(new Uint8Array(buf.subarray(at + 4, at + 4 + len)))
    at += 4 + len
  }
  return { kind: kind === 1 ? 'open' : 'ioctl', device: device === 0 ? 'sev-guest' : 'tdx_guest', request, parts }
}

function encodeShimAnswer(call: ShimCall, answer: ShimAnswer): Buffer {
  const parts = answer.parts ?? call.parts
  const chunks: Buffer[] = [Buffer.alloc(8)]
  chunks[0]?.writeInt32LE(answer.errno, 0)
  chunks[0]?.writeUInt32LE(parts.length, 4)
  parts.forEach((p, i) => {
    if (p.byteLength !== call.parts[i]?.byteLength) throw new Error(`emulator: part ${i} changed length`)
    const len = Buffer.alloc(4)
    len.writeUInt32LE(p.byteLength)
    chunks.push(len, Buffer.from(p))
  })
  return Buffer.concat(chunks)
}

/**
 * A Unix-socket server for one request per connection: `answer` sees the bytes received so far
 * and returns the reply once a whole request is there (undefined: wait for more). A throw is a
 * bug of the test's emulator: the connection is dropped so that the client fails loudly.
 */
class OneShotServer {
  readonly #server: Server
  private constructor(server: Server) {
    this.#server = server
  }

  static async listen(path: string, answer: (received: Buffer) => Uint8Array | undefined): Promise<OneShotServer> {
    const server = createServer((socket: Socket) => {
      let buf = Buffer.alloc(0)
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk])
        try {
          const reply = answer(buf)
          if (reply !== undefined) socket.end(reply)
        } catch (e) {
          console.error(e)
          socket.destroy()
        }
      })
      socket.on('error', () => undefined)
    })
    await new Promise<void>((ok, fail) => {
      server.once('error', fail)
      server.listen(path, () => ok())
    })
    return new OneShotServer(server)
  }

  close(): Promise<void> {
    return new Promise((r) => this.#server.close(() => r()))
  }
}

/** The driver side of the shim, on a Unix socket in `dir`. */
export class DriverEmulator {
  readonly calls: ShimCall[] = []
  handler: ShimHandler = () => ({ errno: ERRNO.ENOENT })
  #server: OneShotServer | undefined
  private constructor(readonly path: string) {}

  static async start(dir: string): Promise<DriverEmulator> {
    const self = new DriverEmulator(join(dir, 'driver.sock'))
    self.#server = await OneShotServer.listen(self.path, (buf) => {
      const call = parseShimRequest(buf)
      if (call === undefined) return undefined
      self.calls.push(call)
      return encodeShimAnswer(call, self.handler(call))
    })
    return self
  }

  ioctls(): ShimCall[] {
    return this.calls.filter((c) => c.kind === 'ioctl')
  }

  reset(handler: ShimHandler): void {
    this.calls.length = 0
    this.handler = handler
  }

  close(): Promise<void> {
    return this.#server?.close() ?? Promise.resolve()
  }
}

// --- SEV-SNP: /dev/sev-guest ------------------------------------------------------------------

export const SNP_GET_REPORT = 0xc0205300n
export const SNP_GET_EXT_REPORT = 0xc0205302n
const SEV_FW_BLOB_MAX_SIZE = 16384
const PAGE = 4096

/** How the emulated host, firmware and driver behave; the default is a healthy guest. */
export interface SevGuestScript {
  readonly pki: SnpPki
  readonly openErrno?: number
  /** The host's certificate blob (table + certificates); none when undefined. */
  readonly hostCerts?: Uint8Array
  /** The driver's certificate buffer, SEV_FW_BLOB_MAX_SIZE (16 KiB) in every kernel so far. */
  readonly driverCertsMax?: number
  /** The first `times` guest requests are throttled: EAGAIN, or EIO with vmm_error BUSY. */
  readonly throttle?: { readonly as: 'EAGAIN' | 'BUSY'; readonly times: number }
  /** Every guest request fails so (e.g. ENOTTY once the VMPCK is disabled, EIO + firmware status). */
  readonly failure?: { readonly errno: number; readonly exitinfo2?: bigint }
  /** MSG_REPORT_RSP status (0 success). */
  readonly status?: number
  /** MSG_REPORT_RSP REPORT_SIZE as answered (default: the report's size). */
  readonly reportSize?: number
  /** The report answered does not match the request. */
  readonly tamper?: 'report-data' | 'vmpl'
  readonly report?: Partial<ReportFields>
}

export interface SnpRequest {
  readonly ioctl: 'SNP_GET_REPORT' | 'SNP_GET_EXT_REPORT'
  /** struct snp_guest_request_ioctl as the attester passed it (32 bytes). */
  readonly guest: Uint8Array
  /** struct snp_report_req (96 bytes) or snp_ext_report_req (112 bytes). */
  readonly req: Uint8Array
  readonly msgVersion: number
  readonly userData: Uint8Array
  readonly vmpl: number
  readonly certsLen: number
}

export function parseSnpCall(call: ShimCall): SnpRequest {
  const [guest = new Uint8Array(0), req = new Uint8Array(0)] = call.parts
  const r = Buffer.from(req)
  return {
    ioctl: call.request === SNP_GET_EXT_REPORT ? 'SNP_GET_EXT_REPORT' : 'SNP_GET_REPORT',
    guest,
    req,
    msgVersion: guest[0] ?? 0,
    userData: req.slice(0, 64),
    vmpl: r.byteLength >= 68 ? r.readUInt32LE(64) : -1,
    certsLen: r.byteLength >= 108 ? r.readUInt32LE(104) : 0,
  }
}

function setExitinfo2(guest: Uint8Array, v: bigint): Uint8Array {
  const out = Buffer.from(guest)
  out.writeBigUInt64LE(v, 24)
  return new Uint8Array(out)
}

/** The sev-guest driver and the PSP firmware, as `script` says. */
export function sevGuest(script: SevGuestScript): ShimHandler {
  let throttled = 0
  return (call) => {
    if (call.device !== 'sev-guest') return { errno: ERRNO.ENOENT }
    if (call.kind === 'open') return { errno: script.openErrno ?? 0 }
    if (call.request !== SNP_GET_REPORT && call.request !== SNP_GET_EXT_REPORT) return { errno: ERRNO.ENOTTY }
    const [guest, req, resp, certs] = call.parts
    if (guest === undefined || req === undefined || resp === undefined) return { errno: ERRNO.EINVAL }
    // snp_guest_ioctl(): "Message version must be non-zero", before anything is copied back.
    if (guest[0] === 0) return { errno: ERRNO.EINVAL }
    if (req.byteLength === 0 || resp.byteLength === 0) return { errno: ERRNO.EINVAL }
    const ext = call.request === SNP_GET_EXT_REPORT
    const reqView = Buffer.from(req)
    let npages = 0
    if (ext) {
      const certsLen = reqView.readUInt32LE(104)
      const certsAddress = reqView.readBigUInt64LE(96)
      if (certsLen !== 0 && certsAddress !== 0n) {
        if (certsLen > (script.driverCertsMax ?? SEV_FW_BLOB_MAX_SIZE) || certsLen % PAGE !== 0) return { errno: ERRNO.EINVAL }
        npages = certsLen / PAGE
      }
    }
    if (script.failure !== undefined) {
      const ex = script.failure.exitinfo2
      return { errno: script.failure.errno, parts: ex === undefined ? call.parts : [setExitinfo2(guest, ex), ...call.parts.slice(1)] }
    }
    if (script.throttle !== undefined && throttled < script.throttle.times) {
      throttled++
      if (script.throttle.as === 'EAGAIN') return { errno: ERRNO.EAGAIN }
      return { errno: ERRNO.EIO, parts: [setExitinfo2(guest, 2n << 32n), ...call.parts.slice(1)] }
    }
    if (ext && script.hostCerts !== undefined) {
      const needed = Math.ceil(script.hostCerts.byteLength / PAGE)
      if (npages < needed) {
        // The host says INVALID_LEN; the driver writes the needed size into certs_len.
        const newReq = Buffer.from(req)
        newReq.writeUInt32LE(needed * PAGE, 104)
        return { errno: ERRNO.EIO, parts: [setExitinfo2(guest, 1n << 32n), new Uint8Array(newReq), ...call.parts.slice(2)] }
      }
    }
    const userData = req.slice(0, 64)
    const vmpl = reqView.readUInt32LE(64)
    const out = Buffer.alloc(resp.byteLength)
    const status = script.status ?? 0
    out.writeUInt32LE(status, 0)
    if (status === 0) {
      const reportData = script.tamper === 'report-data' ? new Uint8Array(64).fill(0xee) : userData
      const report = makeReport(script.pki, { reportData, vmpl: script.tamper === 'vmpl' ? vmpl + 1 : vmpl, ...script.report })
      out.writeUInt32LE(script.reportSize ?? report.byteLength, 4)
      out.set(report, 0x20)
    }
    const parts: Uint8Array[] = [guest, req, new Uint8Array(out)]
    if (certs !== undefined) {
      const c = new Uint8Array(certs.byteLength)
      if (ext && script.hostCerts !== undefined && npages > 0) c.set(script.hostCerts)
      parts.push(c)
    }
    return { errno: 0, parts }
  }
}

// --- TDX: /dev/tdx_guest and the QGS ----------------------------------------------------------

export const TDX_CMD_GET_REPORT0 = 0xc4405401n
export const TDX_CMD_GET_QUOTE = 0x80105404n
export const GET_QUOTE_IN_FLIGHT = 0xffffffffffffffffn
export const GET_QUOTE_SERVICE_UNAVAILABLE = 0x8000000000000001n
const TDREPORT_SIZE = 1024

/** A TDREPORT as the TDX module writes it, with REPORTDATA at 128 and recognizable fill. */
export function makeTdReport(reportData: Uint8Array): Uint8Array {
  const r = new Uint8Array(TDREPORT_SIZE).fill(0x7e)
  r.set([0x81, 0, 0, 0, 0, 0, 0, 0], 0) // REPORTTYPE: TDX
  r.set(reportData, 128)
  return r
}

/** Intel qgs_msg_lib GET_QUOTE_REQ, parsed strictly. */
export interface QgsRequest {
  readonly major: number
  readonly minor: number
  readonly type: number
  readonly size: number
  readonly errorCode: number
  readonly reportSize: number
  readonly idListSize: number
  readonly report: Uint8Array
}

export function parseQgsRequest(m: Uint8Array): QgsRequest {
  const b = Buffer.from(m)
  if (b.byteLength < 24) throw new Error('QGS request shorter than its header')
  const req = {
    major: b.readUInt16LE(0),
    minor: b.readUInt16LE(2),
    type: b.readUInt32LE(4),
    size: b.readUInt32LE(8),
    errorCode: b.readUInt32LE(12),
    reportSize: b.readUInt32LE(16),
    idListSize: b.readUInt32LE(20),
    report: new Uint8Array(b.subarray(24)),
  }
  if (req.size !== b.byteLength || 24 + req.reportSize + req.idListSize !== b.byteLength) throw new Error('QGS request lengths do not add up')
  return req
}

/** GET_QUOTE_RESP with `quote` (or an error code and no quote). */
export function qgsResponse(quote: Uint8Array | undefined, errorCode = 0): Uint8Array {
  const q = quote ?? new Uint8Array(0)
  const b = Buffer.alloc(24 + q.byteLength)
  b.writeUInt16LE(1, 0)
  b.writeUInt16LE(1, 2)
  b.writeUInt32LE(1, 4)
  b.writeUInt32LE(b.byteLength, 8)
  b.writeUInt32LE(errorCode, 12)
  b.writeUInt32LE(0, 16)
  b.writeUInt32LE(q.byteLength, 20)
  b.set(q, 24)
  return new Uint8Array(b)
}

/** The quote the QGS makes for a TDREPORT: a synthetic DCAP quote with its REPORTDATA. */
export function quoteFor(pki: TdxPki, tdreport: Uint8Array): Uint8Array {
  return makeQuote(pki, quoteFields({ body: { reportData: tdreport.slice(128, 192) } }))
}

export interface TdxGuestScript {
  readonly pki: TdxPki
  readonly openErrno?: number
  /** TDX_CMD_GET_REPORT0 fails with `errno` the first `times` calls (every call when times is undefined). */
  readonly reportFailure?: { readonly errno: number; readonly times?: number }
  readonly tamper?: 'report-data'
  /** TDX_CMD_GET_QUOTE: missing (ENOTTY, mainline before 6.7), a busy errno, or a status for `times` calls. */
  readonly getQuote?: 'missing' | { readonly errno?: number; readonly status?: bigint; readonly times?: number }
  /** The QGS answers this error code and no quote. */
  readonly qgsError?: number
}

export interface QuoteIoctlRequest {
  readonly version: bigint
  readonly status: bigint
  readonly inLen: number
  readonly outLen: number
  readonly bufLen: number
  readonly framedLength: number
  readonly message: QgsRequest
}

export function parseQuoteIoctl(call: ShimCall): QuoteIoctlRequest {
  const [q = new Uint8Array(16), buf = new Uint8Array(0)] = call.parts
  const b = Buffer.from(buf)
  const len = Number(Buffer.from(q).readBigUInt64LE(8))
  const framedLength = b.readUInt32BE(24)
  return {
    version: b.readBigUInt64LE(0),
    status: b.readBigUInt64LE(8),
    inLen: b.readUInt32LE(16),
    outLen: b.readUInt32LE(20),
    bufLen: len,
    framedLength,
    message: parseQgsRequest(new Uint8Array(b.subarray(28, 28 + framedLength))),
  }
}

/** The tdx-guest driver (GET_REPORT0) and, for TDX_CMD_GET_QUOTE, the VMM with its QGS. */
export function tdxGuest(script: TdxGuestScript): ShimHandler {
  let reportFailures = 0
  let quoteAnswers = 0
  return (call) => {
    if (call.device !== 'tdx_guest') return { errno: ERRNO.ENOENT }
    if (call.kind === 'open') return { errno: script.openErrno ?? 0 }
    if (call.request === TDX_CMD_GET_REPORT0) {
      const f = script.reportFailure
      if (f !== undefined && (f.times === undefined || reportFailures < f.times)) {
        reportFailures++
        return { errno: f.errno }
      }
      const req = call.parts[0] ?? new Uint8Array(1088)
      const reportData = script.tamper === 'report-data' ? new Uint8Array(64).fill(0xee) : req.slice(0, 64)
      const out = new Uint8Array(1088)
      out.set(req.slice(0, 64))
      out.set(makeTdReport(reportData), 64)
      return { errno: 0, parts: [out] }
    }
    if (call.request === TDX_CMD_GET_QUOTE) {
      const g = script.getQuote
      if (g === 'missing') return { errno: ERRNO.ENOTTY }
      const [q, buf] = call.parts
      if (q === undefined || buf === undefined || buf.byteLength === 0) return { errno: ERRNO.EINVAL }
      if (g !== undefined && (g.times === undefined || quoteAnswers < g.times)) {
        quoteAnswers++
        if (g.errno !== undefined) return { errno: g.errno }
        const out = Buffer.from(buf)
        out.writeBigUInt64LE(g.status ?? 0n, 8)
        return { errno: 0, parts: [q, new Uint8Array(out)] }
      }
      const parsed = parseQuoteIoctl(call)
      const resp = script.qgsError === undefined ? qgsResponse(quoteFor(script.pki, parsed.message.report)) : qgsResponse(undefined, script.qgsError)
      const out = Buffer.alloc(buf.byteLength)
      Buffer.from(buf).copy(out)
      out.writeBigUInt64LE(0n, 8)
      out.writeUInt32LE(4 + resp.byteLength, 20)
      out.writeUInt32BE(resp.byteLength, 24)
      out.set(resp, 28)
      return { errno: 0, parts: [q, new Uint8Array(out)] }
    }
    return { errno: ERRNO.ENOTTY }
  }
}

export interface QgsExchange {
  readonly cid: number
  readonly port: number
  readonly framedLength: number
  readonly message: QgsRequest
}

/** The host's QGS behind the shim's vsock redirect: length-prefixed GET_QUOTE_REQ → response. */
export class QgsEmulator {
  readonly exchanges: QgsExchange[] = []
  respond: (req: QgsRequest) => Uint8Array = () => qgsResponse(undefined, 0x12001)
  #server: OneShotServer | undefined
  private constructor(readonly path: string) {}

  static async start(dir: string): Promise<QgsEmulator> {
    const self = new QgsEmulator(join(dir, 'qgs.sock'))
    // The shim's preamble (CID, port: u32 each), then the attester's length-prefixed message.
    self.#server = await OneShotServer.listen(self.path, (buf) => {
      if (buf.byteLength < 12 || buf.byteLength < 12 + buf.readUInt32BE(8)) return undefined
      const n = buf.readUInt32BE(8)
      const message = parseQgsRequest(new Uint8Array(buf.subarray(12, 12 + n)))
      self.exchanges.push({ cid: buf.readUInt32LE(0), port: buf.readUInt32LE(4), framedLength: n, message })
      const resp = self.respond(message)
      const len = Buffer.alloc(4)
      len.writeUInt32BE(resp.byteLength)
      return Buffer.concat([len, Buffer.from(resp)])
    })
    return self
  }

  close(): Promise<void> {
    return this.#server?.close() ?? Promise.resolve()
  }
}

/** A synthetic SEV-SNP host: its PKI (Milan) and the certificate table it gives guests. */
export async function syntheticSnpHost(): Promise<{ pki: SnpPki; hostCerts: Uint8Array }> {
  const pki = await createSnpPki('Milan')
  const hostCerts = buildCertTable([
    { guid: CERT_TABLE_GUIDS.vcek, data: await issueEndorsement(pki) },
    { guid: CERT_TABLE_GUIDS.ask, data: pki.ask.der },
    { guid: CERT_TABLE_GUIDS.ark, data: pki.ark.der },
  ])
  return { pki, hostCerts }
}

/** What `useSnpGuest` sets up for a test file. */
export interface SnpGuest {
  tmp: Awaited<ReturnType<typeof scratch>>
  built: BuiltAttesters
  driver: DriverEmulator
  pki: SnpPki
  hostCerts: Uint8Array
}

/**
 * Registers the file's beforeAll/afterAll: a scratch directory, the attesters and the shim built
 * in it, the driver emulator and a synthetic SEV-SNP host. The fields are set once beforeAll ran.
 */
export function useSnpGuest(prefix: string): SnpGuest {
  const guest = {} as SnpGuest
  beforeAll(async () => {
    guest.tmp = await scratch(prefix)
    const [built, driver, host] = await Promise.all([buildAttesters(guest.tmp.dir), DriverEmulator.start(guest.tmp.dir), syntheticSnpHost()])
    Object.assign(guest, { built, driver, ...host })
  })
  afterAll(async () => {
    await guest.driver?.close()
    await guest.tmp?.remove()
  })
  return guest
}
