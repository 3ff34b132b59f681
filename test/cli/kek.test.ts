/**
 * `keybroker kek status|rewrap` through the compiled CLI on an embedded database: after a KEK
 * change the status names the envelopes still under the earlier KEK; a rewrap stopped after one
 * batch exits 1 and the next run finishes; then the earlier KEK is no longer needed, and a
 * configuration without the KEK the envelopes need is reported (exit 1).
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { kekFromBase64 } from '../../src/secrets/index.js'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const A = randomBytes(32).toString('base64')
const B = randomBytes(32).toString('base64')

function run(args: string[], env: Record<string, string>) {
  const res = spawnSync(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 120_000 })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

describe('keybroker kek', () => {
  let dataDir: string
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keybroker-kek-cli-'))
  })
  afterAll(() => rm(dataDir, { recursive: true, force: true }))

  it('reports, rewraps in resumable batches, and lets the earlier KEK go', () => {
    const base = { KEYBROKER_DATA_DIR: dataDir, KEYBROKER_LOG_LEVEL: 'silent' }
    // Two envelopes under A: the audit key and nothing else yet (the offline token is not sealed).
    expect(run(['migrate'], { ...base, KEYBROKER_KEK: A }).status).toBe(0)
    expect(run(['admin', 'token', 'create', '--offline', '--role', 'admin'], { ...base, KEYBROKER_KEK: A }).status).toBe(0)

    const rotated = { ...base, KEYBROKER_KEK: B, KEYBROKER_KEK_PREVIOUS: A }
    const before = run(['kek', 'status'], rotated)
    expect(before.status).toBe(0)
    const status = JSON.parse(before.stdout)
    expect(status).toMatchObject({ current: kekFromBase64(B).id, previous: [kekFromBase64(A).id], unknown: [], unused: [] })
    expect(status.pending).toBeGreaterThanOrEqual(1)

    // Without A, the envelopes under A are reported.
    const missing = run(['kek', 'status'], { ...base, KEYBROKER_KEK: B })
    expect(missing.status).toBe(1)
    expect(JSON.parse(missing.stdout).unknown).toEqual([kekFromBase64(A).id])

    const usage = run(['kek', 'rewrap', '--batch-size', 'many'], rotated)
    expect(usage.status).toBe(2)

    const done = run(['kek', 'rewrap', '--batch-size', '1'], rotated)
    expect(done.status).toBe(0)
    expect(JSON.parse(done.stdout)).toMatchObject({ complete: true, remaining: 0, failed: [] })
    expect(done.stderr).toMatch(/rewrapped 1 audit-key envelope/)

    const after = run(['kek', 'status'], rotated)
    expect(JSON.parse(after.stdout)).toMatchObject({ pending: 0, unused: [kekFromBase64(A).id] })
    expect(run(['kek', 'status'], { ...base, KEYBROKER_KEK: B }).status).toBe(0)
    expect(run(['kek', 'status'], { ...base, KEYBROKER_KEK: A }).status).toBe(1)
    const verified = run(['audit', 'verify'], { ...base, KEYBROKER_KEK: B })
    expect(verified.status).toBe(0)
    // Nine CLI runs, each opening the embedded database: bounded, but above the default.
  }, 600_000)
})
