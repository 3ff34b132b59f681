import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { toHex } from '../../../src/evidence/reader.js'
import { describeEvent, parseTcgEventLog, replayTcgEventLog, TPM_ALG } from '../../../src/evidence/tcg-event-log/index.js'
import {
  EFI_GLOBAL_VARIABLE,
  extend,
  startupLocality,
  variableData,
  writeAgileLog,
  writeSha1Log,
  type LogEvent,
} from '../../generators/tcg-event-log.js'
import { codeOf } from '../../support/error-code.js'

const VECTORS = new URL('../../vectors/tpm/go-attestation/', import.meta.url)
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, VECTORS)))
const sha256 = TPM_ALG.sha256
const sha1 = TPM_ALG.sha1
const replayEventLog = replayTcgEventLog
/** Event types used here (PFP rev. 1.05 table 9). */
const EV = {
  POST_CODE: 0x1,
  NO_ACTION: 0x3,
  SEPARATOR: 0x4,
  S_CRTM_VERSION: 0x8,
  IPL: 0xd,
  EFI_VARIABLE_DRIVER_CONFIG: 0x80000001,
  EFI_BOOT_SERVICES_APPLICATION: 0x80000003,
  EFI_ACTION: 0x80000007,
} as const
const hexReplay = (m: Map<number, Uint8Array>): Record<number, string> => Object.fromEntries([...m].map(([k, v]) => [k, toHex(v)]))

describe('real logs (MANIFEST values)', () => {
  test('go-attestation crypto_agile_eventlog: SHA-256 only, 26 events, replay per MANIFEST', () => {
    const log = parseTcgEventLog(read('crypto_agile_eventlog'))
    expect(log.format).toBe('crypto-agile')
    expect(log.specId?.algorithms).toEqual([{ algorithmId: TPM_ALG.sha256, digestSize: 32 }])
    expect(log.events).toHaveLength(1 + 26) // the Spec ID header, then 26 events
    const separator = '3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969'
    expect(hexReplay(replayEventLog(log, sha256))).toEqual({
      0: '1536de221b2187a421602cd81f43aa04496b0bd5a424d3b25b637a942080d0fa',
      1: 'f883c25efc566190a8449b54717cacb3f35fc83e4f8e19330b3e32a2b57bb03f',
      2: separator,
      3: separator,
      4: 'b0af298ea2ca63fe39d0f9887948f8c9ccedd1cca90b6ed20f0aa1f9cbd8504e',
      5: '3f2855fc9db5201707a42708e00f9f54ebf78e250152decbf5086cab1690add8',
      6: separator,
      7: '3d6207f9a2c3fa1db729f06e71b09d2e7ca7c0c198f6c1410c2186bbe2cc1826',
    })
  })

  test('events decode: secure-boot variables, boot variables, boot applications with their paths', () => {
    const log = parseTcgEventLog(read('crypto_agile_eventlog'))
    const described = log.events.map((e) => describeEvent(e, sha256))
    const vars = described.filter((d) => d.type === 'EV_EFI_VARIABLE_DRIVER_CONFIG').map((d) => d.details['variableName'])
    expect(vars).toEqual(['SecureBoot', 'PK', 'KEK', 'db', 'dbx'])
    expect(described.filter((d) => d.type === 'EV_EFI_VARIABLE_DRIVER_CONFIG').every((d) => d.digestMatchesData)).toBe(true)
    const apps = described.filter((d) => d.type === 'EV_EFI_BOOT_SERVICES_APPLICATION')
    expect(apps.map((a) => a.details['devicePath'])).toEqual([[], ['\\EFI\\centos\\grubx64.efi']])
    // The digest of an image event is the image's Authenticode hash, not a hash of the event data.
    expect(apps.every((a) => !a.digestMatchesData)).toBe(true)
    expect(described.filter((d) => d.type === 'EV_SEPARATOR').every((d) => d.details['value'] === '00000000')).toBe(true)
  })

  test('GCP Shielded VM (Windows): SHA-1 format log, 21 events, replays to the quoted PCRs', () => {
    const log = parseTcgEventLog(read('windows_gcp_shielded_vm.raw-eventlog.bin'))
    expect(log.format).toBe('sha1')
    expect(log.specId).toBeUndefined()
    expect(log.events).toHaveLength(21)
    expect(hexReplay(replayEventLog(log, sha1))).toEqual({
      0: '51c323de0c0c694f4601cdd02beb58ff13629f74',
      4: '0ca4b4a4784bf4eed9c3556aba1dac5585a5951a',
      5: '2b022297d4f1e0101c8c986be229c8dd0350514d',
      7: '859a5877266b5c909613468091a73380a5386786',
      11: 'ebb98df76613280f20dc38221143a9e727399486',
      12: '75f3e16b6ef0b455282ed8fbbdfcc3da9abd241d',
      13: '383de79fbdde6296205e2afe44800e0c053fc82f',
      14: '275a689f9d5f8244a4b999fabe600c5816be5511',
    })
  })

  test('a SHA-1 log cannot be replayed in the SHA-256 bank', () => {
    const log = parseTcgEventLog(read('windows_gcp_shielded_vm.raw-eventlog.bin'))
    expect(codeOf(() => replayEventLog(log, sha256))).toBe('evidence-malformed')
  })
})

