import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { GENESIS_HASH, canonicalJson, computeAuditHash } from '../../src/audit/index.js'

const ENTRY = {
  id: 1,
  at: new Date('2026-01-02T03:04:05.006Z'),
  actor: 'admin:t1',
  action: 'secret.create',
  subject: 'db-password',
  outcome: 'success',
  detail: { version: 1 },
}

describe('audit hash chain', () => {
  it('hashes exactly the documented bytes', () => {
    const text =
      '{"id":1,"at":"2026-01-02T03:04:05.006Z","actor":"admin:t1","action":"secret.create","subject":"db-password",' +
      `"outcome":"success","detail":{"version":1},"prevHash":"${'0'.repeat(64)}"}`
    expect(computeAuditHash(GENESIS_HASH, ENTRY)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'))
    expect(GENESIS_HASH).toBe('0'.repeat(64))
  })

  it('changes when any field or the previous hash changes', () => {
    const base = computeAuditHash(GENESIS_HASH, ENTRY)
    const variants = [
      { ...ENTRY, id: 2 },
      { ...ENTRY, at: new Date('2026-01-02T03:04:05.007Z') },
      { ...ENTRY, actor: 'admin:t2' },
      { ...ENTRY, action: 'secret.delete' },
      { ...ENTRY, subject: 'db-password2' },
      { ...ENTRY, outcome: 'denied' },
      { ...ENTRY, detail: { version: 2 } },
      // Moving text between fields must not collide (JSON string quoting keeps fields apart).
      { ...ENTRY, actor: 'admin:t1","action":"secret.create', action: '' },
    ]
    for (const v of variants) expect(computeAuditHash(GENESIS_HASH, v)).not.toBe(base)
    expect(computeAuditHash('1'.repeat(64), ENTRY)).not.toBe(base)
  })

  it('does not depend on the key order of detail', () => {
    const a = computeAuditHash(GENESIS_HASH, { ...ENTRY, detail: { b: 1, a: { y: [1, 'x'], x: null } } })
    const b = computeAuditHash(GENESIS_HASH, { ...ENTRY, detail: { a: { x: null, y: [1, 'x'] }, b: 1 } })
    expect(a).toBe(b)
  })

  it('canonicalizes JSON with sorted keys and no whitespace, omitting undefined members', () => {
    expect(canonicalJson({ b: [true, null, 1.5, 'é\n'], a: { d: 1, c: undefined } })).toBe('{"a":{"d":1},"b":[true,null,1.5,"é\\n"]}')
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError)
    expect(() => canonicalJson({ n: Number.POSITIVE_INFINITY })).toThrow(TypeError)
    expect(() => canonicalJson({ d: new Date(0) })).toThrow(TypeError)
    expect(() => canonicalJson([undefined])).toThrow(TypeError)
    expect(() => canonicalJson({ b: 1n })).toThrow(TypeError)
  })

  it('rejects malformed inputs', () => {
    expect(() => computeAuditHash('xyz', ENTRY)).toThrow(TypeError)
    expect(() => computeAuditHash(GENESIS_HASH, { ...ENTRY, id: 0 })).toThrow(TypeError)
    expect(() => computeAuditHash(GENESIS_HASH, { ...ENTRY, at: new Date(Number.NaN) })).toThrow(TypeError)
  })
})
