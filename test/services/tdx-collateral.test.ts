/**
 * The TDX side of the collateral store: the admin upload with real Intel PCS responses (go-tdx-guest's
 * 2023 SPR set, verified at 2023-07-01 when its TCB Signing certificate was valid), fuzzed upload
 * text, and the PCS cache-directory layout.
 */
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseQuote, TDX_COLLATERAL_KINDS, tdxEvidenceFromFiles, tdxEvidenceSchema } from '../../src/evidence/tdx/index.js'
import { encodePemCertificate } from '../../src/evidence/tdx/quote/index.js'
import { TDX_PCS_LAYOUT } from '../../src/services/tdx-pcs.js'
import { verifyTdxUpload, type TdxCollateralUpload } from '../../src/services/tdx-collateral.js'
import { asyncCodeOf, codeOf } from '../support/error-code.js'

const vec = (p: string) => readFileSync(new URL(`../vectors/tdx/${p}`, import.meta.url))
const AT = new Date('2023-07-01T01:00:00Z')
const SIGNING_CHAIN = vec('intel-sgx-tcb-signing-2018-2025.pem').toString('utf8')
const SPR = vec('go-tdx-guest-v4-spr/tdx_prod_quote_SPR_E4.dat')
const chain = parseQuote(new Uint8Array(SPR.subarray(0, SPR.byteLength - 39))).pckChain
const PLATFORM_CHAIN = [chain[1]!, chain[2]!].map(encodePemCertificate).join('')

const upload = (body: TdxCollateralUpload, now = AT) => verifyTdxUpload({ now: () => now, tdxExtraPinnedRoots: [], tdxPinnedTcbSigningKeys: [] }, body)

describe('admin TDX upload with real PCS responses', () => {
  it('stores TCB info (by FMSPC), QE identity, their TCB Signing chain, the PCK CRL (platform) and the Root CA CRL', async () => {
    const items = await upload({
      tcbInfo: { body: vec('go-tdx-guest-v4-spr/sample_tcbInfo_response').toString('utf8'), issuerChain: encodeURIComponent(SIGNING_CHAIN) },
      qeIdentity: { body: vec('go-tdx-guest-v4-spr/sample_qeIdentity_response').toString('utf8'), issuerChain: SIGNING_CHAIN },
      pckCrl: { crl: vec('go-tdx-guest-v4-spr/pckcrl').toString('base64'), issuerChain: PLATFORM_CHAIN },
      rootCaCrl: { crl: vec('go-tdx-guest-v4-spr/rootcrl.der').toString('hex') },
    })
    expect(items.map((i) => `${i.kind}/${i.key} ${i.notAfter?.toISOString()}`)).toEqual([
      'tdx-tcb-info/50806f000000 2023-07-18T08:42:58.000Z',
      'tdx-qe-identity/td-qe 2023-07-08T07:24:59.000Z',
      'tdx-tcb-signing-chain/intel 2025-05-21T10:50:10.000Z',
      'tdx-pck-crl/platform 2023-07-08T07:27:52.000Z',
      'tdx-root-ca-crl/intel 2024-04-02T10:22:51.000Z',
    ])
    // Documents are stored byte for byte: their signatures cover exactly these bytes.
    expect(Buffer.from(items[0]!.bytes).equals(vec('go-tdx-guest-v4-spr/sample_tcbInfo_response'))).toBe(true)
  })

  it('refuses what does not verify at the server time', async () => {
    const tcbInfo = { body: vec('go-tdx-guest-v4-spr/sample_tcbInfo_response').toString('utf8'), issuerChain: SIGNING_CHAIN }
    expect(await asyncCodeOf(() => upload({ tcbInfo }, new Date('2023-08-01T00:00:00Z')))).toBe('collateral-missing')
    expect(await asyncCodeOf(() => upload({ tcbInfo }, new Date('2025-06-01T00:00:00Z')))).toBe('chain-untrusted')
    expect(await asyncCodeOf(() => upload({ tcbInfo: { ...tcbInfo, body: tcbInfo.body.replace('"pcesvn":11', '"pcesvn":12') } }))).toBe('signature-invalid')
    // The QE identity is not a TCB info.
    expect(await asyncCodeOf(() => upload({ tcbInfo: { ...tcbInfo, body: vec('go-tdx-guest-v4-spr/sample_qeIdentity_response').toString('utf8') } }))).toBe('bad-request')
    // A PCK CRL checked against the root instead of its CA; a root CRL with a PCK CA as issuer.
    expect(await asyncCodeOf(() => upload({ pckCrl: { crl: vec('go-tdx-guest-v4-spr/pckcrl').toString('base64'), issuerChain: encodePemCertificate(chain[2]!) } }))).toBe(
      'chain-untrusted',
    )
    expect(await asyncCodeOf(() => upload({ rootCaCrl: { crl: vec('go-tdx-guest-v4-spr/rootcrl.der').toString('base64'), issuerChain: PLATFORM_CHAIN } }))).toBe(
      'chain-untrusted',
    )
  })

  it('honours KEYBROKER_TDX_PINNED_TCB_SIGNING_KEYS as verification does: the real 2026 tcbInfo (v5 vector) with the expired 2018-2025 chain', async () => {
    const tcbInfo = { body: vec('go-tdx-guest-v5-tdx15/sample_tcbinfo_response_v5').toString('utf8'), issuerChain: SIGNING_CHAIN }
    const at = new Date('2026-02-03T01:00:00Z')
    expect(await asyncCodeOf(() => upload({ tcbInfo }, at))).toBe('chain-untrusted')
    const pinned = await verifyTdxUpload({ now: () => at, tdxExtraPinnedRoots: [], tdxPinnedTcbSigningKeys: ['bd7d4b9c805d92607dee34683a104abfa7b2a487e06af2edf0740a8666cbc22f'] }, { tcbInfo })
    expect(pinned.map((i) => `${i.kind}/${i.key}`)).toEqual(['tdx-tcb-info/90c06f000000', 'tdx-tcb-signing-chain/intel'])
    // A pin of another key changes nothing.
    expect(await asyncCodeOf(() => verifyTdxUpload({ now: () => at, tdxExtraPinnedRoots: [], tdxPinnedTcbSigningKeys: ['00'.repeat(32)] }, { tcbInfo }))).toBe('chain-untrusted')
  })

  it('property: any text as body, issuer chain or CRL gives a typed refusal, never acceptance or a foreign error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 400 }), fc.constantFrom('body', 'chain', 'crl'), async (junk, where) => {
        const body: TdxCollateralUpload =
          where === 'body'
            ? { tcbInfo: { body: junk, issuerChain: SIGNING_CHAIN } }
            : where === 'chain'
              ? { qeIdentity: { body: vec('go-tdx-guest-v4-spr/sample_qeIdentity_response').toString('utf8'), issuerChain: junk } }
              : { pckCrl: { crl: junk, issuerChain: PLATFORM_CHAIN } }
        expect(['bad-request', 'chain-untrusted', 'signature-invalid', 'evidence-unsupported', 'collateral-missing']).toContain(await asyncCodeOf(() => upload(body)))
      }),
      { numRuns: 300 },
    )
  })
})

