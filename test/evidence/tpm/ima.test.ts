import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { fromBase64, toHex } from '../../../src/evidence/reader.js'
import { hashByName } from '../../../src/evidence/tpm/algorithms.js'
import { checkImaLog } from '../../../src/evidence/tpm/ima/check.js'
import { parseImaAscii, parseImaBinary, parseImaLog } from '../../../src/evidence/tpm/ima/parse.js'
import { replayIma } from '../../../src/evidence/tpm/ima/replay.js'
import { asciiList, binaryList, fileEntry, replayed, type ImaTestEntry } from '../../generators/ima.js'
import { codeOf } from '../../support/error-code.js'

const DIR = new URL('../../vectors/tpm/cosmian/ima/', import.meta.url)
const bin = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, DIR)))
const text = (name: string): string => readFileSync(new URL(name, DIR), 'utf8')
const sha1 = hashByName('sha1')!
const sha256 = hashByName('sha256')!
const pcr10 = (entries: Parameters<typeof replayIma>[0], h = sha256): string => toHex(replayIma(entries, h).get(10)!)

describe('Cosmian IMA lists (values from cosmian/README.md)', () => {
  test('ima.bin: 446 ima-ng entries; PCR 10 in both banks', () => {
    const log = parseImaBinary(bin('ima.bin'))
    expect(log.entries).toHaveLength(446)
    expect(log.entries.every((e) => e.template === 'ima-ng' && e.pcr === 10)).toBe(true)
    expect(log.entries[0]).toMatchObject({ path: 'boot_aggregate', fileHashAlgorithm: 'sha1' })
    expect(pcr10(log.entries, sha1)).toBe('d3a3689b986b31283f022ba100e25b2a3270c0da')
    expect(pcr10(log.entries)).toBe('2b053a7a06a3dc701f610394cb6bd38f5feb2ab3eaf2e08c5420c3e0fb8e5ec7')
  })

  test('ima.ascii is the same list as ima.bin, entry for entry', () => {
    const a = parseImaAscii(text('ima.ascii'))
    const b = parseImaBinary(bin('ima.bin'))
    expect(a.entries.map((e) => [e.path, toHex(e.fileHash!), toHex(e.templateHash)])).toEqual(b.entries.map((e) => [e.path, toHex(e.fileHash!), toHex(e.templateHash)]))
    expect(pcr10(a.entries)).toBe('2b053a7a06a3dc701f610394cb6bd38f5feb2ab3eaf2e08c5420c3e0fb8e5ec7')
  })

  test('ima-sig lists and the list with violations replay to the README values', () => {
    expect(pcr10(parseImaBinary(bin('ima-sig.bin')).entries)).toBe('a7e679eb591decf3aa5c14ee322554417b4ecea780d87afd41aaa27fb8ca23ba')
    expect(pcr10(parseImaBinary(bin('ima-sig2.bin')).entries)).toBe('1ae45e0fc3f1f63f11276f23bf94e38d26785d366a8efd799e5d37bb7effbd9d')
    const withViolations = parseImaBinary(bin('ima_with_000000.bin'))
    expect(withViolations.entries).toHaveLength(2127)
    expect(withViolations.entries.some((e) => e.templateHash.every((b) => b === 0))).toBe(true)
    expect(pcr10(withViolations.entries)).toBe('c7021e286ff291fc28affca8b97a7d0e06ea8ec192646c5f42d463f6ce394e9e')
  })

  test('ASCII lists with SHA-256 and SHA-512 file hashes parse with every template hash matching', () => {
    const s256 = parseImaAscii(text('ima_256.ascii'))
    expect(s256.entries).toHaveLength(439)
    expect(s256.entries.slice(1).every((e) => e.fileHashAlgorithm === 'sha256' && e.fileHash?.byteLength === 32)).toBe(true)
    const s512 = parseImaAscii(text('ima_512.ascii'))
    expect(s512.entries).toHaveLength(434)
    expect(s512.entries.slice(1).every((e) => e.fileHashAlgorithm === 'sha512')).toBe(true)
  })

  test('parseImaLog takes ASCII text, base64 of the ASCII list, or base64 of the binary list', () => {
    const decode = (t: string) => fromBase64(t, 'imaLog')
    expect(parseImaLog(text('ima.ascii'), decode).form).toBe('ascii')
    expect(parseImaLog(Buffer.from(text('ima.ascii')).toString('base64'), decode).form).toBe('ascii')
    expect(parseImaLog(Buffer.from(bin('ima.bin')).toString('base64'), decode).form).toBe('binary')
  })

  test('a changed file hash in an ASCII line no longer matches its template hash', () => {
    const lines = text('ima.ascii').split('\n')
    lines[3] = lines[3]!.replace(/sha1:([0-9a-f])/, (_m, c: string) => `sha1:${c === '0' ? '1' : '0'}`)
    expect(codeOf(() => parseImaAscii(lines.join('\n')))).toBe('evidence-malformed')
  })
})

const files: ImaTestEntry[] = [
  fileEntry('boot_aggregate', 'boot'),
  fileEntry('/usr/bin/bash', 'bash'),
  fileEntry('/opt/app with space/run', 'app'),
  { ...fileEntry('/usr/lib/signed.so', 'lib', 'ima-sig'), signature: new Uint8Array([3, 2, 4, 9, 9]) },
  fileEntry('/etc/unsigned.conf', 'conf', 'ima-sig'),
]

