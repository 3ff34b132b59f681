/**
 * Hardware-shaped evidence from the pin's evidence paths:
 *
 * - TPM: a real software TPM (swtpm + tpm2-tools), an AK persisted at 0x81010002, the pin's
 *   `tpm` path (keybroker-functions `kb_evidence tpm`) quoting with the binding as qualifying
 *   data; keybroker's `tpm` verifier accepts the quote and the binding holds; end to end, the AK
 *   registered through the admin API, `clevis decrypt` unlocks, and refuses once a PCR changed.
 * - SEV-SNP: the pin's `command` path with a simulated attester that returns configfs-tsm-shaped
 *   output (synthetic report + certificate table, test/generators/snp.ts) — unlocking through a
 *   keybroker that pins the synthetic ARK, on both databases; a report of an unknown image is
 *   refused. The configfs-tsm path itself needs an SNP or TDX guest (not available in CI).
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import type { JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../../src/evidence/reader.js'
import { buildCertTable, CERT_TABLE_GUIDS } from '../../../src/evidence/snp/index.js'
import { akIdOf, decodeAkPublic, verifyTpmWireEvidence, type TpmEvidence } from '../../../src/evidence/tpm/index.js'
import type { Database } from '../../../src/storage/index.js'
import { checkBinding, computeBinding } from '../../../src/tokens/index.js'
import { createSnpPki, issueEndorsement, makeReport, type SnpPki } from '../../generators/snp.js'
import { testDatabases } from '../../support/databases.js'
import { asyncCodeOf } from '../../support/error-code.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../../support/keybroker.js'
import { CLEVIS_DIR, FIXTURES, run, scratch } from './tools.js'

const AK_HANDLE = '0x81010002'

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const address = s.address()
      s.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

describe('TPM evidence from swtpm through the pin (tpm2-tools)', () => {
  let tmp: Awaited<ReturnType<typeof scratch>>
  let swtpmPid: number | undefined
  let tcti: string

  const tpm = (args: string[]) => run(args[0] ?? '', args.slice(1), { env: { TPM2TOOLS_TCTI: tcti }, cwd: tmp.dir, timeoutMs: 30_000 })

  beforeAll(async () => {
    tmp = await scratch('kb-swtpm-')
    const setup = await run('swtpm_setup', ['--tpm2', '--tpmstate', tmp.dir, '--create-ek-cert', '--overwrite'], { timeoutMs: 60_000 })
    expect(setup.code).toBe(0)
    const port = await freePort()
    const child = spawn('swtpm', [
      'socket', '--tpm2', '--tpmstate', `dir=${tmp.dir}`,
      '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
      '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      '--flags', 'not-need-init,startup-clear',
    ], { stdio: 'ignore' })
    swtpmPid = child.pid
    tcti = `swtpm:host=127.0.0.1,port=${port}`
    // Bounded wait for the socket.
    let ready = false
    for (let i = 0; i < 50 && !ready; i++) {
      ready = (await tpm(['tpm2_getrandom', '4', '--hex'])).code === 0
      if (!ready) await new Promise((r) => setTimeout(r, 100))
    }
    expect(ready).toBe(true)
    // Provisioning, as an installer would do once: EK, AK, AK persisted (swtpm has no
    // resource manager, so transient slots are flushed between commands).
    for (const step of [
      ['tpm2_createek', '-c', 'ek.ctx', '-G', 'ecc', '-u', 'ek.pub'],
      ['tpm2_flushcontext', '-t'],
      ['tpm2_createak', '-C', 'ek.ctx', '-c', 'ak.ctx', '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', 'ak.pub', '-n', 'ak.name'],
      ['tpm2_flushcontext', '-t'],
      ['tpm2_evictcontrol', '-c', 'ak.ctx', AK_HANDLE],
      ['tpm2_flushcontext', '-t'],
      ['tpm2_flushcontext', '-s'],
    ]) {
      const r = await tpm(step)
      expect(r.code, `${step.join(' ')}: ${r.stderr}`).toBe(0)
    }
  })

  afterAll(async () => {
    if (swtpmPid !== undefined) process.kill(swtpmPid, 'SIGTERM')
    await tmp?.remove()
  })

  /** The pin's evidence function for a binding, run as the pin runs it. */
  async function pinEvidence(binding: Uint8Array): Promise<TpmEvidence> {
    const rd = await tmp.file('report-data', binding)
    const script = `. ${join(CLEVIS_DIR, 'keybroker-functions')}; kb_tmp_setup; KB_TPM_AK=${AK_HANDLE} kb_evidence tpm ${toHex(binding)} ${rd}`
    const r = await run('sh', ['-c', script], { env: { TPM2TOOLS_TCTI: tcti }, timeoutMs: 30_000 })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    return JSON.parse(r.stdout.toString())
  }

  it('quotes PCRs 0-7 with the binding as qualifying data; keybroker’s tpm verifier accepts it and the binding holds', async () => {
    const key: JWK = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }
    const binding = await computeBinding('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4', key)
    const evidence = await pinEvidence(binding)
    expect(evidence).toMatchObject({ type: 'tpm', ak: { public: expect.stringContaining('BEGIN PUBLIC KEY') } })
    expect(Object.keys(evidence.pcrs.sha256 ?? {})).toEqual(['0', '1', '2', '3', '4', '5', '6', '7'])

    const akId = akIdOf(decodeAkPublic(evidence.ak.public ?? '').publicKey)
    const registered = {
      get: async (kind: string, k: string) =>
        kind === 'tpm-ak' && k === akId ? new Uint8Array(Buffer.from(JSON.stringify({ source: 'registered', name: 'swtpm' }))) : undefined,
    }
    const claims = await verifyTpmWireEvidence(evidence, { now: new Date(), collateral: registered })
    expect(() => checkBinding(claims.reportData, binding)).not.toThrow()
    const pcrs = Object.values(evidence.pcrs.sha256 ?? {}).map((h) => Buffer.from(h, 'hex'))
    expect(claims.measurement).toBe(createHash('sha256').update(Buffer.concat(pcrs)).digest('hex'))

    // Another binding does not match this quote; an AK keybroker does not know is refused.
    const other = await computeBinding('BBECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4', key)
    expect(await asyncCodeOf(async () => checkBinding(claims.reportData, other))).toBe('binding-mismatch')
    const nobody = { get: async () => undefined }
    expect(await asyncCodeOf(() => verifyTpmWireEvidence(evidence, { now: new Date(), collateral: nobody }))).toBe('chain-untrusted')
  })

  describe.each(testDatabases())('unlocking with the tpm path on %s', (engine) => {
    let database: Database
    let kb: TestKeybroker

    beforeAll(async () => {
      database = await engine.open()
      kb = await startKeybroker(database)
    })

    afterAll(async () => {
      await kb?.close()
      await database?.close()
    })

    it('unlocks with a quote by the registered AK; an extended PCR (another boot state) is refused', async () => {
      // The AK registered by a registrar, and the current PCR digest as the image's measurement.
      const evidence = await pinEvidence(new Uint8Array(64))
      const registered = await adminCall(kb, 'POST', '/admin/v1/tpm/aks', { name: 'swtpm-ak', publicKey: evidence.ak.public }, kb.tokens.registrar)
      expect(registered.status).toBe(201)
      const pcrs = Object.values(evidence.pcrs.sha256 ?? {}).map((h) => Buffer.from(h, 'hex'))
      const measurement = createHash('sha256').update(Buffer.concat(pcrs)).digest('hex')
      expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'tpm-boot', measurements: [measurement] })).status).toBe(201)
      expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'tpm-root', referenceValues: ['tpm-boot'] })).status).toBe(201)

      const thp = ((JSON.parse((await kb.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }).keys[0]?.kid ?? '')
      const ca = await tmp.file(`ca-${engine.kind}.pem`, kb.server.caPem ?? '')
      const cfg = JSON.stringify({ url: kb.url, key: 'tpm-root', thp, cacert: ca, evidence: 'tpm', tpm: { ak: AK_HANDLE, pcrs: 'sha256:0,1,2,3,4,5,6,7' } })
      const enc = await run('clevis', ['encrypt', 'keybroker', cfg], { input: 'tpm-sealed disk' })
      expect(enc.code).toBe(0)
      const dec = await run('clevis', ['decrypt'], { input: enc.stdout, env: { TPM2TOOLS_TCTI: tcti }, timeoutMs: 60_000 })
      expect(dec.stderr).toBe('')
      expect(dec.code).toBe(0)
      expect(dec.stdout.toString()).toBe('tpm-sealed disk')

      const extended = await tpm(['tpm2_pcrextend', `7:sha256=${'ab'.repeat(32)}`])
      expect(extended.code).toBe(0)
      const refused = await run('clevis', ['decrypt'], { input: enc.stdout, env: { TPM2TOOLS_TCTI: tcti }, timeoutMs: 60_000 })
      expect(refused.code).toBe(1)
      expect(refused.stdout.byteLength).toBe(0)
      expect(refused.stderr).toContain('measurement-in-reference-values')
    })
  })

  it('reports a TPM failure on stderr and exits non-zero (no AK at the handle)', async () => {
    const rd = await tmp.file('rd2', new Uint8Array(64))
    const script = `. ${join(CLEVIS_DIR, 'keybroker-functions')}; kb_tmp_setup; KB_TPM_AK=0x81010099 kb_evidence tpm ${'00'.repeat(64)} ${rd}`
    const r = await run('sh', ['-c', script], { env: { TPM2TOOLS_TCTI: tcti }, timeoutMs: 30_000 })
    expect(r.code).not.toBe(0)
    expect(r.stdout.byteLength).toBe(0)
    expect(r.stderr).toMatch(/tpm2_quote with AK 0x81010099 failed/)
  })
})

