import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { SecretValue } from '../../src/secrets/index.js'

describe('SecretValue', () => {
  const bytes = new Uint8Array(Buffer.from('hunter2-very-secret', 'ascii'))
  const value = new SecretValue(bytes)
  const leaks = (text: string): boolean =>
    text.includes('hunter2') || text.includes(Buffer.from(bytes).toString('hex')) || text.includes(Buffer.from(bytes).toString('base64')) || text.includes('104, 117')

  it('redacts itself in JSON, strings and inspect', () => {
    const texts = [
      JSON.stringify(value),
      JSON.stringify({ secret: value, list: [value] }),
      String(value),
      `${value}`,
      `x${value}`,
      inspect(value),
      inspect({ deep: { deeper: value } }, { depth: 10, showHidden: true }),
    ]
    for (const text of texts) {
      expect(leaks(text)).toBe(false)
      expect(text).toContain('[redacted]')
    }
    expect(Object.keys(value)).toEqual([])
  })

  it('exposes the bytes, copied from the input', () => {
    expect(value.expose()).toEqual(bytes)
    expect(value.byteLength).toBe(bytes.byteLength)
    const input = Uint8Array.from([1, 2, 3])
    const copy = new SecretValue(input)
    input.fill(0)
    expect(copy.expose()).toEqual(Uint8Array.from([1, 2, 3]))
    copy.wipe()
    expect(copy.expose()).toEqual(new Uint8Array(3))
  })
})