const sample: LogEvent[] = [
  { pcrIndex: 0, eventType: EV.NO_ACTION, data: startupLocality(3) },
  { pcrIndex: 0, eventType: EV.S_CRTM_VERSION, data: new Uint8Array(Buffer.from('1.0\u0000', 'utf16le')) },
  { pcrIndex: 7, eventType: EV.EFI_VARIABLE_DRIVER_CONFIG, data: variableData(EFI_GLOBAL_VARIABLE, 'SecureBoot', new Uint8Array([1])) },
  { pcrIndex: 7, eventType: EV.SEPARATOR, data: new Uint8Array(4) },
  { pcrIndex: 8, eventType: EV.IPL, data: new Uint8Array(Buffer.from('kernel_cmdline: /vmlinuz root=/dev/vda1\u0000')) },
]

describe('synthetic logs', () => {
  test('parse(write(x)) gives back x, in both formats', () => {
    const agile = parseTcgEventLog(writeAgileLog(['sha1', 'sha256', 'sha384'], sample))
    expect(agile.format).toBe('crypto-agile')
    const events = agile.events.slice(1)
    expect(events.map((e) => [e.pcrIndex, e.eventType, toHex(e.data)])).toEqual(sample.map((e) => [e.pcrIndex, e.eventType, toHex(e.data)]))
    expect(events[2]!.digests.map((d) => d.algorithmId)).toEqual([TPM_ALG.sha1, TPM_ALG.sha256, TPM_ALG.sha384])
    const old = parseTcgEventLog(writeSha1Log(sample))
    expect(old.format).toBe('sha1')
    expect(old.events).toHaveLength(sample.length)
  })

  test('replay: StartupLocality sets PCR 0 to the locality, EV_NO_ACTION is not extended, every bank', () => {
    const log = parseTcgEventLog(writeAgileLog(['sha1', 'sha256'], sample))
    const locality3 = new Uint8Array(32)
    locality3[31] = 3
    const digest = (e: LogEvent, b: 'sha1' | 'sha256'): Uint8Array => new Uint8Array(createHash(b).update(e.data).digest())
    const r = replayEventLog(log, sha256)
    expect(toHex(r.get(0)!)).toBe(toHex(extend('sha256', [digest(sample[1]!, 'sha256')], locality3)))
    expect(toHex(r.get(7)!)).toBe(toHex(extend('sha256', [digest(sample[2]!, 'sha256'), digest(sample[3]!, 'sha256')])))
    expect(toHex(replayEventLog(log, sha1).get(8)!)).toBe(toHex(extend('sha1', [digest(sample[4]!, 'sha1')])))
    // CC logs have no startup locality: the option turns it off.
    expect(toHex(replayEventLog(log, sha256, { startupLocality: false }).get(0)!)).toBe(toHex(extend('sha256', [digest(sample[1]!, 'sha256')])))
  })

  test('decoded details: SecureBoot value, IPL text, S-CRTM version in UTF-16', () => {
    const log = parseTcgEventLog(writeAgileLog(['sha256'], sample))
    const d = log.events.slice(1).map((e) => describeEvent(e, sha256))
    expect(d[2]).toMatchObject({
      type: 'EV_EFI_VARIABLE_DRIVER_CONFIG',
      digestMatchesData: true,
      details: { variableName: 'SecureBoot', variableGuid: '8be4df61-93ca-11d2-aa0d-00e098032b8c', data: '01' },
    })
    expect(d[4]?.details).toEqual({ text: 'kernel_cmdline: /vmlinuz root=/dev/vda1' })
    expect(d[1]?.details).toEqual({ text: '1.0' })
    const forged = parseTcgEventLog(writeAgileLog(['sha256'], [{ ...sample[2]!, digests: { sha256: new Uint8Array(32) } }]))
    expect(describeEvent(forged.events[1]!, sha256).digestMatchesData).toBe(false)
  })

  test('zero and 0xFF padding after the last event are skipped (CCEL areas); other trailing bytes are malformed', () => {
    const log = writeAgileLog(['sha256'], sample)
    for (const fill of [0x00, 0xff]) {
      const padded = new Uint8Array(log.byteLength + 4096).fill(fill)
      padded.set(log)
      const parsed = parseTcgEventLog(padded)
      expect(parsed.events).toHaveLength(1 + sample.length)
      expect(parsed.length).toBe(log.byteLength)
    }
    const junk = new Uint8Array(log.byteLength + 3)
    junk.set(log)
    junk.set([1, 2, 3], log.byteLength)
    expect(codeOf(() => parseTcgEventLog(junk))).toBe('evidence-malformed')
  })

  test('structural defects are evidence-malformed, one at a time', () => {
    expect(codeOf(() => parseTcgEventLog(new Uint8Array(0)))).toBe('evidence-malformed')
    expect(codeOf(() => parseTcgEventLog(new Uint8Array(64)))).toBe('evidence-malformed')
    const log = writeAgileLog(['sha256'], sample)
    // Spec ID algorithm size wrong (SHA-256 declared as 20 bytes): the size field sits after
    // pcrIndex, type, digest[20], eventSize, signature[16], class, 4 version bytes, count, algId.
    const badSize = log.slice()
    const at = 4 + 4 + 20 + 4 + 16 + 4 + 4 + 4 + 2
    badSize[at] = 20
    expect(codeOf(() => parseTcgEventLog(badSize))).toBe('evidence-malformed')
    // Digest count of the first event differs from the header.
    const headerLength = 4 + 4 + 20 + 4 + new DataView(log.buffer).getUint32(28, true)
    const badCount = log.slice()
    badCount[headerLength + 8] = 2
    expect(codeOf(() => parseTcgEventLog(badCount))).toBe('evidence-malformed')
    // Event data size beyond the end.
    const badEventSize = writeSha1Log([{ pcrIndex: 1, eventType: 5, data: new Uint8Array(4) }])
    new DataView(badEventSize.buffer).setUint32(28, 0xfffffff0, true)
    expect(codeOf(() => parseTcgEventLog(badEventSize))).toBe('evidence-malformed')
  })

  test('truncating a valid log anywhere inside an event: evidence-malformed, or (where the cut leaves only padding-like bytes) fewer events', () => {
    const log = writeAgileLog(['sha1', 'sha256'], sample)
    const full = parseTcgEventLog(log).events.length
    let malformed = 0
    for (let cut = 1; cut < log.byteLength; cut++) {
      let events = 0
      const c = codeOf(() => {
        events = parseTcgEventLog(log.subarray(0, cut)).events.length
      })
      if (c === 'no-error') expect(events).toBeLessThan(full)
      else {
        expect(c).toBe('evidence-malformed')
        malformed++
      }
    }
    expect(malformed).toBeGreaterThan(log.byteLength * 0.9)
  })
})

