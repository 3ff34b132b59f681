/**
 * `keybroker aleph launch` against a fake CRN on 127.0.0.1 (test/support/fake-crn.ts), with a
 * real keybroker (HTTPS, both databases). The CRN checks the operator headers and the multipart
 * body as aleph-vm does and plays the PSP: it unwraps the TIK and TEK from the session blobs with
 * its PDH private key, computes LAUNCH_MEASURE with that TIK, and decrypts the injected table
 * with that TEK. The platform chain is synthetic, since no private key exists for a real one.
 */
import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { alephCommand } from '../../src/cli/aleph.js'
import { toBase64Url } from '../../src/evidence/reader.js'
import type { Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'
import { startFakeCrn, testWallet, type FakeCrn } from '../support/fake-crn.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'
import { FakePsp, digestHex, syntheticSev } from '../generators/sev.js'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const PASSPHRASE = 'aleph root disk passphrase'
const OVMF = new Uint8Array(Buffer.from('aleph OVMF.fd with GRUB (stand-in)'))
const OTHER_OVMF = new Uint8Array(Buffer.from('someone else\'s OVMF.fd'))
const ld = (firmware: Uint8Array) => new Uint8Array(Buffer.from(digestHex(firmware), 'hex'))
const vmRef = (c: string) => c.repeat(64)

/** Runs a CLI command in-process, collecting its output. */
async function cli(sub: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await alephCommand(sub, args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, env)
  return { code, stdout, stderr }
}

describe('the fake CRN checks real Ethereum wallet signatures', () => {
  it('EIP-191 personal_sign of the web3.js documentation example (web3.eth.accounts.sign("Some data", 0x4c08…2318))', () => {
    const wallet = testWallet(new Uint8Array(Buffer.from('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318', 'hex')))
    expect(wallet.address).toBe('0x2c7536e3605d9c16a7a3d7b1898e529396a65c23')
    expect(wallet.personalSign(Buffer.from('Some data'))).toBe(
      '0xb91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c',
    )
  })
})

describe.each(testDatabases())('keybroker aleph launch against a fake CRN, keybroker on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let crn: FakeCrn
  let dir: string
  const owner = testWallet()
  const stranger = testWallet()
  const files = { key: '', ca: '', delegation: '', strangerDelegation: '', forgedDelegation: '', otherKey: '' }
  let env: Record<string, string>

  beforeAll(async () => {
    const sev = syntheticSev()
    database = await engine.open()
    kb = await startKeybroker(database, {}, undefined, { sevRoots: [sev.root] })
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'aleph-ovmf', evidenceType: 'sev', measurements: [digestHex(OVMF)] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'vm-disk', value: toBase64Url(Buffer.from(PASSPHRASE)), referenceValues: ['aleph-ovmf'] })).status).toBe(201)
    crn = await startFakeCrn({ chain: sev.chain, psp: new FakePsp(sev.keys.pdh.privateKey, { apiMajor: 1, apiMinor: 55, build: 24 }) })

    dir = await mkdtemp(join(tmpdir(), 'keybroker-aleph-'))
    files.key = join(dir, 'operator.pem')
    files.otherKey = join(dir, 'other.pem')
    files.ca = join(dir, 'keybroker-ca.pem')
    await writeFile(files.key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())
    await writeFile(files.otherKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())
    await writeFile(files.ca, kb.server.caPem ?? '')
    env = { KEYBROKER_URL: kb.url, KEYBROKER_CA: files.ca }

    // The delegation as a user makes it: payload from keybroker, signature from the wallet, header from keybroker.
    const delegate = async (wallet: ReturnType<typeof testWallet>, address: string, name: string) => {
      const payload = await cli('delegation', ['--key', files.key, '--address', address, '--domain', '127.0.0.1', '--hours', '1'], env)
      expect(payload.code, payload.stderr).toBe(0)
      const hex = payload.stdout.trim()
      const header = await cli('delegation', ['--payload', hex, '--signature', wallet.personalSign(Buffer.from(hex, 'hex'))], env)
      expect(header.code, header.stderr).toBe(0)
      const path = join(dir, name)
      await writeFile(path, header.stdout)
      return path
    }
    files.delegation = await delegate(owner, owner.address, 'delegation.json')
    files.strangerDelegation = await delegate(stranger, stranger.address, 'stranger.json')
    files.forgedDelegation = await delegate(stranger, owner.address, 'forged.json') // claims the owner's address
  })

  afterAll(async () => {
    await crn?.close()
    await kb?.close()
    await database?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  const launchArgs = (vm: string, extra: string[] = []) => [
    '--crn', crn.url, '--vm', vm, '--secret', 'vm-disk', '--key', files.key, '--delegation', files.delegation, '--measurement-interval-ms', '50', ...extra,
  ]

  it('full round: session, initialize, measurement (after a not-running answer), secret; the PSP decrypts the passphrase', async () => {
    const vm = vmRef('a')
    crn.vms.set(vm, { owner: owner.address, policy: 1, launchDigest: ld(OVMF), notRunningPolls: 1 })
    const r = await cli('launch', launchArgs(vm), env)
    expect(r.code, r.stderr).toBe(0)
    expect(crn.vms.get(vm)?.injected).toBe(PASSPHRASE)
    const result = JSON.parse(r.stdout) as { vm: string; product: string; crnStatus: { status: { running: boolean } } }
    expect(result).toMatchObject({ vm, product: 'Synthetic', crnStatus: { status: { running: true } } })
    // Every /control request authenticated as the owner; the first measurement answer was 403.
    const control = crn.requests.filter((q) => q.path.includes(vm))
    expect(control.map((q) => `${q.method} ${q.path.split('/').pop()} ${q.status}`)).toEqual([
      'POST initialize 200',
      'GET measurement 403',
      'GET measurement 200',
      'POST inject_secret 200',
    ])
    expect(control.filter((q) => q.status === 200).every((q) => q.authenticated === owner.address)).toBe(true)
    expect(r.stderr).not.toContain(PASSPHRASE)
    // Audited with the firmware digest.
    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const launches = (audit.body.entries as { action: string; outcome: string; detail: Record<string, unknown> }[]).filter((e) => e.action === 'sev.launch' && e.detail['vm'] === vm)
    expect(launches).toMatchObject([{ outcome: 'ok', detail: { firmwareDigest: digestHex(OVMF) } }])
  })

  it('the VM boots another firmware: keybroker refuses (measurement-unknown), nothing is injected', async () => {
    const vm = vmRef('b')
    crn.vms.set(vm, { owner: owner.address, policy: 1, launchDigest: ld(OTHER_OVMF) })
    const r = await cli('launch', launchArgs(vm), env)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('measurement-unknown')
    expect(crn.vms.get(vm)?.injected).toBeUndefined()
    expect(crn.requests.some((q) => q.path.includes(vm) && q.path.endsWith('inject_secret'))).toBe(false)
  })

  it('the VM message asks another policy than the driver: the PSP refuses the session (POLICY_MAC), no measurement', async () => {
    const vm = vmRef('c')
    crn.vms.set(vm, { owner: owner.address, policy: 0x3, launchDigest: ld(OVMF) })
    const r = await cli('launch', launchArgs(vm, ['--policy', '1', '--measurement-attempts', '1']), env)
    expect(r.code).toBe(1)
    expect(crn.vms.get(vm)?.launchError).toMatch(/POLICY_MAC/)
    expect(crn.vms.get(vm)?.injected).toBeUndefined()
  })

  it('the CRN refuses a delegation the wallet did not sign (401) and a sender who does not own the VM (403)', async () => {
    const vm = vmRef('d')
    crn.vms.set(vm, { owner: owner.address, policy: 1, launchDigest: ld(OVMF) })
    const forged = await cli('launch', launchArgs(vm).map((a) => (a === files.delegation ? files.forgedDelegation : a)), env)
    expect(forged.code).toBe(1)
    expect(forged.stderr).toContain('401')
    const notOwner = await cli('launch', launchArgs(vm).map((a) => (a === files.delegation ? files.strangerDelegation : a)), env)
    expect(notOwner.code).toBe(1)
    expect(notOwner.stderr).toContain('403')
    expect(crn.vms.get(vm)?.guest).toBeUndefined()
  })

  it('a delegation for another key than --key is refused before any request', async () => {
    const before = crn.requests.length
    const r = await cli('launch', launchArgs(vmRef('e')).map((a) => (a === files.key ? files.otherKey : a)), env)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('bad-request')
    expect(crn.requests.length).toBe(before)
    expect((await cli('launch', ['--crn', crn.url], env)).code).toBe(2)
  })

  it('the compiled binary does the same round', async () => {
    const vm = vmRef('f')
    crn.vms.set(vm, { owner: owner.address, policy: 1, launchDigest: ld(OVMF) })
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'aleph', 'launch', ...launchArgs(vm)], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
      )
    })
    expect(r.code, r.stderr).toBe(0)
    expect(crn.vms.get(vm)?.injected).toBe(PASSPHRASE)
  })
})
