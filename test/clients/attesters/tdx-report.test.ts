/**
 * keybroker-tdx-report, built with -Werror (and ASan + UBSan where available), under the
 * LD_PRELOAD shim against an emulated tdx-guest driver and QGS (driver.ts; synthetic quotes from
 * test/generators/tdx.ts, as CI has no TDX guest): the TDX_CMD_GET_REPORT0 request byte for byte,
 * the QGS GET_QUOTE_REQ over vsock (CID 2, the configured port, a 4-byte big-endian length) and
 * through TDX_CMD_GET_QUOTE (tdx_quote_hdr version 1, in_len, the framed message), the quote
 * accepted by keybroker's `tdx` verifier with the binding intact, and every failure named.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../../src/evidence/reader.js'
import { verifyTdxWireEvidence } from '../../../src/evidence/tdx/index.js'
import { createTdxPki, GEN_NOW, signedQeIdentity, signedTcbInfo, tcbSigningChainPem, type TdxPki } from '../../generators/tdx.js'
import { run, scratch } from '../clevis/tools.js'
import {
  buildAttesters,
  DriverEmulator,
  ERRNO,
  GET_QUOTE_IN_FLIGHT,
  GET_QUOTE_SERVICE_UNAVAILABLE,
  makeTdReport,
  parseQuoteIoctl,
  QgsEmulator,
  qgsResponse,
  quoteFor,
  shimEnv,
  TDX_CMD_GET_QUOTE,
  TDX_CMD_GET_REPORT0,
  tdxGuest,
  type BuiltAttesters,
  type TdxGuestScript,
} from './driver.js'

const REPORT_DATA = new Uint8Array(64).map((_, i) => (i * 13 + 101) & 0xff)
const HEX = toHex(REPORT_DATA)
const PORT = 4050

let tmp: Awaited<ReturnType<typeof scratch>>
let built: BuiltAttesters
let driver: DriverEmulator
let qgs: QgsEmulator
let pki: TdxPki

beforeAll(async () => {
  tmp = await scratch('kb-tdx-report-')
  ;[built, driver, qgs, pki] = await Promise.all([buildAttesters(tmp.dir), DriverEmulator.start(tmp.dir), QgsEmulator.start(tmp.dir), createTdxPki()])
})

afterAll(async () => {
  await driver?.close()
  await qgs?.close()
  await tmp?.remove()
})

async function attest(script: Partial<TdxGuestScript>, args: string[] = [HEX], env: Record<string, string> = {}) {
  driver.reset(tdxGuest({ pki, ...script }))
  qgs.exchanges.length = 0
  qgs.respond = (req) => qgsResponse(quoteFor(pki, req.report))
  return run(built.tdx, args, { env: { ...shimEnv(built, driver, qgs), KEYBROKER_TDX_ATTEST_CONF: `${tmp.dir}/no-such.conf`, ...env } })
}

async function verify(stdout: Buffer) {
  const evidence = JSON.parse(stdout.toString())
  expect(Object.keys(evidence)).toEqual(['type', 'quote'])
  expect(evidence.type).toBe('tdx')
  const collateral = {
    tcbInfo: Buffer.from(signedTcbInfo(pki)).toString('utf8'),
    qeIdentity: Buffer.from(signedQeIdentity(pki)).toString('utf8'),
    tcbSigningChain: Buffer.from(tcbSigningChainPem(pki)).toString('utf8'),
  }
  return verifyTdxWireEvidence({ ...evidence, collateral }, { now: GEN_NOW, collateral: { get: async () => undefined } }, { extraPinnedRoots: [pki.rootSpkiSha256] })
}

function expectReportRequest(): void {
  const calls = driver.ioctls().filter((c) => c.request === TDX_CMD_GET_REPORT0)
  expect(calls).toHaveLength(1)
  // struct tdx_report_req: reportdata[64] as given, tdreport[1024] zero on input.
  const req = calls[0]?.parts[0] ?? new Uint8Array(0)
  expect(req.byteLength).toBe(1088)
  expect(Buffer.from(req).equals(Buffer.concat([Buffer.from(REPORT_DATA), Buffer.alloc(1024)]))).toBe(true)
}

describe('keybroker-tdx-report against an emulated /dev/tdx_guest', () => {
  it('TDREPORT by TDX_CMD_GET_REPORT0, quote from the QGS over vsock (CID 2, the port, length-prefixed GET_QUOTE_REQ)', async () => {
    const r = await attest({}, ['--qgs-port', String(PORT), HEX])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expectReportRequest()
    expect(driver.ioctls().map((c) => c.request)).toEqual([TDX_CMD_GET_REPORT0])
    expect(qgs.exchanges).toHaveLength(1)
    const ex = qgs.exchanges[0]
    expect(ex).toMatchObject({ cid: 2, port: PORT, framedLength: 1048 })
    expect(ex?.message).toMatchObject({ major: 1, minor: 0, type: 0, size: 1048, errorCode: 0, reportSize: 1024, idListSize: 0 })
    expect(Buffer.from(ex?.message.report ?? []).equals(Buffer.from(makeTdReport(REPORT_DATA)))).toBe(true)
    const claims = await verify(r.stdout)
    expect(toHex(claims.reportData)).toBe(HEX)
    expect(claims.measurement).toBe('7d'.repeat(48))
  })

  it('takes the port from KEYBROKER_TDX_QGS_PORT or libtdx_attest’s `port = N` in /etc/tdx-attest.conf', async () => {
    const env = await attest({}, [HEX], { KEYBROKER_TDX_QGS_PORT: '4051' })
    expect(env.code, env.stderr).toBe(0)
    expect(qgs.exchanges[0]?.port).toBe(4051)
    const conf = await tmp.file('tdx-attest.conf', '# libtdx_attest configuration\n  port = 4052  \n')
    const fromConf = await attest({}, [HEX], { KEYBROKER_TDX_ATTEST_CONF: conf })
    expect(fromConf.code, fromConf.stderr).toBe(0)
    expect(qgs.exchanges[0]?.port).toBe(4052)
    const bad = await tmp.file('bad.conf', 'port = 40x\n')
    const refused = await attest({}, [HEX], { KEYBROKER_TDX_ATTEST_CONF: bad })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/'port' is not a port number/)
  })

  it('without a QGS port, asks the GetQuote TDVMCALL through TDX_CMD_GET_QUOTE (tdx_quote_hdr version 1, framed request)', async () => {
    const r = await attest({})
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expectReportRequest()
    const calls = driver.ioctls().filter((c) => c.request === TDX_CMD_GET_QUOTE)
    expect(calls).toHaveLength(1)
    const q = parseQuoteIoctl(calls[0] ?? { kind: 'ioctl', device: 'tdx_guest', request: 0n, parts: [] })
    expect(q).toMatchObject({ version: 1n, status: 0n, inLen: 4 + 1048, outLen: 0, bufLen: 16384, framedLength: 1048 })
    expect(q.message).toMatchObject({ major: 1, type: 0, reportSize: 1024, idListSize: 0 })
    expect(qgs.exchanges).toHaveLength(0)
    expect(toHex((await verify(r.stdout)).reportData)).toBe(HEX)
  })

  it('retries while the quote is in flight or the device is busy, bounded', async () => {
    for (const getQuote of [{ status: GET_QUOTE_IN_FLIGHT, times: 2 }, { errno: ERRNO.EBUSY, times: 2 }]) {
      const ok = await attest({ getQuote })
      expect(ok.code, ok.stderr).toBe(0)
      expect(driver.ioctls().filter((c) => c.request === TDX_CMD_GET_QUOTE)).toHaveLength(3)
      expect(ok.stderr.match(/busy; retrying in \d+ ms/g)).toHaveLength(2)
      const never = await attest({ getQuote: { ...getQuote, times: 100 } })
      expect(never.code).toBe(1)
      expect(never.stderr).toMatch(/still busy after 5 attempts/)
    }
    const report = await attest({ reportFailure: { errno: ERRNO.EBUSY, times: 1 } }, ['--qgs-port', '1', HEX])
    expect(report.code, report.stderr).toBe(0)
    expect(driver.ioctls().filter((c) => c.request === TDX_CMD_GET_REPORT0)).toHaveLength(2)
  })

  it('names every failure and exits 1 with nothing on stdout', async () => {
    const cases: [Partial<TdxGuestScript>, string[], RegExp, ((q: QgsEmulator) => void)?][] = [
      [{ openErrno: ERRNO.ENOENT }, [HEX], /no \/dev\/tdx_guest .*not a TDX guest, or the tdx-guest driver is not loaded/],
      [{ openErrno: ERRNO.EACCES }, [HEX], /cannot open \/dev\/tdx_guest: Permission denied/],
      [{ reportFailure: { errno: ERRNO.EIO } }, [HEX], /TDCALL TDG.MR.REPORT failed/],
      [{ reportFailure: { errno: ERRNO.ENOTTY } }, [HEX], /TDX_CMD_GET_REPORT0 refused .*another ABI/],
      [{ tamper: 'report-data' }, [HEX], /TDREPORT does not carry the requested REPORTDATA/],
      [{ getQuote: 'missing' }, [HEX], /no GetQuote ioctl \(mainline before 6\.7\).*KEYBROKER_TDX_QGS_PORT.*configfs-tsm/],
      [{ getQuote: { status: GET_QUOTE_SERVICE_UNAVAILABLE } }, [HEX], /no quote generation service/],
      [{ getQuote: { status: 0x8000000000000000n } }, [HEX], /failed to make a quote \(status 0x8000000000000000, GET_QUOTE_ERROR\)/],
      [{ qgsError: 0x12001 }, [HEX], /QGS could not make a quote: error 0x12001/],
      [{}, ['--qgs-port', '9', HEX], /QGS could not make a quote: error 0xe/, (q) => (q.respond = () => qgsResponse(undefined, 0xe))],
      [{}, ['--qgs-port', '9', HEX], /lengths do not add up/, (q) => (q.respond = (req) => {
        const m = Buffer.from(qgsResponse(quoteFor(pki, req.report)))
        m.writeUInt32LE(m.readUInt32LE(20) + 1, 20) // quote_size one past the message
        return new Uint8Array(m)
      })],
    ]
    for (const [script, args, message, qgsSetup] of cases) {
      driver.reset(tdxGuest({ pki, ...script }))
      qgs.exchanges.length = 0
      qgs.respond = (req) => qgsResponse(quoteFor(pki, req.report))
      qgsSetup?.(qgs)
      const r = await run(built.tdx, args, { env: { ...shimEnv(built, driver, qgs), KEYBROKER_TDX_ATTEST_CONF: `${tmp.dir}/none` } })
      expect(r.code, `${message}: ${r.stderr}`).toBe(1)
      expect(r.stdout.byteLength).toBe(0)
      expect(r.stderr).toMatch(message)
      expect(r.stderr).not.toMatch(/AddressSanitizer|runtime error/)
    }
  })

  it('a QGS that cannot be reached is named with its vsock address', async () => {
    driver.reset(tdxGuest({ pki }))
    const env = { ...shimEnv(built, driver), KB_SHIM_QGS_SOCKET: `${tmp.dir}/nobody.sock`, KEYBROKER_TDX_ATTEST_CONF: `${tmp.dir}/none` }
    const r = await run(built.tdx, ['--qgs-port', '4050', HEX], { env })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot reach the QGS at vsock 2:4050/)
  })

  it('refuses bad arguments with exit 2 before touching the device', async () => {
    for (const args of [[], ['--qgs-port', '0', HEX], ['--qgs-port', 'x', HEX], [HEX.toUpperCase().slice(1)], ['--what', HEX]]) {
      const r = await attest({}, args)
      expect(r.code, args.join(' ')).toBe(2)
    }
    expect(driver.calls).toHaveLength(0)
    expect((await attest({}, ['--probe'])).code).toBe(0)
  })
})
