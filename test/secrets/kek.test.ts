import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { codeOf } from '../support/error-code.js'
import { createKekRing, KEK_FILE, kekFromBase64, kekFromBytes, loadOrCreateKek } from '../../src/secrets/index.js'

const dirs: string[] = []
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

describe('KEK', () => {
  const bytes = new Uint8Array(32).map((_, i) => i)

  it('derives a 16-hex id that is not the key and is stable', () => {
    const kek = kekFromBytes(bytes)
    expect(kek.id).toMatch(/^[0-9a-f]{16}$/)
    expect(kek.id).toBe(kekFromBytes(Uint8Array.from(bytes)).id)
    expect(Buffer.from(bytes).toString('hex').includes(kek.id)).toBe(false)
    expect(kek.id).not.toBe(kekFromBytes(new Uint8Array(32)).id)
  })

  it('redacts the key in JSON and inspect', () => {
    const kek = kekFromBytes(bytes)
    const hex = Buffer.from(bytes).toString('hex')
    const b64 = Buffer.from(bytes).toString('base64')
    for (const text of [JSON.stringify(kek), inspect(kek), inspect({ nested: kek }, { depth: 5 })]) {
      expect(text).toContain(kek.id)
      expect(text.includes(hex) || text.includes(b64) || text.includes('0, 1, 2, 3')).toBe(false)
    }
  })

  it('parses base64 and base64url of 32 bytes, and nothing else', () => {
    const std = Buffer.from(new Uint8Array(32).fill(0xfb)).toString('base64')
    const url = Buffer.from(new Uint8Array(32).fill(0xfb)).toString('base64url')
    expect(kekFromBase64(`${std}\n`).id).toBe(kekFromBase64(url).id)
    for (const bad of ['', 'AAAA', Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64'), `${std}!`, `${url}+`]) {
      expect(codeOf(() => kekFromBase64(bad))).toBe('internal')
    }
    expect(codeOf(() => kekFromBytes(new Uint8Array(16)))).toBe('internal')
  })

  it('creates a 0600 key file once and reloads the same KEK', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-kek-'))
    dirs.push(dir)
    const nested = join(dir, 'keys')
    const first = await loadOrCreateKek(nested)
    const second = await loadOrCreateKek(nested)
    expect(second.id).toBe(first.id)
    expect(second.key).toEqual(first.key)
    expect((await stat(join(nested, KEK_FILE))).mode & 0o777).toBe(0o600)
    expect((await stat(nested)).mode & 0o777).toBe(0o700)
    expect(kekFromBase64(await readFile(join(nested, KEK_FILE), 'ascii')).id).toBe(first.id)
  })

  it('concurrent creators agree on one KEK', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-kek-'))
    dirs.push(dir)
    const keks = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateKek(dir)))
    expect(new Set(keks.map((k) => k.id)).size).toBe(1)
  })

  it('ring looks up by id', () => {
    const a = kekFromBytes(bytes)
    const b = kekFromBytes(new Uint8Array(32))
    const ring = createKekRing(a, [b])
    expect(ring.current).toBe(a)
    expect(ring.get(b.id)).toBe(b)
    expect(ring.get('0000000000000000')).toBeUndefined()
  })
})
