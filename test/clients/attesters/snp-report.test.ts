/**
 * keybroker-snp-report, built with -Werror (and ASan + UBSan where the toolchain has them), run
 * under the LD_PRELOAD shim against an emulated sev-guest driver (see driver.ts; synthetic
 * reports from test/generators/snp.ts because CI has no SEV-SNP guest): the request structures
 * byte for byte, the evidence it prints accepted by keybroker's `snp` verifier with the binding
 * intact, the certificate-buffer negotiation, bounded retries when the host throttles, and a
 * clear message with a non-zero exit for every failure.
 */
import { createHash } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../../src/evidence/reader.js'
import { verifySnpWireEvidence } from '../../../src/evidence/snp/index.js'
import { GEN_NOW, type SnpPki } from '../../generators/snp.js'
import { asyncCodeOf } from '../../support/error-code.js'
import { run } from '../clevis/tools.js'
import {
  DriverEmulator,
  ERRNO,
  parseSnpCall,
  sevGuest,
  shimEnv,
  SNP_GET_EXT_REPORT,
  SNP_GET_REPORT,
  useSnpGuest,
  type BuiltAttesters,
  type SnpGuest,
  type SevGuestScript,
} from './driver.js'

const REPORT_DATA = new Uint8Array(64).map((_, i) => (i * 29 + 7) & 0xff)
const HEX = toHex(REPORT_DATA)

const guest = useSnpGuest('kb-snp-report-')
let tmp: SnpGuest['tmp']
let built: BuiltAttesters
let driver: DriverEmulator
let pki: SnpPki
let hostCerts: Uint8Array
let rdFile: string

beforeAll(async () => {
  ;({ tmp, built, driver, pki, hostCerts } = guest)
  rdFile = await tmp.file('report-data', REPORT_DATA)
})

async function attest(script: Partial<SevGuestScript>, args: string[] = [HEX, rdFile], env: Record<string, string> = {}) {
  driver.reset(sevGuest({ pki, ...script }))
  return run(built.snp, args, { env: { ...shimEnv(built, driver), ...env } })
}

async function verify(stdout: Buffer) {
  const evidence = JSON.parse(stdout.toString())
  return verifySnpWireEvidence(evidence, { now: GEN_NOW, collateral: { get: async () => undefined } }, {
    extraPinnedArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }],
    useBuiltinAmdCertificates: false,
  })
}

