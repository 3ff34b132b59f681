/**
 * The real quote v5 (TDX 1.5) and its real 2026 tcbInfo through the collateral store on both
 * databases (test/vectors/tdx/go-tdx-guest-v5-tdx15): the tcbInfo uploaded with
 * `/admin/v1/collateral/tdx` at the vector's time 2026-02-03T01:00:00Z (the server's test clock)
 * with the TCB Signing key pinned by configuration, read back by request-time verification.
 * `/v1/attest` cannot carry this quote (its REPORT_DATA is not our binding), so the quote is
 * verified in process with the server's collateral lookup. There is no current TD QE identity
 * for 2026 in the vectors, so verification ends at `collateral-missing`; a tampered copy of the
 * quote (synthetic) is refused before that.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TDX_COLLATERAL_KINDS, verifyTdxEvidence } from '../../src/evidence/tdx/index.js'
import { HEADER_SIZE, TD_REPORT, V5_BODY_DESCRIPTOR_SIZE } from '../../src/evidence/tdx/quote/index.js'
import type { Database } from '../../src/storage/index.js'
import { asyncCodeOf } from '../support/error-code.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const vec = (p: string) => new Uint8Array(readFileSync(new URL(`../vectors/tdx/${p}`, import.meta.url)))
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8')
const QUOTE = vec('go-tdx-guest-v5-tdx15/quote_v5_sample.dat')
const TCB_INFO = vec('go-tdx-guest-v5-tdx15/sample_tcbinfo_response_v5')
const SIGNING_CHAIN = text(vec('intel-sgx-tcb-signing-2018-2025.pem'))
const SIGNING_KEY_PIN = 'bd7d4b9c805d92607dee34683a104abfa7b2a487e06af2edf0740a8666cbc22f'
const AT = Date.parse('2026-02-03T01:00:00Z')

describe.each(testDatabases())('real TDX quote v5 with stored collateral on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  const upload = (body: unknown) => adminCall(kb, 'POST', '/admin/v1/collateral/tdx', body)
  const verify = (quote: Uint8Array) =>
    verifyTdxEvidence({ quote, lookup: kb.services.collateral.lookup(), now: kb.clock.now(), options: { pinnedTcbSigningKeys: kb.config.tdx.pinnedTcbSigningKeys } })

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, { KEYBROKER_TDX_PINNED_TCB_SIGNING_KEYS: SIGNING_KEY_PIN })
  })
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  it('refuses the tcbInfo at the real clock (its nextUpdate 2026-03-03 has passed)', async () => {
    const res = await upload({ tcbInfo: { body: text(TCB_INFO), issuerChain: SIGNING_CHAIN } })
    expect({ status: res.status, type: res.body?.type }).toEqual({ status: 422, type: 'https://keybroker.dev/problems/collateral-missing' })
  })

  it('stores the tcbInfo at 2026-02-03 (TCB Signing key pinned) byte for byte under its FMSPC', async () => {
    kb.clock.advance((AT - kb.clock.now().getTime()) / 1000)
    const res = await upload({ tcbInfo: { body: text(TCB_INFO), issuerChain: encodeURIComponent(SIGNING_CHAIN) } })
    expect(res.status).toBe(201)
    expect(res.body.stored).toMatchObject([
      { kind: 'tdx-tcb-info', key: '90c06f000000', notAfter: '2026-03-03T14:49:26.000Z' },
      { kind: 'tdx-tcb-signing-chain', key: 'intel', notAfter: '2025-05-21T10:50:10.000Z' },
    ])
    expect(await kb.services.collateral.lookup().get(TDX_COLLATERAL_KINDS.tcbInfo, '90c06f000000')).toEqual(TCB_INFO)
  })

  it('verifies the quote up to the QE identity, which no current one exists for: collateral-missing', async () => {
    expect(await asyncCodeOf(() => verify(QUOTE))).toBe('collateral-missing')
    // go-tdx-guest's TD QE identity is from 2023: stale now, refused at upload.
    const stale = await upload({ qeIdentity: { body: text(vec('go-tdx-guest-v4-spr/sample_qeIdentity_response')), issuerChain: SIGNING_CHAIN } })
    expect({ status: stale.status, type: stale.body?.type }).toEqual({ status: 422, type: 'https://keybroker.dev/problems/collateral-missing' })
  })

  it('refuses a tampered copy of the quote (synthetic: MRTD changed) before any collateral: signature-invalid', async () => {
    const tampered = QUOTE.slice()
    const at = HEADER_SIZE + V5_BODY_DESCRIPTOR_SIZE + TD_REPORT.mrTd.at
    tampered[at] = (tampered[at] ?? 0) ^ 1
    expect(await asyncCodeOf(() => verify(tampered))).toBe('signature-invalid')
  })
})