describe('PCS cache-directory layout', () => {
  it('maps each kind and well-formed key to its PCS path, nothing else', () => {
    expect(TDX_PCS_LAYOUT.locate(TDX_COLLATERAL_KINDS.tcbInfo, '00a06d080000')?.path).toBe('tdx/certification/v4/tcb?fmspc=00a06d080000')
    expect(TDX_PCS_LAYOUT.locate(TDX_COLLATERAL_KINDS.qeIdentity, 'td-qe')?.path).toBe('tdx/certification/v4/qe/identity')
    expect(TDX_PCS_LAYOUT.locate(TDX_COLLATERAL_KINDS.tcbSigningChain, 'intel')?.path).toBe('tdx/certification/v4/tcb-info-issuer-chain.pem')
    expect(TDX_PCS_LAYOUT.locate(TDX_COLLATERAL_KINDS.pckCrl, 'processor')?.path).toBe('sgx/certification/v4/pckcrl?ca=processor&encoding=der')
    expect(TDX_PCS_LAYOUT.locate(TDX_COLLATERAL_KINDS.rootCaCrl, 'intel')?.path).toBe('IntelSGXRootCA.der')
    expect(TDX_PCS_LAYOUT.locate('snp-vcek', 'Milan/x')).toBeUndefined()
  })

  it('property: no key leads outside the PCS paths (no traversal, no other kinds)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(TDX_COLLATERAL_KINDS), 'other'), fc.string({ maxLength: 40 }), (kind, key) => {
        const path = TDX_PCS_LAYOUT.locate(kind, key)?.path
        if (path === undefined) return
        expect(path).not.toContain('..')
        expect(/^(tdx|sgx)\/certification\/v4\/|^IntelSGXRootCA\.der$/.test(path)).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('fromFile (evidence verify)', () => {
  it('a raw quote becomes wire evidence the schema accepts; --certs is refused', () => {
    const evidence = tdxEvidenceFromFiles(new Uint8Array(SPR), { certs: [] })
    expect(tdxEvidenceSchema.safeParse(evidence).success).toBe(true)
    expect(codeOf(() => tdxEvidenceFromFiles(new Uint8Array(SPR), { certs: [new Uint8Array(3)] }))).toBe('evidence-malformed')
  })
})
