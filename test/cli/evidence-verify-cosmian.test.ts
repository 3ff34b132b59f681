/**
 * `keybroker evidence verify --type cosmian` (the compiled CLI) on the real Cosmian vectors: the
 * five SEV quotes in the agent's own formats (binding skipped, as for every offline verify), the
 * RA-TLS certificate, and the four real IMA lists replaying to their README PCR 10 values. For the
 * IMA lists the TPM quote is synthetic (no real quote of those lists exists): a test AK, registered
 * through the collateral directory (`tpm/aks/<id>.pem`), signs a quote of the README value.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { b64NoPad, byteArray, testAk, tpmQuoteJson } from '../generators/cosmian.js'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const V = (p: string): string => fileURLToPath(new URL(`../vectors/${p}`, import.meta.url))
const TODAY = '2026-11-23T00:00:00Z'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kb-cosmian-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function kb(args: string[]) {
  const res = spawnSync(process.execPath, [BIN, 'evidence', 'verify', '--type', 'cosmian', ...args], {
    env: { PATH: process.env.PATH ?? '', KEYBROKER_DATA_DIR: join(dir, 'data'), KEYBROKER_SNP_MAX_VMPL: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, json: res.stdout.trim().startsWith('{') ? JSON.parse(res.stdout) : undefined }
}

describe('keybroker evidence verify --type cosmian', { timeout: 240_000 }, () => {
  it.each([
    ['report-ark-ask-vcek.bin', TODAY, 'bincode-v1'],
    ['report-vlek-aws.bin', '2025-06-01T00:00:00Z', 'bincode-v1'],
    ['report-vlek.bin', '2024-01-01T00:00:00Z', 'bincode-v1-legacy-enum'],
    ['az_sev_report_with_chain.bin', TODAY, 'azure-pem'],
  ])('%s (binary, as /quote/tee serves it) verifies', (file, at, layout) => {
    const res = kb([V(`snp/cosmian-tee-tools/${file}`), '--at', at])
    expect(res.stderr).toBe('')
    expect(res.status).toBe(0)
    expect(res.json).toMatchObject({ evidenceType: 'cosmian', platform: 'amd-sev-snp', raw: { quoteLayout: layout, tee: 'snp' } })
  })

  it('report-no-cert.bin (bare report) is checked: its VCEK must come from collateral (collateral-missing alone)', () => {
    const res = kb([V('snp/cosmian-tee-tools/report-no-cert.bin'), '--at', TODAY])
    expect(res.status).toBe(1)
    expect(res.json.code).toBe('collateral-missing')
  })

  it('the agent JSON byte array form of a quote verifies the same', async () => {
    const file = join(dir, 'quote.json')
    await writeFile(file, JSON.stringify(byteArray(readFileSync(V('snp/cosmian-tee-tools/report-ark-ask-vcek.bin')))))
    const res = kb([file, '--at', TODAY])
    expect(res.status).toBe(0)
    expect(res.json.measurement).toBe('41a95b6fbe794f1d3bb919934adc5e44583b57e4a5c3f489ffe775ecb8e23d3947001e886277751ba06ae793c2c8904d')
  })

  it('the RA-TLS certificate: the quote of its extension (tee-tools 2.x layout) verifies', () => {
    const res = kb([V('cosmian/sev-cert.ratls.pem'), '--at', TODAY])
    expect(res.status).toBe(0)
    expect(res.json).toMatchObject({ measurement: '12068361369cf9179bb6ac08572b7e15ed0bc8abb698cb04d4f584f7ff512a4c2081c1f5b105351dbd45c035a7d6a3a5', raw: { quoteLayout: 'tee-tools-v2', vmpl: 1 } })
  })

  it.each([
    ['ima.bin', 'sha1', 'd3a3689b986b31283f022ba100e25b2a3270c0da'],
    ['ima.bin', 'sha256', '2b053a7a06a3dc701f610394cb6bd38f5feb2ab3eaf2e08c5420c3e0fb8e5ec7'],
    ['ima-sig.bin', 'sha256', 'a7e679eb591decf3aa5c14ee322554417b4ecea780d87afd41aaa27fb8ca23ba'],
    ['ima-sig2.bin', 'sha256', '1ae45e0fc3f1f63f11276f23bf94e38d26785d366a8efd799e5d37bb7effbd9d'],
    ['ima_with_000000.bin', 'sha256', 'c7021e286ff291fc28affca8b97a7d0e06ea8ec192646c5f42d463f6ce394e9e'],
  ] as const)('real %s replays to its PCR 10 (%s) through the cosmian type', async (file, bank, pcr10) => {
    const ak = testAk()
    const collateral = join(dir, `collateral-${file}-${bank}`)
    await mkdir(join(collateral, 'tpm', 'aks'), { recursive: true })
    await writeFile(join(collateral, 'tpm', 'aks', `${ak.id}.pem`), ak.publicKey.export({ type: 'spki', format: 'pem' }).toString())
    const evidence = {
      type: 'cosmian',
      teeQuote: b64NoPad(readFileSync(V('snp/cosmian-tee-tools/report-ark-ask-vcek.bin'))),
      tpmQuote: tpmQuoteJson(ak, { bank, pcrValue: new Uint8Array(Buffer.from(pcr10, 'hex')), nonce: new Uint8Array(32).fill(7) }),
      imaBinary: byteArray(readFileSync(V(`tpm/cosmian/ima/${file}`))),
    }
    const path = join(dir, `ev-${file}-${bank}.json`)
    await writeFile(path, JSON.stringify(evidence))
    const ok = kb([path, '--at', TODAY, '--collateral', collateral])
    expect(ok.stderr).toBe('')
    expect(ok.json.raw.pcrs[bank]['10']).toBe(pcr10)
    expect(ok.json.raw.ak).toMatchObject({ id: ak.id, trust: 'registered' })
    // Without the registration the AK is not trusted: refused, not accepted blindly.
    expect(kb([path, '--at', TODAY, '--collateral', join(dir, 'empty')]).json.code).toBe('chain-untrusted')
  })
})
