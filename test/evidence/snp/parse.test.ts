import { generateKeyPairSync } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { parseReport } from '../../../src/evidence/snp/parse.js'
import {
  REPORT,
  REPORT_RESERVED,
  REPORT_SIZE,
  SIGNED_SIZE,
} from '../../../src/evidence/snp/report-layout.js'
import { encodeReport, reportFields, signReport, type ReportFields } from '../../generators/snp.js'
import { codeOf } from './codes.js'

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
const valid = (overrides: Partial<ReportFields> = {}, product: 'Milan' | 'Genoa' | 'Turin' = 'Milan'): Uint8Array =>
  signReport(encodeReport(reportFields(product, overrides)), privateKey)

describe('report layout', () => {
  test('fields lie inside the report, do not overlap, and the signed range ends where SIGNATURE starts', () => {
    const fields = Object.values(REPORT).sort((a, b) => a.at - b.at)
    for (let i = 1; i < fields.length; i++) {
      const prev = fields[i - 1]!
      expect(prev.at + prev.size).toBeLessThanOrEqual(fields[i]!.at)
    }
    expect(REPORT.signature.at).toBe(SIGNED_SIZE)
    expect(REPORT.signature.at + REPORT.signature.size).toBe(REPORT_SIZE)
  })

  test('no reserved range overlaps a field the version uses', () => {
    for (const [version, ranges] of Object.entries(REPORT_RESERVED)) {
      const v = Number(version)
      const used = Object.entries(REPORT).filter(([name]) => {
        if (name.startsWith('cpuid')) return v >= 3
        if (name.endsWith('MitVector')) return v >= 5
        return true
      })
      for (const [from, to] of ranges) {
        for (const [, f] of used) expect(f.at + f.size <= from || f.at >= to).toBe(true)
      }
    }
  })
})

describe('parseReport', () => {
  test('decodes every field the generator wrote (v2, v3, v5)', () => {
    for (const version of [2, 3, 5]) {
      const fields = reportFields('Genoa', { version })
      const r = parseReport(signReport(encodeReport(fields), privateKey))
      expect(r.version).toBe(version)
      expect(r.measurement).toEqual(fields.measurement)
      expect(r.cpuid).toEqual(version >= 3 ? fields.cpuid : undefined)
      expect(r.launchMitVector).toBe(version >= 5 ? fields.launchMitVector : undefined)
    }
  })

  test('exact size: truncated or oversized is evidence-malformed', () => {
    const r = valid()
    expect(codeOf(() => parseReport(r.subarray(0, REPORT_SIZE - 1)))).toBe('evidence-malformed')
    expect(codeOf(() => parseReport(new Uint8Array([...r, 0])))).toBe('evidence-malformed')
    expect(codeOf(() => parseReport(new Uint8Array(0)))).toBe('evidence-malformed')
  })

  test('unknown versions are evidence-unsupported', () => {
    for (const version of [0, 1, 4, 6, 0xffffffff]) {
      expect(codeOf(() => parseReport(valid({ version })))).toBe('evidence-unsupported')
    }
  })

  test('unknown signature algorithm is evidence-unsupported', () => {
    expect(codeOf(() => parseReport(valid({ signatureAlgo: 2 })))).toBe('evidence-unsupported')
    expect(codeOf(() => parseReport(valid({ signatureAlgo: 0 })))).toBe('evidence-unsupported')
  })

  test('each reserved byte, set alone, is evidence-malformed (per version)', () => {
    for (const version of [2, 3, 5]) {
      const base = valid({ version })
      for (const [from, to] of REPORT_RESERVED[version]!) {
        for (const at of [from, to - 1]) {
          const b = base.slice()
          b[at] = 0x01
          expect(codeOf(() => parseReport(b)), `v${version} byte 0x${at.toString(16)}`).toBe('evidence-malformed')
        }
      }
    }
  })

  test('reserved bytes 0x1eb, unused signature bytes and r/s upper bytes must be zero', () => {
    for (const at of [0x1eb, 0x1ef, REPORT.signature.at + 0x90, REPORT_SIZE - 1, REPORT.signature.at + 48, REPORT.signature.at + 0x48 + 71]) {
      const b = valid()
      b[at] = 0x80
      expect(codeOf(() => parseReport(b)), `0x${at.toString(16)}`).toBe('evidence-malformed')
    }
  })

  test('policy: reserved bits 63:26 set or bit 17 clear is evidence-malformed; flags decode', () => {
    const base = reportFields('Milan').policy
    expect(codeOf(() => parseReport(valid({ policy: base | (1n << 26n) })))).toBe('evidence-malformed')
    expect(codeOf(() => parseReport(valid({ policy: base | (1n << 63n) })))).toBe('evidence-malformed')
    expect(codeOf(() => parseReport(valid({ policy: base & ~(1n << 17n) })))).toBe('evidence-malformed')
    const r = parseReport(valid({ policy: base | (1n << 19n) | (1n << 18n) | 0x0105n }))
    expect(r.policyFlags).toMatchObject({ debug: true, migrateMa: true, smt: true, abiMajor: 1, abiMinor: 5, singleSocket: false })
  })

  test('signer info: signing key VCEK/VLEK/none decode, reserved values are evidence-malformed', () => {
    expect(parseReport(valid({ signingKey: 0 })).signingKey).toBe('vcek')
    expect(parseReport(valid({ signingKey: 1, maskChipKey: true })).signingKey).toBe('vlek')
    expect(parseReport(valid({ signingKey: 7 })).signingKey).toBe('none')
    for (const signingKey of [2, 3, 6]) expect(codeOf(() => parseReport(valid({ signingKey })))).toBe('evidence-malformed')
    const b = valid()
    b[REPORT.signerInfo.at] = 0x20 // bit 5: reserved
    expect(codeOf(() => parseReport(b))).toBe('evidence-malformed')
  })

  test('VMPL above 3 is evidence-malformed', () => {
    expect(parseReport(valid({ vmpl: 3 })).vmpl).toBe(3)
    expect(codeOf(() => parseReport(valid({ vmpl: 4 })))).toBe('evidence-malformed')
  })

  test('kept fields are copies, not views of the input', () => {
    const b = valid()
    const r = parseReport(b)
    b.fill(0)
    expect(r.measurement.every((x) => x === 0xa1)).toBe(true)
  })
})

