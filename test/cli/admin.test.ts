/**
 * `keybroker admin …` end to end: the real command tree (runCli, as bin/keybroker.js runs it)
 * against a real service on 127.0.0.1 over HTTPS, on each database engine. One pass through
 * every admin resource: create, list, show, update, rotate, revoke, delete, explain, verify.
 */
import { execFile } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCliContext } from '../../src/cli/io.js'
import { runCli } from '../../src/cli/program.js'
import { checkpointJwsFromFile } from '../../src/services/audit-checkpoints.js'
import type { Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const BIN = join(REPO, 'bin/keybroker.js')
const MEASUREMENT = 'ab'.repeat(48)

describe.each(testDatabases())('keybroker admin on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let dir: string
  let env: Record<string, string>

  /** Runs the CLI in this process, as the bin does, with the connection in the environment. */
  async function cli(args: string[], extraEnv: Record<string, string> = {}) {
    let stdout = ''
    let stderr = ''
    const ctx = createCliContext({ stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, { ...env, ...extraEnv })
    const status = await runCli(args, ctx)
    return { status, stdout, stderr, json: () => JSON.parse(stdout) }
  }

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
    dir = await mkdtemp(join(tmpdir(), 'keybroker-admin-cli-'))
    await writeFile(join(dir, 'ca.pem'), kb.server.caPem ?? '')
    await writeFile(join(dir, 'token'), `${kb.tokens.admin}\n`)
    env = { KEYBROKER_URL: kb.url, KEYBROKER_TOKEN: kb.tokens.admin, KEYBROKER_CACERT: join(dir, 'ca.pem') }
  }, 240_000)
  afterAll(async () => {
    await kb?.close()
    await database?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('manages reference values and secrets, with tables by default and --json', async () => {
    const created = await cli(['admin', 'reference-values', 'create', 'web', '--measurement', MEASUREMENT, '--evidence-type', 'sample'])
    expect(created.status).toBe(0)
    expect(created.stdout).toMatch(/^name:\s+web$/m)
    const listed = await cli(['admin', 'rv', 'list'])
    expect(listed.stdout.split('\n')[0]).toMatch(/^NAME\s+VERSION\s+EVIDENCE TYPE/)
    expect(listed.stdout).toMatch(/^web\s+1\s+sample\s+1\s/m)
    const shown = await cli(['admin', 'reference-values', 'show', 'web', '--json'])
    expect(shown.json()).toMatchObject({ name: 'web', measurements: [{ value: MEASUREMENT, revokedAt: null }] })
    expect((await cli(['admin', 'rv', 'update', 'web', '--measurement', MEASUREMENT, '--measurement', 'cd'.repeat(48), '--json'])).json().version).toBe(2)
    const revoked = await cli(['--', 'admin', 'rv', 'revoke', 'web', '--measurement', 'cd'.repeat(48), '--reason', 'withdrawn image'].slice(1))
    expect(revoked.status).toBe(0)
    expect((await cli(['admin', 'rv', 'versions', 'web'])).stdout).toMatch(/^2\s/m)

    await writeFile(join(dir, 'value'), 'hunter2-but-longer')
    const secret = await cli(['admin', 'secret', 'create', 'db-password', '--reference-values', 'web', '--value-file', join(dir, 'value'), '--json'])
    expect(secret.status).toBe(0)
    expect(secret.json()).toMatchObject({ name: 'db-password', version: 1, state: 'enabled', referenceValues: ['web'] })
    expect(secret.stdout).not.toContain('hunter2')
    expect((await cli(['admin', 'secret', 'create', 'luks', '--reference-values', 'web', '--generate', '32', '--kind', 'luks'])).status).toBe(0)
    const secrets = await cli(['admin', 'secret', 'list'])
    expect(secrets.stdout).toMatch(/^db-password\s+opaque\s+1\s+enabled\s+web\s+default\s/m)
    expect(secrets.stdout).toMatch(/^luks\s+luks\s+1\s/m)
    expect((await cli(['admin', 'secret', 'rotate', 'db-password', '--json'])).json().version).toBe(2)
    expect((await cli(['admin', 'secret', 'update', 'db-password', '--generate', '24', '--json'])).json().version).toBe(3)
    expect((await cli(['admin', 'secret', 'disable', 'db-password', '--json'])).json().state).toBe('disabled')
    expect((await cli(['admin', 'secret', 'enable', 'db-password', '--json'])).json().state).toBe('enabled')
    const gone = await cli(['admin', 'secret', 'delete', 'luks'])
    expect(gone.status).toBe(0)
    expect(gone.stderr).toContain('deleted secret luks')
    const missing = await cli(['admin', 'secret', 'show', 'luks'])
    expect(missing.status).toBe(1)
    expect(missing.stderr).toMatch(/404 .*not-found/)
  })

  it('creates policies and explains them against evidence', async () => {
    const created = await cli(['admin', 'policy', 'create', 'strict', '--rule', 'not-debug=!claims.debug', '--rule', 'affirming=ear.status == "affirming"', '--description', 'no debug'])
    expect(created.status).toBe(0)
    expect(created.stdout).toMatch(/^not-debug\s+!claims.debug$/m)
    expect((await cli(['admin', 'secret', 'set-policy', 'db-password', '--policy', 'strict', '--json'])).json().policy).toBe('strict')
    const evidence = (debug: boolean) => ({ type: 'sample', measurement: MEASUREMENT, reportData: randomBytes(64).toString('base64url'), debug })
    await writeFile(join(dir, 'good.json'), JSON.stringify({ evidence: evidence(false) }))
    await writeFile(join(dir, 'debug.json'), JSON.stringify(evidence(true)))
    const allowed = await cli(['admin', 'policy', 'explain', 'strict', '--evidence', join(dir, 'good.json'), '--secret', 'db-password'])
    expect(allowed.stdout).toContain('ALLOWED')
    expect(allowed.stdout).toMatch(/^not-debug\s+pass\s/m)
    expect(allowed.status).toBe(0)
    const denied = await cli(['admin', 'policy', 'explain', 'strict', '--evidence', join(dir, 'debug.json'), '--reference-values', 'web'])
    expect(denied.status).toBe(1)
    expect(denied.stdout).toMatch(/^not-debug\s+FAIL\s/m)
    expect((await cli(['admin', 'policy', 'list'])).stdout).toMatch(/^strict\s+1\s+2\s+no debug/m)
    expect((await cli(['admin', 'policy', 'update', 'strict', '--rule', 'not-debug=!claims.debug', '--json'])).json().version).toBe(2)
    expect((await cli(['admin', 'policy', 'versions', 'strict'])).stdout).toMatch(/^1\s/m)
    expect((await cli(['admin', 'policy', 'show', 'strict', '--version', '1'])).stdout).toContain('version 1')
    const refused = await cli(['admin', 'policy', 'create', 'broken', '--rule', 'x=claims.(('])
    expect(refused.status).toBe(1)
    expect(refused.stderr).toMatch(/400 /)
    expect((await cli(['admin', 'secret', 'set-policy', 'db-password', '--default'])).status).toBe(0)
    expect((await cli(['admin', 'policy', 'delete', 'strict'])).status).toBe(0)
  })

  it('registers signers and imports a signed bundle', async () => {
    const pub = join(REPO, 'reference-values/bundles/example-publisher.pub.pem')
    const signer = await cli(['admin', 'signer', 'create', '--label', 'example publisher', '--public-key', pub, '--json'])
    expect(signer.status).toBe(0)
    const fingerprint: string = signer.json().fingerprint
    expect((await cli(['admin', 'signer', 'list'])).stdout).toContain(fingerprint)
    const imported = await cli(['admin', 'bundle', 'import', join(REPO, 'reference-values/bundles/example-web.bundle.jws')])
    expect(imported.status).toBe(0)
    expect(imported.stdout).toMatch(/^example-web-snp\s+1\s+snp\s/m)
    expect((await cli(['admin', 'signer', 'show', fingerprint])).stdout).toContain('example publisher')
    expect((await cli(['admin', 'signer', 'delete', fingerprint])).status).toBe(0)
  })

  it('manages sealing keys, denied disks, TPM keys, CAs and collateral', async () => {
    const key = await cli(['admin', 'sealing-key', 'create', 'root-disk', '--reference-values', 'web', '--json'])
    expect(key.status).toBe(0)
    expect(key.json()).toMatchObject({ name: 'root-disk', currentVersion: 1, state: 'enabled' })
    expect((await cli(['admin', 'sealing-key', 'rotate', 'root-disk', '--json'])).json().currentVersion).toBe(2)
    expect((await cli(['admin', 'sealing-key', 'retire', 'root-disk', '1'])).status).toBe(0)
    expect((await cli(['admin', 'sealing-key', 'disable', 'root-disk', '--json'])).json().state).toBe('disabled')
    expect((await cli(['admin', 'sealing-key', 'enable', 'root-disk', '--json'])).json().state).toBe('enabled')
    expect((await cli(['admin', 'sealing-key', 'list'])).stdout).toMatch(/^root-disk\s+P-256\s+enabled\s+2\s+web/m)
    expect((await cli(['admin', 'sealing-key', 'delete', 'root-disk'])).status).toBe(0)

    const disk = 'A'.repeat(43)
    expect((await cli(['admin', 'denied-disk', 'add', disk, '--reason', 'stolen laptop'])).status).toBe(0)
    expect((await cli(['admin', 'denied-disk', 'list'])).stdout).toMatch(new RegExp(`^${disk}\\s+stolen laptop`, 'm'))
    expect((await cli(['admin', 'denied-disk', 'delete', disk])).status).toBe(0)

    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    await writeFile(join(dir, 'ak.pem'), publicKey.export({ type: 'spki', format: 'pem' }))
    const ak = await cli(['admin', 'tpm', 'ak', 'create', 'node-1', '--public-key', join(dir, 'ak.pem'), '--json'])
    expect(ak.status).toBe(0)
    const id: string = ak.json().id
    expect((await cli(['admin', 'tpm', 'ak', 'list'])).stdout).toMatch(new RegExp(`^${id}\\s+node-1\\s+registered`, 'm'))
    expect((await cli(['admin', 'tpm', 'ak', 'delete', id])).status).toBe(0)
    // The service's own certificate is no CA: the refusal is the service's problem, exit 1.
    const notCa = await cli(['admin', 'tpm', 'ca', 'create', 'dev', '--purpose', 'ek', '--certificate', join(dir, 'ca.pem')])
    expect(notCa.status).toBe(1)
    expect(notCa.stderr).toMatch(/keybroker: 4\d\d /)
    expect((await cli(['admin', 'tpm', 'ca', 'list', '--purpose', 'ek'])).stdout.trim()).toMatch(/^NAME\s+PURPOSE/)

    expect((await cli(['admin', 'ca', 'create', 'workloads', '--key-type', 'P-256'])).status).toBe(0)
    expect((await cli(['admin', 'ca', 'rotate', 'workloads', '--json'])).json().currentVersion).toBe(2)
    expect((await cli(['admin', 'ca', 'list'])).stdout).toMatch(/^workloads\s+P-256\s+generated\s+2/m)
    const profile = await cli(['admin', 'certificate-profile', 'create', 'web-tls', '--ca', 'workloads', '--reference-values', 'web', '--dns-name', 'web.example.com', '--lifetime', '3600'])
    expect(profile.status).toBe(0)
    expect((await cli(['admin', 'certificate-profile', 'update', 'web-tls', '--ca', 'workloads', '--reference-values', 'web', '--dns-name', 'web.example.com', '--lifetime', '7200', '--json'])).json().lifetimeSeconds).toBe(7200)
    expect((await cli(['admin', 'certificate', 'list', '--ca', 'workloads'])).stdout.trim()).toMatch(/^SERIAL/)
    expect((await cli(['admin', 'certificate-profile', 'delete', 'web-tls'])).status).toBe(0)

    expect((await cli(['admin', 'collateral', 'list'])).stdout).toMatch(/^KIND\s+KEY/)
    expect((await cli(['admin', 'collateral', 'upload-snp'])).status).toBe(2)
  })

  it('reads and verifies the audit log', async () => {
    const listed = await cli(['admin', 'audit', 'list', '--limit', '2', '--all', '--json'])
    expect(listed.status).toBe(0)
    const entries: { action: string }[] = listed.json().entries
    expect(entries.length).toBeGreaterThan(10)
    expect(entries.map((e) => e.action)).toContain('secret.create')
    const table = await cli(['admin', 'audit', 'list'])
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+TIME\s+ACTOR\s+ACTION/)
    const verified = await cli(['admin', 'audit', 'verify'])
    expect(verified.status).toBe(0)
    expect(verified.stdout).toMatch(/^ok:\s+true$/m)
  })

  it('signs a checkpoint and exports the checkpoints in the form `keybroker audit verify --checkpoint FILE` reads', async () => {
    const made = await cli(['admin', 'audit', 'checkpoint', '--json'])
    expect(made.status).toBe(0)
    const cp: { id: string; headId: string; jws: string } = made.json()
    expect(cp.jws.split('.')).toHaveLength(3)
    expect((await cli(['admin', 'audit', 'checkpoint'], { KEYBROKER_TOKEN: kb.tokens.auditor })).status).toBe(1)
    const exported = await cli(['admin', 'audit', 'checkpoints', '--limit', '1', '--all', '--json'], { KEYBROKER_TOKEN: kb.tokens.auditor })
    expect(exported.status).toBe(0)
    expect(exported.json().checkpoints.map((c: { id: string }) => c.id)).toContain(cp.id)
    expect(checkpointJwsFromFile(exported.stdout)).toContain(cp.jws)
    const table = await cli(['admin', 'audit', 'checkpoints'])
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+TIME\s+HEAD\s+HEAD HASH/)
    expect((await cli(['admin', 'audit', 'checkpoints', '--limit', 'none'])).status).toBe(2)
  })

  it('trusts the service by certificate pin or token file, and says why it refuses', async () => {
    const pin = kb.server.fingerprint ?? ''
    const noCa = { KEYBROKER_CACERT: '' }
    const base = { KEYBROKER_URL: kb.url, KEYBROKER_TOKEN: kb.tokens.admin }
    env = { ...base }
    expect((await cli(['admin', 'secret', 'list', '--pin-sha256', pin])).status).toBe(0)
    expect((await cli(['admin', 'secret', 'list', '--pin-sha256', pin.replaceAll(':', '').toLowerCase()])).status).toBe(0)
    const wrongPin = await cli(['admin', 'secret', 'list', '--pin-sha256', '00'.repeat(32)])
    expect(wrongPin.status).toBe(1)
    expect(wrongPin.stderr).toContain('not the pinned')
    const untrusted = await cli(['admin', 'secret', 'list'], noCa)
    expect(untrusted.status).toBe(1)
    expect(untrusted.stderr).toMatch(/cannot reach .*certificate/i)
    env = { KEYBROKER_URL: kb.url, KEYBROKER_CACERT: join(dir, 'ca.pem') }
    expect((await cli(['admin', 'secret', 'list', '--token-file', join(dir, 'token')])).status).toBe(0)
    const noToken = await cli(['admin', 'secret', 'list'])
    expect(noToken.status).toBe(2)
    expect(noToken.stderr).toContain('KEYBROKER_TOKEN')
    const auditorOnly = await cli(['admin', 'secret', 'create', 'x', '--reference-values', 'web', '--generate', '16', '--json'], { KEYBROKER_TOKEN: kb.tokens.auditor })
    expect(auditorOnly.status).toBe(1)
    expect(auditorOnly.json()).toMatchObject({ status: 403 })
    const badToken = await cli(['admin', 'secret', 'list'], { KEYBROKER_TOKEN: 'kb_admin_wrong' })
    expect(badToken.status).toBe(1)
    expect(badToken.stderr).toMatch(/401 /)
    env = { KEYBROKER_URL: kb.url, KEYBROKER_TOKEN: kb.tokens.admin, KEYBROKER_CACERT: join(dir, 'ca.pem') }
  })

  it('creates, lists and revokes admin tokens over the API; a revoked token is refused', async () => {
    const created = await cli(['admin', 'token', 'create', '--role', 'registrar', '--label', 'ci registrar'])
    expect(created.status).toBe(0)
    const token = created.stdout.trim()
    expect(token).toMatch(/^kb_admin_[A-Za-z0-9_-]{43}$/)
    const id = /token ([0-9a-f-]{36})/.exec(created.stderr)?.[1]
    expect(id).toBeDefined()

    const listed = await cli(['admin', 'token', 'list'])
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+ROLE\s+LABEL/)
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+registrar\\s+ci registrar\\s`, 'm'))
    const json = await cli(['admin', 'token', 'list', '--json'])
    expect(json.stdout).not.toContain(token)
    expect(json.json().tokens).toContainEqual(expect.objectContaining({ id, role: 'registrar', label: 'ci registrar', revokedAt: null }))

    // The new token works for its role, then is refused once revoked.
    expect((await cli(['admin', 'rv', 'list'], { KEYBROKER_TOKEN: token })).status).toBe(0)
    const revoked = await cli(['admin', 'token', 'revoke', id ?? ''])
    expect(revoked.status).toBe(0)
    const refused = await cli(['admin', 'rv', 'list'], { KEYBROKER_TOKEN: token })
    expect(refused.status).toBe(1)
    expect(refused.stderr).toMatch(/401/)
    const after = await cli(['admin', 'token', 'list', '--json'])
    expect(after.json().tokens.find((t: { id: string }) => t.id === id).revokedAt).toEqual(expect.any(String))
    expect((await cli(['admin', 'token', 'create', '--role', 'root'])).status).toBe(2)
  })

  it('runs as the installed command (bin/keybroker.js)', async () => {
    // Asynchronously: the service answering it runs in this process.
    const res = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [BIN, 'admin', 'rv', 'list', '--json'], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
      ),
    )
    expect(res.stderr).toBe('')
    expect(res.status).toBe(0)
    expect(JSON.parse(res.stdout).referenceValues.map((r: { name: string }) => r.name)).toContain('web')
  })
})
