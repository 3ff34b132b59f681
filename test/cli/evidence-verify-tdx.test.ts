/**
 * `keybroker evidence verify --type tdx` (the compiled CLI) with the real TDX vectors at their
 * pinned times (test/vectors/tdx/README.md): a raw quote file and a collateral directory in the
 * Intel PCS layout (`src/services/tdx-pcs.ts`), or JSON evidence carrying its collateral.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))
const VECTORS = fileURLToPath(new URL('../vectors/tdx/', import.meta.url))
const vec = (p: string) => join(VECTORS, p)

const SIGNING_KEY_PIN = 'bd7d4b9c805d92607dee34683a104abfa7b2a487e06af2edf0740a8666cbc22f'
const EMR_AT = '2025-11-01T00:00:00Z'
const EMR_ENV = { KEYBROKER_TDX_PINNED_TCB_SIGNING_KEYS: SIGNING_KEY_PIN, KEYBROKER_TDX_ACCEPTED_TCB_STATUSES: 'UpToDate,SWHardeningNeeded,OutOfDate' }

let dir: string
let emrDir: string
let sprDir: string
let sprQuote: string

function kb(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [BIN, 'evidence', 'verify', ...args], {
    env: { PATH: process.env.PATH ?? '', KEYBROKER_DATA_DIR: join(dir, 'data'), ...env },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

function problemCode(stdout: string): string {
  const problem = JSON.parse(stdout) as { code: string; type: string }
  expect(problem.type).toBe(`https://keybroker.dev/problems/${problem.code}`)
  return problem.code
}

async function place(root: string, path: string, from: string): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true })
  await copyFile(from, join(root, path))
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kb-tdx-cli-'))
  emrDir = join(dir, 'emr')
  await place(emrDir, 'tdx/certification/v4/tcb?fmspc=00a06d080000', vec('trustee-v4-emr-with-collateral/tcbInfo.json'))
  await place(emrDir, 'tdx/certification/v4/qe/identity', vec('trustee-v4-emr-with-collateral/enclaveIdentity.json'))
  await place(emrDir, 'tdx/certification/v4/tcb-info-issuer-chain.pem', vec('intel-sgx-tcb-signing-2018-2025.pem'))
  sprDir = join(dir, 'spr')
  await place(sprDir, 'tdx/certification/v4/tcb?fmspc=50806f000000', vec('go-tdx-guest-v4-spr/sample_tcbInfo_response'))
  await place(sprDir, 'tdx/certification/v4/qe/identity', vec('go-tdx-guest-v4-spr/sample_qeIdentity_response'))
  await place(sprDir, 'tdx/certification/v4/tcb-info-issuer-chain.pem', vec('intel-sgx-tcb-signing-2018-2025.pem'))
  await place(sprDir, 'sgx/certification/v4/pckcrl?ca=platform&encoding=der', vec('go-tdx-guest-v4-spr/pckcrl'))
  await place(sprDir, 'IntelSGXRootCA.der', vec('go-tdx-guest-v4-spr/rootcrl.der'))
  // go-tdx-guest appended 39 bytes of test text to this quote (README); the real quote is without them.
  const raw = readFileSync(vec('go-tdx-guest-v4-spr/tdx_prod_quote_SPR_E4.dat'))
  sprQuote = join(dir, 'spr.dat')
  await writeFile(sprQuote, raw.subarray(0, raw.byteLength - 39))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('keybroker evidence verify --type tdx', () => {
  it('verifies the EMR quote against a PCS-layout --collateral directory at its pinned date and prints the claims', () => {
    const res = kb(['--type', 'tdx', vec('trustee-v4-emr-with-collateral/tdx_quote_6.dat'), '--collateral', emrDir, '--at', EMR_AT], EMR_ENV)
    expect(res.stderr).toBe('')
    expect(res.status).toBe(0)
    const claims = JSON.parse(res.stdout)
    expect(claims).toMatchObject({
      evidenceType: 'tdx',
      platform: 'intel-tdx',
      measurement: '21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88',
      debug: false,
      tcb: { status: 'OutOfDate', qeStatus: 'UpToDate', tdxModuleStatus: 'UpToDate', fmspc: '00a06d080000' },
      reportData: '26cae1c77185617fb6a03fc29bf1f924596e52352b9b7594940b576ae126cd4a570cc3202a900c5d19a6eb0a95b32cfd' + '00'.repeat(16),
    })
    expect(claims.raw.advisoryIds).toEqual([])
  })

  it('refuses by the default policy, without the signing-key pin, and once the collateral is stale', () => {
    const quote = vec('trustee-v4-emr-with-collateral/tdx_quote_6.dat')
    const base = ['--type', 'tdx', quote, '--collateral', emrDir]
    let res = kb([...base, '--at', EMR_AT], { KEYBROKER_TDX_PINNED_TCB_SIGNING_KEYS: SIGNING_KEY_PIN })
    expect([res.status, problemCode(res.stdout)]).toEqual([1, 'tcb-below-minimum'])
    res = kb([...base, '--at', EMR_AT], { KEYBROKER_TDX_ACCEPTED_TCB_STATUSES: EMR_ENV.KEYBROKER_TDX_ACCEPTED_TCB_STATUSES })
    expect([res.status, problemCode(res.stdout)]).toEqual([1, 'chain-untrusted'])
    res = kb([...base, '--at', '2026-11-23T00:00:00Z'], EMR_ENV)
    expect([res.status, problemCode(res.stdout)]).toEqual([1, 'collateral-missing'])
    res = kb(['--type', 'tdx', quote, '--collateral', join(dir, 'empty'), '--at', EMR_AT], EMR_ENV)
    expect([res.status, problemCode(res.stdout)]).toEqual([1, 'collateral-missing'])
  })

  it('the SPR quote with both CRLs required: everything verifies up to the TCB level, which Intel does not list', () => {
    const res = kb(['--type', 'tdx', sprQuote, '--collateral', sprDir, '--at', '2023-07-01T01:00:00Z'], { KEYBROKER_TDX_REQUIRE_CRLS: '1' })
    expect([res.status, problemCode(res.stdout)]).toEqual([1, 'tcb-below-minimum'])
  })

  it('the debug TD is refused for debug', () => {
    const res = kb(['--type', 'tdx', vec('trustee-v4-debug-td/tdx_quote_4.dat'), '--at', '2026-11-23T00:00:00Z'])
    expect([res.status, problemCode(res.stdout)]).toEqual([1, 'debug-enabled'])
  })

  it('takes JSON evidence with its collateral inline', async () => {
    const file = join(dir, 'evidence.json')
    const read = (p: string) => readFileSync(vec(p))
    await writeFile(
      file,
      JSON.stringify({
        type: 'tdx',
        quote: read('trustee-v4-emr-with-collateral/tdx_quote_6.dat').toString('base64'),
        collateral: {
          tcbInfo: read('trustee-v4-emr-with-collateral/tcbInfo.json').toString('utf8'),
          qeIdentity: read('trustee-v4-emr-with-collateral/enclaveIdentity.json').toString('utf8'),
          tcbSigningChain: read('intel-sgx-tcb-signing-2018-2025.pem').toString('utf8'),
        },
      }),
    )
    const res = kb(['--type', 'tdx', file, '--collateral', join(dir, 'empty'), '--at', EMR_AT], EMR_ENV)
    expect(res.status).toBe(0)
    expect(JSON.parse(res.stdout).tcb.status).toBe('OutOfDate')
  })

  it('--certs does not apply to TDX (the PCK chain is in the quote); bad settings name themselves', () => {
    const quote = vec('trustee-v4-debug-td/tdx_quote_4.dat')
    const res = kb(['--type', 'tdx', quote, '--certs', vec('intel-sgx-pck-platform-ca.pem')])
    expect([res.status, problemCode(res.stdout)]).toEqual([1, 'evidence-malformed'])
    const bad = kb(['--type', 'tdx', quote], { KEYBROKER_TDX_ACCEPTED_TCB_STATUSES: 'UpToDate,Fine' })
    expect(bad.status).not.toBe(0)
    expect(bad.stderr).toContain('KEYBROKER_TDX_ACCEPTED_TCB_STATUSES')
  })
})