describe('parseReport properties', () => {
  test('arbitrary bytes: only evidence-malformed or evidence-unsupported escape', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 2 * REPORT_SIZE }), fc.uint8Array({ minLength: REPORT_SIZE, maxLength: REPORT_SIZE })), (bytes) => {
        expect(['ok', 'evidence-malformed', 'evidence-unsupported']).toContain(codeOf(() => parseReport(bytes)))
      }),
      { numRuns: 500 },
    )
  })

  test('a valid report mutated at random bytes: only ok, evidence-malformed or evidence-unsupported', () => {
    const base = valid()
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(REPORT_SIZE - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), (edits) => {
        const b = base.slice()
        for (const [at, v] of edits) b[at] = v
        expect(['ok', 'evidence-malformed', 'evidence-unsupported']).toContain(codeOf(() => parseReport(b)))
      }),
      { numRuns: 500 },
    )
  })

  test('truncation at any offset is evidence-malformed', () => {
    const base = valid()
    fc.assert(
      fc.property(fc.nat(REPORT_SIZE - 1), (n) => {
        expect(codeOf(() => parseReport(base.subarray(0, n)))).toBe('evidence-malformed')
      }),
      { numRuns: 300 },
    )
  })

  test('parse(generate(x)) gives back x', () => {
    const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
    const fw = fc.record({ major: fc.integer({ min: 0, max: 255 }), minor: fc.integer({ min: 0, max: 255 }), build: fc.integer({ min: 0, max: 255 }) })
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })
    const fieldsArb = fc
      .record({
        version: fc.constantFrom(2, 3, 5),
        guestSvn: fc.nat({ max: 0xffffffff }),
        policyBits: fc.bigInt({ min: 0n, max: (1n << 26n) - 1n }),
        familyId: bytes(16),
        imageId: bytes(16),
        vmpl: fc.integer({ min: 0, max: 3 }),
        currentTcb: u64,
        platformInfo: u64,
        authorKeyEn: fc.boolean(),
        maskChipKey: fc.boolean(),
        signingKey: fc.constantFrom(0, 1, 7),
        reportData: bytes(64),
        measurement: bytes(48),
        hostData: bytes(32),
        idKeyDigest: bytes(48),
        authorKeyDigest: bytes(48),
        reportId: bytes(32),
        reportIdMa: bytes(32),
        reportedTcb: u64,
        cpuid: fc.record({ family: fc.integer({ min: 0, max: 255 }), model: fc.integer({ min: 0, max: 255 }), stepping: fc.integer({ min: 0, max: 255 }) }),
        chipId: bytes(64),
        committedTcb: u64,
        currentVersion: fw,
        committedVersion: fw,
        launchTcb: u64,
        launchMitVector: u64,
        currentMitVector: u64,
      })
    fc.assert(
      fc.property(fieldsArb, (x) => {
        const { policyBits, ...rest } = x
        const fields: ReportFields = {
          ...rest,
          signatureAlgo: 1,
          policy: policyBits | (1n << 17n),
          cpuid: x.version >= 3 ? x.cpuid : undefined,
          launchMitVector: x.version >= 5 ? x.launchMitVector : undefined,
          currentMitVector: x.version >= 5 ? x.currentMitVector : undefined,
        }
        const r = parseReport(signReport(encodeReport(fields), privateKey))
        const signingKeys: Record<number, string> = { 0: 'vcek', 1: 'vlek', 7: 'none' }
        expect({
          version: r.version, guestSvn: r.guestSvn, policy: r.policy, familyId: r.familyId, imageId: r.imageId, vmpl: r.vmpl,
          signatureAlgo: r.signatureAlgo, currentTcb: r.currentTcb, platformInfo: r.platformInfo, authorKeyEn: r.authorKeyEn,
          maskChipKey: r.maskChipKey, signingKey: r.signingKey, reportData: r.reportData, measurement: r.measurement,
          hostData: r.hostData, idKeyDigest: r.idKeyDigest, authorKeyDigest: r.authorKeyDigest, reportId: r.reportId,
          reportIdMa: r.reportIdMa, reportedTcb: r.reportedTcb, cpuid: r.cpuid, chipId: r.chipId, committedTcb: r.committedTcb,
          currentVersion: r.currentVersion, committedVersion: r.committedVersion, launchTcb: r.launchTcb,
          launchMitVector: r.launchMitVector, currentMitVector: r.currentMitVector,
        }).toEqual({ ...fields, signingKey: signingKeys[fields.signingKey] })
      }),
      { numRuns: 200 },
    )
  })
})