describe('properties', () => {
  test('arbitrary bytes: a log or evidence-malformed, nothing else, never a hang', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const c = codeOf(() => {
          const log = parseTcgEventLog(bytes)
          for (const e of log.events) describeEvent(e, sha256)
        })
        expect(['no-error', 'evidence-malformed']).toContain(c)
      }),
      { numRuns: 3000 },
    )
  })

  test('arbitrary bytes behind a valid header: parsed or evidence-malformed; replay and describe never crash', () => {
    const header = writeAgileLog(['sha1', 'sha256'], [])
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1024 }), (tail) => {
        const bytes = new Uint8Array([...header, ...tail])
        const c = codeOf(() => {
          const log = parseTcgEventLog(bytes)
          replayEventLog(log, sha256)
          for (const e of log.events) describeEvent(e, sha1)
        })
        expect(['no-error', 'evidence-malformed']).toContain(c)
      }),
      { numRuns: 2000 },
    )
  })

  test('random event lists round-trip and replay like a hand-written extend', () => {
    const event = fc.record({
      pcrIndex: fc.integer({ min: 0, max: 23 }),
      eventType: fc.constantFrom(EV.IPL, EV.SEPARATOR, EV.EFI_ACTION, EV.EFI_BOOT_SERVICES_APPLICATION, EV.POST_CODE),
      data: fc.uint8Array({ maxLength: 80 }),
    })
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 20 }), (events) => {
        const log = parseTcgEventLog(writeAgileLog(['sha256'], events))
        expect(log.events).toHaveLength(1 + events.length)
        const replayed = replayEventLog(log, sha256)
        for (const pcr of new Set(events.map((e) => e.pcrIndex))) {
          const digests = events.filter((e) => e.pcrIndex === pcr).map((e) => new Uint8Array(createHash('sha256').update(e.data).digest()))
          expect(toHex(replayed.get(pcr)!)).toBe(toHex(extend('sha256', digests)))
        }
      }),
      { numRuns: 300 },
    )
  })
})
