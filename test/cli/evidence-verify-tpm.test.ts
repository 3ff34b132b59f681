/**
 * `keybroker evidence verify` (the compiled CLI) for `tpm`, `az-snp-vtpm` and `az-tdx-vtpm`:
 * real vectors (test/vectors/tpm, test/vectors/azure) and a synthetic quote with an event log and
 * an IMA list; AK trust offline comes from the collateral directory (`tpm/aks/<id>.pem`).
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asciiList, bankDigest, fileEntry } from '../generators/ima.js'
import { writeAgileLog } from '../generators/tcg-event-log.js'
import { akKeyPair, encodePublic, encodeQuote, pcrValuesFor, quoteFields, signQuote, wirePcrs } from '../generators/tpm.js'
import { GCP_AK_ID, gcpEvidence, TRUSTEE_AK_ID, trusteeEvidence } from '../evidence/tpm/vectors.js'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const AZURE = fileURLToPath(new URL('../vectors/azure/', import.meta.url))
const TODAY = '2026-11-23T00:00:00Z'

let dir: string
function kb(args: string[]) {
  const res = spawnSync(process.execPath, [BIN, 'evidence', 'verify', ...args], {
    env: { PATH: process.env.PATH ?? '', KEYBROKER_DATA_DIR: join(dir, 'data'), KEYBROKER_COLLATERAL_DIR: join(dir, 'none') },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}
const code = (stdout: string): string => (JSON.parse(stdout) as { code: string }).code

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kb-evidence-tpm-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('keybroker evidence verify --type tpm', () => {
  it('trustee tpm_evidence.json: chain-untrusted until the AK is a file of the collateral directory', async () => {
    const file = join(dir, 'trustee.json')
    const evidence = trusteeEvidence()
    await writeFile(file, JSON.stringify(evidence))
    const untrusted = kb(['--type', 'tpm', file])
    expect(untrusted.status).toBe(1)
    expect(code(untrusted.stdout)).toBe('chain-untrusted')

    const collateral = join(dir, 'collateral')
    await mkdir(join(collateral, 'tpm', 'aks'), { recursive: true })
    const pem = `-----BEGIN PUBLIC KEY-----\n${evidence.ak.public!.replace(/.{64}/g, '$&\n')}\n-----END PUBLIC KEY-----\n`
    // Under another id it registers nothing.
    await writeFile(join(collateral, 'tpm', 'aks', `${'0'.repeat(64)}.pem`), pem)
    expect(code(kb(['--type', 'tpm', file, '--collateral', collateral]).stdout)).toBe('chain-untrusted')
    await writeFile(join(collateral, 'tpm', 'aks', `${TRUSTEE_AK_ID}.pem`), pem)
    const ok = kb(['--type', 'tpm', file, '--collateral', collateral])
    expect(ok.status).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({
      evidenceType: 'tpm',
      measurement: '019de64c9318655e422c3d03831169896e31f02a1d74e4d8fef575bf4e0d75fa',
      instanceId: TRUSTEE_AK_ID,
      raw: { ak: { trust: 'registered' } },
    })
  })

  it('GCP Shielded VM (SHA-1 quote), its AK registered: evidence-unsupported by default', async () => {
    const file = join(dir, 'gcp.json')
    const evidence = gcpEvidence()
    await writeFile(file, JSON.stringify(evidence))
    const collateral = join(dir, 'collateral-gcp')
    await mkdir(join(collateral, 'tpm', 'aks'), { recursive: true })
    await writeFile(join(collateral, 'tpm', 'aks', `${GCP_AK_ID}.pem`), Buffer.from(evidence.ak.public!, 'base64'))
    const res = kb(['--type', 'tpm', file, '--collateral', collateral])
    expect(res.status).toBe(1)
    expect(code(res.stdout)).toBe('evidence-unsupported')
  })

  it('a quote with an event log and an IMA list: the claims carry the decoded events and files; a bad log fails', async () => {
    const key = akKeyPair('p256')
    const log = writeAgileLog(['sha256'], [{ pcrIndex: 4, eventType: 0x0d, data: new Uint8Array(Buffer.from('kernel_cmdline: ro quiet\u0000')) }])
    const files = [fileEntry('boot_aggregate', 'b'), fileEntry('/usr/bin/app', 'app')]
    const pcr4 = createHash('sha256').update(Buffer.alloc(32)).update(createHash('sha256').update(Buffer.from('kernel_cmdline: ro quiet\u0000')).digest()).digest()
    let pcr10 = Buffer.alloc(32)
    for (const f of files) pcr10 = createHash('sha256').update(pcr10).update(bankDigest(f, 'sha256')).digest()
    const f = quoteFields({ banks: [{ bank: 'sha256', pcrs: [4, 10] }] })
    const values = pcrValuesFor(f.banks, { sha256: { 4: pcr4, 10: pcr10 } })
    const quote = encodeQuote(f, values)
    const evidence = {
      type: 'tpm',
      quote: Buffer.from(quote).toString('base64'),
      signature: Buffer.from(signQuote(quote, key.privateKey, 'ecdsa')).toString('base64'),
      pcrs: wirePcrs(values),
      ak: { public: Buffer.from(encodePublic(key.publicKey)).toString('base64') },
      eventLog: Buffer.from(log).toString('base64'),
      imaLog: asciiList(files),
    }
    const file = join(dir, 'synthetic.json')
    await writeFile(file, JSON.stringify(evidence))
    const collateral = join(dir, 'collateral-synthetic')
    await mkdir(join(collateral, 'tpm', 'aks'), { recursive: true })
    const id = createHash('sha256').update(key.publicKey.export({ type: 'spki', format: 'der' })).digest('hex')
    await writeFile(join(collateral, 'tpm', 'aks', `${id}.pem`), encodePublic(key.publicKey))
    const ok = kb(['--type', 'tpm', file, '--collateral', collateral])
    expect(ok.status).toBe(0)
    const claims = JSON.parse(ok.stdout)
    expect(claims.raw.eventLog.events[0]).toMatchObject({ pcr: 4, type: 'EV_IPL', details: { text: 'kernel_cmdline: ro quiet' }, digestMatchesData: true })
    expect(claims.raw.ima.files.map((x: { path: string }) => x.path)).toEqual(['boot_aggregate', '/usr/bin/app'])
    await writeFile(file, JSON.stringify({ ...evidence, imaLog: asciiList([...files, fileEntry('/late', 'x')]) }))
    expect(code(kb(['--type', 'tpm', file, '--collateral', collateral]).stdout)).toBe('event-log-mismatch')
    await writeFile(file, JSON.stringify({ ...evidence, eventLog: 'AAAA' }))
    expect(code(kb(['--type', 'tpm', file, '--collateral', collateral]).stdout)).toBe('evidence-malformed')
  })
})

describe('keybroker evidence verify --type az-snp-vtpm / az-tdx-vtpm', () => {
  it("trustee's Azure SNP evidence files verify as they are (fromFile)", () => {
    const res = kb(['--type', 'az-snp-vtpm', join(AZURE, 'snp', 'evidence-v1.json'), '--at', TODAY])
    expect(res.status).toBe(0)
    expect(JSON.parse(res.stdout)).toMatchObject({
      evidenceType: 'az-snp-vtpm',
      measurements: { pcr0: 'e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced' },
      reportData: Buffer.from('challenge').toString('hex'),
    })
    const genoa = kb(['--type', 'az-snp-vtpm', join(AZURE, 'snp', 'evidence-genoa.json'), '--at', TODAY])
    expect(genoa.status).toBe(0)
  })

  it('the Azure TDX evidence stops at the TCB collateral it does not carry', () => {
    const res = kb(['--type', 'az-tdx-vtpm', join(AZURE, 'tdx', 'evidence-v1.json'), '--at', TODAY])
    expect(res.status).toBe(1)
    expect(code(res.stdout)).toBe('collateral-missing')
  })
})
