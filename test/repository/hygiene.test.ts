/**
 * The repository stands alone: nothing tracked points at files outside it, the documents' links
 * resolve, the licence is the one package.json names, the supported Node versions are stated,
 * and the operations guide covers what operators need (backup and restore, key rotation,
 * upgrades, replicas, sizing, monitoring).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const read = (path: string): string => readFileSync(join(REPO, path), 'utf8')
const tracked = (): string[] => execFileSync('git', ['ls-files', '-z'], { cwd: REPO, encoding: 'utf8', maxBuffer: 64 << 20 }).split('\0').filter((f) => f !== '' && existsSync(join(REPO, f)))

describe('the repository stands alone', () => {
  it('no tracked file points at design notes or paths outside the repository', () => {
    // Built from parts so that this file does not match itself.
    const outside = new RegExp(['DESIGN', 'STYLE'].map((n) => `\\b${n}\\.md\\b`).concat(['/work/' + 'shared', '/work/' + 'wt/', '/work/' + 'main']).join('|'))
    const offenders = tracked().filter((f) => {
      const bytes = readFileSync(join(REPO, f))
      return !bytes.includes(0) && outside.test(bytes.toString('utf8'))
    })
    expect(offenders).toEqual([])
  })

  it('relative links and docs/ references in the README and docs/ resolve inside the repository', () => {
    const docs = ['README.md', ...tracked().filter((f) => f.startsWith('docs/') && f.endsWith('.md'))]
    const broken: string[] = []
    for (const doc of docs) {
      const text = read(doc)
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = (m[1] ?? '').split('#')[0] ?? ''
        if (target === '' || /^[a-z]+:/.test(target)) continue
        if (!existsSync(join(REPO, dirname(doc), target))) broken.push(`${doc}: (${m[1]})`)
      }
      for (const m of text.matchAll(/\b(docs\/[a-z0-9-]+\.md)\b/g)) {
        if (!existsSync(join(REPO, m[1] ?? ''))) broken.push(`${doc}: ${m[1]}`)
      }
    }
    expect(docs).toContain('docs/architecture.md')
    expect(docs).toContain('docs/operations.md')
    expect(broken).toEqual([])
  })

  it('LICENSE is the licence package.json names (root and @keybroker/client)', () => {
    const root = JSON.parse(read('package.json')) as { license: string; engines: { node: string } }
    const client = JSON.parse(read('packages/client/package.json')) as { license: string; engines: { node: string } }
    expect(root.license).toBe('Apache-2.0')
    expect(client.license).toBe(root.license)
    expect(read('LICENSE')).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/)
    expect(read('packages/client/LICENSE')).toBe(read('LICENSE'))
    // Node 20.19+ (the test machines), while the image uses a maintained LTS (test/deploy).
    expect(root.engines.node).toBe('>=20.19')
    expect(client.engines.node).toBe('>=20.19')
  })
})

describe('docs/operations.md', () => {
  const guide = read('docs/operations.md')
  const section = (heading: string): string => {
    const at = guide.indexOf(`\n## ${heading}`)
    expect(at, heading).toBeGreaterThan(0)
    const next = guide.indexOf('\n## ', at + 1)
    return guide.slice(at, next === -1 ? undefined : next)
  }

  it('covers backup and restore (PostgreSQL, PGlite stopped, always with the KEK)', () => {
    const s = section('Backup and restore')
    for (const word of ['pg_dump', 'pg_restore', 'PGlite', 'Stop the service', 'KEK']) expect(s).toContain(word)
  })

  it('covers key rotation: KEK, token key, sealing keys, CA keys', () => {
    const s = section('Key rotation')
    for (const word of ['**KEK.**', 'kek rewrap', '**Token-signing key.**', '**Sealing keys.**', '**CA keys.**']) expect(s).toContain(word)
  })

  it('says how to get the first admin token in Docker Compose', () => {
    const s = section('Docker Compose')
    for (const word of ['**The first admin token.**', 'secrets/admin-token', 'admin token create']) expect(s).toContain(word)
  })

  it('covers upgrades, replicas, sizing and monitoring', () => {
    expect(section('Upgrades and migrations')).toContain('keybroker migrate')
    expect(section('N replicas behind a load balancer')).toContain('/readyz')
    expect(section('Sizing')).toContain('npm run bench')
    const monitoring = section('Monitoring: metrics, logs, traces')
    for (const word of ['KEYBROKER_METRICS_LISTEN', 'traceparent']) expect(monitoring).toContain(word)
  })
})