describe.each(testDatabases())('SEV-SNP evidence through the pin (simulated configfs-tsm attester) on %s', (engine) => {
  const MEASUREMENT = 'a1'.repeat(48) // the generator's default MEASUREMENT
  let pki: SnpPki
  let vcek: Uint8Array
  let signer: Server
  let signerUrl: string
  let database: Database
  let kb: TestKeybroker
  let tmp: Awaited<ReturnType<typeof scratch>>

  beforeAll(async () => {
    pki = await createSnpPki('Milan')
    vcek = await issueEndorsement(pki)
    const auxblob = buildCertTable(
      [
        { guid: CERT_TABLE_GUIDS.vcek, data: vcek },
        { guid: CERT_TABLE_GUIDS.ask, data: pki.ask.der },
        { guid: CERT_TABLE_GUIDS.ark, data: pki.ark.der },
      ],
      16 * 1024,
    )
    signer = createServer((req, res) => {
      const m = /^\/(good|unknown-image)\/([0-9a-f]{128})$/.exec(req.url ?? '')
      if (m === null) {
        res.writeHead(404).end()
        return
      }
      const reportData = new Uint8Array(Buffer.from(m[2] ?? '', 'hex'))
      const fields = m[1] === 'good' ? { reportData } : { reportData, measurement: new Uint8Array(48).fill(0x77) }
      const outblob = makeReport(pki, fields)
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ type: 'snp', report: Buffer.from(outblob).toString('base64'), certs: Buffer.from(auxblob).toString('base64') }))
    })
    await new Promise<void>((r) => signer.listen(0, '127.0.0.1', r))
    const address = signer.address()
    signerUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

    database = await engine.open()
    kb = await startKeybroker(database, {}, undefined, { snpArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }] })
    tmp = await scratch('kb-snp-pin-')
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'cvm', measurements: [MEASUREMENT] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'cvm-root', referenceValues: ['cvm'] })).status).toBe(201)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
    await tmp?.remove()
    await new Promise((r) => signer?.close(r))
  })

  it('unlocks with an SNP report carrying the binding; a report of an unknown image is refused', async () => {
    const thp = ((JSON.parse((await kb.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }).keys[0]?.kid ?? '')
    const ca = await tmp.file('ca.pem', kb.server.caPem ?? '')
    const cfg = JSON.stringify({ url: kb.url, key: 'cvm-root', thp, cacert: ca, evidence: 'command', attester: join(FIXTURES, 'snp-attester') })
    const enc = await run('clevis', ['encrypt', 'keybroker', cfg], { input: 'cvm root disk' })
    expect(enc.code).toBe(0)

    const env = { KB_TEST_SNP_SIGNER: signerUrl }
    const dec = await run('clevis', ['decrypt'], { input: enc.stdout, env })
    expect(dec.stderr).toBe('')
    expect(dec.code).toBe(0)
    expect(dec.stdout.toString()).toBe('cvm root disk')
    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=1000', undefined, kb.tokens.auditor)
    const entry = audit.body.entries.filter((e: { action: string }) => e.action === 'recover').at(-1)
    expect(entry).toMatchObject({ outcome: 'ok', detail: { evidenceType: 'snp', measurement: MEASUREMENT } })

    const refused = await run('clevis', ['decrypt'], { input: enc.stdout, env: { ...env, KB_TEST_SNP_VARIANT: 'unknown-image' } })
    expect(refused.code).toBe(1)
    expect(refused.stdout.byteLength).toBe(0)
    expect(refused.stderr).toContain('measurement-in-reference-values')
  })
})