describe('keybroker-snp-report against an emulated /dev/sev-guest', () => {
  it('is built with -Wall -Wextra -Werror, under ASan + UBSan where the toolchain has them (CI requires them)', async () => {
    if (process.env['KEYBROKER_TEST_REQUIRE_SANITIZERS'] === '1') expect(built.sanitized).toBe(true)
    const linked = await run('ldd', [built.snp])
    expect(linked.stdout.toString().includes('libasan')).toBe(built.sanitized)
  })

  it('asks SNP_GET_EXT_REPORT with the report data, VMPL 0, message version 1 and a 16 KiB certificate buffer, byte for byte', async () => {
    const r = await attest({ hostCerts })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const ioctls = driver.ioctls()
    expect(ioctls).toHaveLength(1)
    expect(ioctls[0]?.request).toBe(SNP_GET_EXT_REPORT)
    const req = parseSnpCall(ioctls[0] ?? { kind: 'ioctl', device: 'sev-guest', request: 0n, parts: [] })
    // struct snp_guest_request_ioctl: msg_version 1, padding zero, exitinfo2 zero on input.
    expect(req.guest.byteLength).toBe(32)
    expect(Array.from(req.guest.slice(0, 8))).toEqual([1, 0, 0, 0, 0, 0, 0, 0])
    expect(Buffer.from(req.guest).readBigUInt64LE(8)).not.toBe(0n)
    expect(Buffer.from(req.guest).readBigUInt64LE(16)).not.toBe(0n)
    expect(Buffer.from(req.guest).readBigUInt64LE(24)).toBe(0n)
    // struct snp_ext_report_req: user_data ‖ vmpl ‖ rsvd[28] = 0 ‖ certs_address ‖ certs_len.
    const expected = Buffer.concat([Buffer.from(REPORT_DATA), Buffer.from([0, 0, 0, 0]), Buffer.alloc(28)])
    expect(Buffer.from(req.req.slice(0, 96)).equals(expected)).toBe(true)
    expect(Buffer.from(req.req).readBigUInt64LE(96)).not.toBe(0n)
    expect(req.certsLen).toBe(16384)

    const evidence = JSON.parse(r.stdout.toString())
    expect(Object.keys(evidence)).toEqual(['type', 'report', 'certs'])
    expect(evidence.type).toBe('snp')
    // auxblob: the table up to the end of its last certificate, as configfs-tsm prints it.
    expect(Buffer.from(evidence.certs, 'base64').equals(Buffer.from(hostCerts))).toBe(true)
    const claims = await verify(r.stdout)
    expect(toHex(claims.reportData)).toBe(HEX)
    expect(claims.measurement).toBe('a1'.repeat(48))
  })

  it('--vmpl and KEYBROKER_SNP_VMPL set the VMPL of the request; the report carries it', async () => {
    for (const [args, env, vmpl] of [
      [['--vmpl', '2', HEX], {}, 2],
      [[HEX], { KEYBROKER_SNP_VMPL: '3' }, 3],
    ] as const) {
      const r = await attest({ hostCerts }, [...args], env)
      expect(r.code, r.stderr).toBe(0)
      expect(parseSnpCall(driver.ioctls()[0] ?? { kind: 'ioctl', device: 'sev-guest', request: 0n, parts: [] }).vmpl).toBe(vmpl)
      const report = Buffer.from(JSON.parse(r.stdout.toString()).report, 'base64')
      expect(report.readUInt32LE(0x30)).toBe(vmpl)
    }
  })

  it('--no-certs asks SNP_GET_REPORT (96-byte request) and prints the report alone; so does a host without certificates', async () => {
    const r = await attest({ hostCerts }, ['--no-certs', HEX])
    expect(r.code, r.stderr).toBe(0)
    expect(driver.ioctls().map((c) => c.request)).toEqual([SNP_GET_REPORT])
    const req = parseSnpCall(driver.ioctls()[0] ?? { kind: 'ioctl', device: 'sev-guest', request: 0n, parts: [] })
    expect(req.req.byteLength).toBe(96)
    expect(Buffer.from(req.req).equals(Buffer.concat([Buffer.from(REPORT_DATA), Buffer.alloc(32)]))).toBe(true)
    expect(Object.keys(JSON.parse(r.stdout.toString()))).toEqual(['type', 'report'])

    const none = await attest({})
    expect(none.code, none.stderr).toBe(0)
    expect(Object.keys(JSON.parse(none.stdout.toString()))).toEqual(['type', 'report'])
    // Without the certificates keybroker needs the VCEK from elsewhere: the verifier says so.
    expect(await asyncCodeOf(() => verify(none.stdout))).toBe('collateral-missing')
  })

  it('grows the certificate buffer once when the host names a larger size (EIO + INVALID_LEN), within the driver limit', async () => {
    const big = new Uint8Array(20000)
    big.set(hostCerts)
    // A driver with a larger buffer than today's 16 KiB: the second request asks the size named.
    const grown = await attest({ hostCerts: big, driverCertsMax: 32768 })
    expect(grown.code, grown.stderr).toBe(0)
    expect(driver.ioctls().map((c) => parseSnpCall(c).certsLen)).toEqual([16384, 20480])
    expect(toHex((await verify(grown.stdout)).reportData)).toBe(HEX)

    // Today's drivers refuse more than 16 KiB (EINVAL): the message says what to do.
    const refused = await attest({ hostCerts: big })
    expect(refused.code).toBe(1)
    expect(refused.stdout.byteLength).toBe(0)
    expect(refused.stderr).toMatch(/certificate table needs 20480 bytes, more than this driver accepts.*--no-certs/)
    expect(driver.ioctls()).toHaveLength(2)
  })

  it('retries a throttled request with back-off (EAGAIN, or EIO with vmm_error BUSY), and gives up after 5 attempts', async () => {
    for (const as of ['EAGAIN', 'BUSY'] as const) {
      const ok = await attest({ hostCerts, throttle: { as, times: 2 } })
      expect(ok.code, ok.stderr).toBe(0)
      expect(driver.ioctls()).toHaveLength(3)
      expect(ok.stderr.match(/throttling guest requests; retrying in \d+ ms/g)).toHaveLength(2)
      expect(toHex((await verify(ok.stdout)).reportData)).toBe(HEX)

      const never = await attest({ hostCerts, throttle: { as, times: 100 } })
      expect(never.code).toBe(1)
      expect(never.stdout.byteLength).toBe(0)
      expect(driver.ioctls()).toHaveLength(5)
      expect(never.stderr).toMatch(/still throttling after 5 attempts/)
    }
  })

  it('names every driver and firmware failure and exits 1 with nothing on stdout', async () => {
    const cases: [Partial<SevGuestScript>, RegExp][] = [
      [{ openErrno: ERRNO.ENOENT }, /no \/dev\/sev-guest .*not an SEV-SNP guest, or the sev-guest driver is not loaded/],
      [{ openErrno: ERRNO.EACCES }, /cannot open \/dev\/sev-guest: Permission denied/],
      [{ failure: { errno: ERRNO.ENOTTY, exitinfo2: 0xffn } }, /ENOTTY.*disabled its VMPCK.*reboot/],
      [{ failure: { errno: ERRNO.ETIMEDOUT, exitinfo2: 2n << 32n } }, /throttled the request for longer than the driver waits/],
      [{ failure: { errno: ERRNO.EIO, exitinfo2: 0x16n } }, /firmware status 0x16 INVALID_PARAM \(EIO\)/],
      [{ failure: { errno: ERRNO.EIO, exitinfo2: 7n << 32n } }, /hypervisor answered error 7/],
      [{ failure: { errno: ERRNO.EFAULT } }, /SNP_GET_EXT_REPORT failed: Bad address/],
      [{ status: 0x16 }, /status 0x16 INVALID_PARAM \(is VMPL 0 below the guest's own VMPL/],
      [{ status: 0x27 }, /status 0x27 INVALID_KEY/],
      [{ tamper: 'report-data' }, /does not carry the requested REPORT_DATA and VMPL/],
      [{ tamper: 'vmpl' }, /does not carry the requested REPORT_DATA and VMPL/],
    ]
    for (const [script, message] of cases) {
      const r = await attest({ hostCerts, ...script })
      expect(r.code, JSON.stringify(script, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).toBe(1)
      expect(r.stdout.byteLength).toBe(0)
      expect(r.stderr).toMatch(message)
      expect(r.stderr).not.toMatch(/AddressSanitizer|runtime error/)
    }
  })

  it('refuses bad arguments with exit 2 before touching the device, and a report data file that disagrees with the hex', async () => {
    for (const args of [[], ['zz'.repeat(64)], [HEX.slice(2)], ['--vmpl', '4', HEX], ['--bogus', HEX], [HEX, rdFile, 'extra']]) {
      const r = await attest({ hostCerts }, args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stdout.byteLength).toBe(0)
    }
    expect(driver.calls).toHaveLength(0)
    const other = await tmp.file('other', createHash('sha512').update('other').digest())
    const r = await attest({ hostCerts }, [HEX, other])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/does not hold the 64 bytes given in hex/)
    expect(driver.calls).toHaveLength(0)
  })

  it('--probe opens the device and says whether it is there', async () => {
    const probe = await attest({}, ['--probe'])
    expect(probe.code).toBe(0)
    expect(driver.calls.map((c) => c.kind)).toEqual(['open'])
    const missing = await attest({ openErrno: ERRNO.ENOENT }, ['--probe'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/no \/dev\/sev-guest/)
  })
})