describe('synthetic lists', () => {
  test('both forms parse to the same entries; paths with spaces and ima-sig signatures survive', () => {
    for (const log of [parseImaAscii(asciiList(files)), parseImaBinary(binaryList(files))]) {
      expect(log.entries.map((e) => e.path)).toEqual(files.map((f) => f.path))
      expect(log.entries[3]?.signature).toEqual(new Uint8Array([3, 2, 4, 9, 9]))
      expect(log.entries[4]?.signature).toBeUndefined()
      expect(pcr10(log.entries)).toBe(replayed(files, 'sha256').toString('hex'))
    }
  })

  test('checkImaLog: replay equal to the quoted PCR 10 gives the files; an appended entry does not', () => {
    const quoted = new Map([['sha256' as const, new Map([[10, replayed(files, 'sha256').toString('hex')]])]])
    const m = checkImaLog(parseImaAscii(asciiList(files)), quoted, 100)
    expect(m.verifiedPcrs).toEqual([10])
    expect(m.files[1]).toEqual({ pcr: 10, template: 'ima-ng', path: '/usr/bin/bash', fileHash: `sha256:${files[1]!.digest}`, violation: false, signed: false })
    expect(m.files[3]?.signed).toBe(true)
    const appended = asciiList([...files, fileEntry('/tmp/after-the-quote', 'x')])
    expect(codeOf(() => checkImaLog(parseImaAscii(appended), quoted, 100))).toBe('event-log-mismatch')
    // PCR 10 not quoted at all: nothing verifies the list.
    expect(codeOf(() => checkImaLog(parseImaAscii(asciiList(files)), new Map([['sha256' as const, new Map([[7, '00'.repeat(32)]])]]), 100))).toBe(
      'event-log-mismatch',
    )
  })

  test('the ima template (SHA-1 digest, name padded to 256 bytes) round-trips through the binary form', () => {
    const u32 = (n: number) => {
      const b = Buffer.alloc(4)
      b.writeUInt32LE(n)
      return b
    }
    const digest = Buffer.alloc(20, 7)
    const name = Buffer.from('/sbin/init')
    const padded = Buffer.concat([name, Buffer.alloc(256 - name.length)])
    const hash = createHash('sha1').update(Buffer.concat([digest, padded])).digest()
    const rec = Buffer.concat([u32(10), hash, u32(3), Buffer.from('ima'), digest, u32(name.length), name])
    const log = parseImaBinary(rec)
    expect(log.entries[0]).toMatchObject({ template: 'ima', path: '/sbin/init', fileHashAlgorithm: 'sha1' })
    const ascii = `10 ${hash.toString('hex')} ima ${digest.toString('hex')} /sbin/init\n`
    expect(parseImaAscii(ascii).entries[0]?.path).toBe('/sbin/init')
  })
})

describe('properties', () => {
  test('arbitrary bytes as a binary list: entries or evidence-malformed, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1024 }), (bytes) => {
        expect(['no-error', 'evidence-malformed']).toContain(codeOf(() => parseImaBinary(bytes)))
      }),
      { numRuns: 2000 },
    )
  })

  test('arbitrary text as an ASCII list: entries, evidence-malformed or evidence-unsupported', () => {
    const line = fc.tuple(fc.constantFrom('10', '1', 'x'), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 48 }), fc.constantFrom('ima-ng', 'ima-sig', 'ima', 'ima-buf', 'ima-modsig', 'foo'), fc.string({ maxLength: 60 }))
    fc.assert(
      fc.property(fc.array(line, { maxLength: 5 }), fc.string({ maxLength: 200 }), (lines, junk) => {
        const t = lines.map((l) => l.join(' ')).join('\n') + junk
        expect(['no-error', 'evidence-malformed', 'evidence-unsupported']).toContain(codeOf(() => parseImaAscii(t)))
      }),
      { numRuns: 2000 },
    )
  })

  test('truncating a binary list anywhere but at an entry boundary is evidence-malformed', () => {
    const list = binaryList(files.slice(0, 3))
    const boundaries = new Set<number>([0])
    let at = 0
    for (const f of files.slice(0, 3)) {
      at += binaryList([f]).length
      boundaries.add(at)
    }
    for (let cut = 1; cut < list.length; cut++) {
      if (boundaries.has(cut)) continue
      expect(codeOf(() => parseImaBinary(list.subarray(0, cut)))).toBe('evidence-malformed')
    }
  })

  test('flipping any bit of a binary entry is caught (malformed) or changes the replay, except in the template name (not hashed by the kernel either)', () => {
    const list = binaryList(files)
    const good = replayed(files, 'sha256').toString('hex')
    fc.assert(
      fc.property(fc.integer({ min: 0, max: list.length * 8 - 1 }), (bit) => {
        const flipped = Buffer.from(list)
        flipped[bit >> 3]! ^= 1 << (bit & 7)
        let value: string | undefined
        let templates: string[] = []
        const c = codeOf(() => {
          const entries = parseImaBinary(flipped).entries
          templates = entries.map((e) => e.template)
          value = pcr10(entries)
        })
        if (c !== 'no-error') expect(c).toBe('evidence-malformed')
        else if (value === good) expect(templates).not.toEqual(files.map((f) => f.template))
      }),
      { numRuns: 1500 },
    )
  })
})
