/**
 * `keybroker evidence verify --type automata FILE` (the compiled CLI) with the collaterals built
 * from the real Azure vector (test/vectors/automata/): everything but the nonce binding is
 * checked, the claims are printed; one PCR value changed is refused.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { azureSnpPcrs } from '../vectors/automata/from-real-pieces.js'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const DOC = fileURLToPath(new URL('../vectors/automata/azure-snp-collaterals.json', import.meta.url))
const AT = '2026-11-23T00:00:00Z'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kb-automata-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function kb(args: string[]) {
  const res = spawnSync(process.execPath, [BIN, 'evidence', 'verify', ...args], {
    env: { PATH: process.env.PATH ?? '', KEYBROKER_DATA_DIR: join(dir, 'data') },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

describe('keybroker evidence verify --type automata', () => {
  it('the real Azure collaterals: the SNP measurement and the PCR values of the vector', () => {
    const res = kb(['--type', 'automata', DOC, '--at', AT])
    expect(res.stderr).toBe('')
    expect(res.status).toBe(0)
    const claims = JSON.parse(res.stdout)
    expect(claims).toMatchObject({
      evidenceType: 'automata',
      platform: 'automata-sev-snp',
      measurement: '9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315',
      teeTpmTie: 'azure-var-data',
      debug: false,
      raw: { pcrs: { sha256: azureSnpPcrs() }, teeTpmTie: 'azure-var-data', product: 'Milan' },
    })
  })

  it('the same document as keybroker evidence ({type, collaterals}) verifies too', async () => {
    const wrapped = join(dir, 'evidence.json')
    await writeFile(wrapped, JSON.stringify({ type: 'automata', collaterals: JSON.parse(readFileSync(DOC, 'utf8')) }))
    expect(kb(['--type', 'automata', wrapped, '--at', AT]).status).toBe(0)
  })

  it('one PCR value changed: refused (exit 1, signature-invalid)', async () => {
    const doc = JSON.parse(readFileSync(DOC, 'utf8')) as { tpm: { pcrs: { pcrs: Record<string, string> } } }
    const pcr = Buffer.from(doc.tpm.pcrs.pcrs['7'] ?? '', 'base64')
    pcr[0] = (pcr[0] ?? 0) ^ 0x80
    doc.tpm.pcrs.pcrs['7'] = pcr.toString('base64')
    const changed = join(dir, 'changed.json')
    await writeFile(changed, JSON.stringify(doc))
    const res = kb(['--type', 'automata', changed, '--at', AT])
    expect(res.status).toBe(1)
    expect(JSON.parse(res.stdout)).toMatchObject({ code: 'signature-invalid', status: 403 })
  })

  it('a malformed field: exit 1, evidence-malformed naming it', async () => {
    const doc = JSON.parse(readFileSync(DOC, 'utf8')) as { tpm: { quote: string } }
    doc.tpm.quote = 'AAAA'
    const bad = join(dir, 'bad.json')
    await writeFile(bad, JSON.stringify(doc))
    const res = kb(['--type', 'automata', bad, '--at', AT])
    expect(res.status).toBe(1)
    const problem = JSON.parse(res.stdout) as { code: string; detail: string }
    expect(problem.code).toBe('evidence-malformed')
    expect(problem.detail).toContain('collaterals.tpm.quote')
  })
})
