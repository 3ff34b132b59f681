/** `keybroker bundle verify --format cosmian-snapshot FILE` (the compiled CLI) on test/vectors/cosmian/snapshot.derived.json. */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const SNAPSHOT = fileURLToPath(new URL('../vectors/cosmian/snapshot.derived.json', import.meta.url))
function run(args: string[]) {
  const res = spawnSync(process.execPath, [BIN, 'bundle', 'verify', ...args], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 60_000 })
  return { status: res.status, json: res.stdout.trim().startsWith('{') ? JSON.parse(res.stdout) : undefined }
}

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kb-cosmian-bundle-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('bundle verify --format cosmian-snapshot', { timeout: 120_000 }, () => {
  it('maps the snapshot: the SEV measurement, the expectations, what each field became', () => {
    const ok = run(['--format', 'cosmian-snapshot', SNAPSHOT])
    expect(ok.status).toBe(0)
    expect(ok.json).toMatchObject({ verified: true, signed: false, evidenceType: 'cosmian', cloudType: null, values: ['41a95b6fbe794f1d3bb919934adc5e44583b57e4a5c3f489ffe775ecb8e23d3947001e886277751ba06ae793c2c8904d'] })
    expect(ok.json.expect).toContainEqual({ claim: 'tpm.resetCount', equals: 25 })
    expect(ok.json.expect).toContainEqual({ claim: 'ima', files: '439 entries', unknownFiles: 'deny' })
  })

  it('an unknown key: exit 1, bundle-malformed', async () => {
    const s = JSON.parse(readFileSync(SNAPSHOT, 'utf8'))
    s.tpm_policy.boot_count = 3
    const bad = join(dir, 'bad.json')
    await writeFile(bad, JSON.stringify(s))
    const res = run(['--format', 'cosmian-snapshot', bad])
    expect(res.status).toBe(1)
    expect(res.json.code).toBe('bundle-malformed')
  })
})
