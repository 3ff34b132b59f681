/**
 * In a confidential VM the host is the adversary: what it hands the attesters (the SEV-SNP
 * certificate table and report header, the TDX QGS response) is untrusted input to C code.
 * Property tests (fast-check) feed arbitrary and structurally plausible answers through the
 * emulated driver and QGS (driver.ts) to the attesters built under ASan + UBSan: they exit 0 or
 * 1, never crash or trip a sanitizer, and what they print on success is exactly the bytes the
 * answer's own lengths delimit.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../../src/evidence/reader.js'
import { createTdxPki, type TdxPki } from '../../generators/tdx.js'
import { run } from '../clevis/tools.js'
import { QgsEmulator, qgsResponse, quoteFor, sevGuest, shimEnv, tdxGuest, useSnpGuest } from './driver.js'

const HEX = toHex(new Uint8Array(64).fill(0x42))
const RUNS = 30
const guest = useSnpGuest('kb-hostile-')
let qgs: QgsEmulator
let tdxPki: TdxPki

beforeAll(async () => {
  ;[qgs, tdxPki] = await Promise.all([QgsEmulator.start(guest.tmp.dir), createTdxPki()])
  return () => qgs.close()
})

function expectClean(r: { code: number | null; stderr: string }): void {
  expect([0, 1]).toContain(r.code)
  expect(r.stderr).not.toMatch(/AddressSanitizer|LeakSanitizer|runtime error|ioctl-shim/)
}

/** A certificate table with entries whose offsets and lengths are anything, within 16 KiB. */
const certTable = fc
  .record({
    entries: fc.array(fc.record({ guid: fc.uint8Array({ minLength: 16, maxLength: 16 }), offset: fc.nat(20_000), length: fc.nat(20_000) }), { maxLength: 5 }),
    terminated: fc.boolean(),
    tail: fc.uint8Array({ maxLength: 3000 }),
  })
  .map(({ entries, terminated, tail }) => {
    const head = Buffer.alloc((entries.length + (terminated ? 1 : 0)) * 24)
    entries.forEach((e, i) => {
      head.set(e.guid, i * 24)
      head.writeUInt32LE(e.offset, i * 24 + 16)
      head.writeUInt32LE(e.length, i * 24 + 20)
    })
    return new Uint8Array(Buffer.concat([head, Buffer.from(tail)]).subarray(0, 16384))
  })

describe('keybroker-snp-report against a hostile host', () => {
  it('any certificate table: exit 0 or 1, no sanitizer finding; printed certs are the table up to its last certificate', async () => {
    await fc.assert(
      fc.asyncProperty(certTable, async (blob) => {
        guest.driver.reset(sevGuest({ pki: guest.pki, hostCerts: blob }))
        const r = await run(guest.built.snp, [HEX], { env: shimEnv(guest.built, guest.driver) })
        expectClean(r)
        if (r.code !== 0) return
        const printed = JSON.parse(r.stdout.toString()) as { certs?: string }
        if (printed.certs === undefined) return
        const certs = Buffer.from(printed.certs, 'base64')
        const padded = Buffer.alloc(16384)
        padded.set(blob)
        expect(certs.equals(padded.subarray(0, certs.byteLength))).toBe(true)
      }),
      { numRuns: RUNS },
    )
  })

  it('any MSG_REPORT_RSP status and REPORT_SIZE: only status 0 with 0x4A0 bytes is printed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(0xffffffff), fc.oneof(fc.constant(0x4a0), fc.nat(0xffffffff)), async (status, reportSize) => {
        guest.driver.reset(sevGuest({ pki: guest.pki, status: status % 3 === 0 ? 0 : status, reportSize }))
        const r = await run(guest.built.snp, ['--no-certs', HEX], { env: shimEnv(guest.built, guest.driver) })
        expectClean(r)
        expect(r.code === 0).toBe(status % 3 === 0 && reportSize === 0x4a0)
      }),
      { numRuns: RUNS },
    )
  })
})

describe('keybroker-tdx-report against a hostile QGS', () => {
  /** Arbitrary bytes, or a GET_QUOTE_RESP whose header fields and lengths are anything. */
  const response = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .record({
        major: fc.oneof(fc.constant(1), fc.nat(0xffff)),
        type: fc.oneof(fc.constant(1), fc.nat(0xffffffff)),
        sizeDelta: fc.oneof(fc.constant(0), fc.integer({ min: -30, max: 30 })),
        error: fc.oneof(fc.constant(0), fc.nat(0xffffffff)),
        idSize: fc.oneof(fc.constant(0), fc.nat(0xffffffff)),
        quoteSize: fc.nat(0xffffffff),
        body: fc.uint8Array({ maxLength: 400 }),
      })
      .map((f) => {
        const b = Buffer.alloc(24 + f.body.byteLength)
        b.writeUInt16LE(f.major, 0)
        b.writeUInt32LE(f.type, 4)
        b.writeUInt32LE(Math.max(0, b.byteLength + f.sizeDelta), 8)
        b.writeUInt32LE(f.error, 12)
        b.writeUInt32LE(f.idSize, 16)
        b.writeUInt32LE(f.quoteSize % 3 === 0 ? Math.max(0, f.body.byteLength - f.idSize) : f.quoteSize, 20)
        b.set(f.body, 24)
        return new Uint8Array(b)
      }),
  )

  it('any response: exit 0 or 1, no sanitizer finding; a printed quote is exactly the bytes the response delimits', async () => {
    await fc.assert(
      fc.asyncProperty(response, async (resp) => {
        guest.driver.reset(tdxGuest({ pki: tdxPki }))
        qgs.respond = () => resp
        const r = await run(guest.built.tdx, ['--qgs-port', '4050', HEX], { env: shimEnv(guest.built, guest.driver, qgs) })
        expectClean(r)
        if (r.code !== 0) return
        const b = Buffer.from(resp)
        const idSize = b.readUInt32LE(16)
        const quote = Buffer.from(JSON.parse(r.stdout.toString()).quote as string, 'base64')
        expect(quote.equals(b.subarray(24 + idSize))).toBe(true)
        expect(24 + idSize + quote.byteLength).toBe(b.byteLength)
      }),
      { numRuns: RUNS },
    )
    // And a well-formed response still goes through.
    qgs.respond = (req) => qgsResponse(quoteFor(tdxPki, req.report))
    guest.driver.reset(tdxGuest({ pki: tdxPki }))
    expect((await run(guest.built.tdx, ['--qgs-port', '4050', HEX], { env: shimEnv(guest.built, guest.driver, qgs) })).code).toBe(0)
  })
})
