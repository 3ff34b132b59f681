/**
 * Differential check of keybroker's TDX verifier against @phala/dcap-qvl (a pure-JavaScript port
 * of Phala's Rust dcap-qvl, itself a port of Intel's DCAP Quote Verification Library), the peer a
 * JavaScript user would pick instead. Both get the same quote, collateral and time; both must
 * reach the same verdict, and when both accept, the same TCB status.
 *
 * - Synthetic chains (test/generators/tdx.ts, a custom root: `QuoteVerifier.newWithRootCa`):
 *   fast-check over the generator's range of TCB levels (platform levels with their SVNs and
 *   statuses, TDX module levels, QE identity levels) and a table of defects.
 * - The real go-tdx-guest SPR quote with its 2023 collateral and CRLs (Intel's root): the only
 *   real vector with the CRLs dcap-qvl always needs.
 *
 * keybroker runs with every TCB status but Revoked accepted and CRLs required, which is what
 * dcap-qvl always does (the status is what is compared; which statuses a deployment accepts is
 * keybroker's configuration).
 * Every disagreement is listed in DISAGREEMENTS with its explanation; the test fails on any other.
 */
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { TDX_TCB_STATUSES, verifyTdxEvidence, type TdxEvidenceCollateral } from '../../../src/evidence/tdx/index.js'
import { isKeybrokerError } from '../../../src/errors.js'
import {
  createTdxPki,
  GEN_NOW,
  issueCrl,
  makeQuote,
  pckChainPem,
  quoteFields,
  signCollateral,
  qeIdentityObject,
  tcbInfoObject,
  tcbSigningChainPem,
  GEN_SGX_TCB,
  GEN_PCESVN,
  type QeIdentitySpec,
  type TcbInfoSpec,
  type TdxPki,
} from '../../generators/tdx.js'

/** The subset of @phala/dcap-qvl's API used here (its own typings declare more). */
interface DcapQvl {
  QuoteVerifier: { newWithRootCa(rootDer: Buffer): { verify(quote: Buffer, collateral: QvlCollateral, nowSecs: number): { status: string } } }
  verify(quote: Buffer, collateral: QvlCollateral, nowSecs: number): { status: string }
}
interface QvlCollateral {
  pck_crl_issuer_chain: string
  root_ca_crl: string
  pck_crl: string
  tcb_info_issuer_chain: string
  tcb_info: string
  tcb_info_signature: string
  qe_identity_issuer_chain: string
  qe_identity: string
  qe_identity_signature: string
}
const qvl = createRequire(import.meta.url)('@phala/dcap-qvl') as DcapQvl

type Verdict = { ok: true; status: string } | { ok: false; reason: string }

/** PCS `{"<member>":{…},"signature":"<hex>"}` → the member's exact bytes and the signature. */
function splitSigned(doc: Uint8Array, member: string): { body: string; signature: string } {
  const text = Buffer.from(doc).toString('utf8')
  const start = text.indexOf('{', member.length + 3)
  const end = text.lastIndexOf(',"signature":"')
  return { body: text.slice(start, end), signature: (JSON.parse(text) as { signature: string }).signature }
}

interface Collateral {
  readonly tcbInfo: Uint8Array
  readonly qeIdentity: Uint8Array
  readonly tcbSigningChain: Uint8Array
  readonly pckCrl: Uint8Array
  readonly rootCaCrl: Uint8Array
  /** PEM of the PCK CRL's issuer chain (Platform CA, root), for dcap-qvl. */
  readonly pckCrlIssuerChain: string
}

function toQvl(c: Collateral): QvlCollateral {
  const tcb = splitSigned(c.tcbInfo, 'tcbInfo')
  const qe = splitSigned(c.qeIdentity, 'enclaveIdentity')
  const chain = Buffer.from(c.tcbSigningChain).toString('latin1')
  return {
    pck_crl_issuer_chain: c.pckCrlIssuerChain,
    root_ca_crl: Buffer.from(c.rootCaCrl).toString('hex'),
    pck_crl: Buffer.from(c.pckCrl).toString('hex'),
    tcb_info_issuer_chain: chain,
    tcb_info: tcb.body,
    tcb_info_signature: tcb.signature,
    qe_identity_issuer_chain: chain,
    qe_identity: qe.body,
    qe_identity_signature: qe.signature,
  }
}

async function ours(quote: Uint8Array, c: Collateral, now: Date, roots: readonly string[]): Promise<Verdict> {
  const collateral: TdxEvidenceCollateral = { tcbInfo: c.tcbInfo, qeIdentity: c.qeIdentity, tcbSigningChain: c.tcbSigningChain, pckCrl: c.pckCrl, rootCaCrl: c.rootCaCrl }
  try {
    const claims = await verifyTdxEvidence({
      quote,
      collateral,
      now,
      options: { extraPinnedRoots: roots, acceptedTcbStatuses: TDX_TCB_STATUSES.filter((s) => s !== 'Revoked'), requireCrls: true },
    })
    return { ok: true, status: String(claims.raw['tcbStatus']) }
  } catch (err) {
    if (!isKeybrokerError(err)) throw err
    return { ok: false, reason: err.code }
  }
}

function theirs(quote: Uint8Array, c: Collateral, now: Date, rootDer?: Uint8Array): Verdict {
  try {
    const verifier = rootDer === undefined ? qvl : qvl.QuoteVerifier.newWithRootCa(Buffer.from(rootDer))
    return { ok: true, status: verifier.verify(Buffer.from(quote), toQvl(c), Math.floor(now.getTime() / 1000)).status }
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) }
  }
}

let pki: TdxPki
let rogue: TdxPki
let crls: { pckCrl: Uint8Array; rootCaCrl: Uint8Array }
beforeAll(async () => {
  ;[pki, rogue] = await Promise.all([createTdxPki(), createTdxPki()])
  crls = { pckCrl: await issueCrl(pki.platformCa), rootCaCrl: await issueCrl(pki.root) }
}, 60_000)

function collateral(tcb: TcbInfoSpec = {}, qe: QeIdentitySpec = {}, o: { tcbKey?: TdxPki; pckCrl?: Uint8Array } = {}): Collateral {
  return {
    tcbInfo: signCollateral('tcbInfo', tcbInfoObject(tcb), (o.tcbKey ?? pki).tcbSigning.privateKey),
    qeIdentity: signCollateral('enclaveIdentity', qeIdentityObject(qe), pki.tcbSigning.privateKey),
    tcbSigningChain: tcbSigningChainPem(pki),
    pckCrl: o.pckCrl ?? crls.pckCrl,
    rootCaCrl: crls.rootCaCrl,
    pckCrlIssuerChain: pckChainPem([pki.platformCa, pki.root]),
  }
}

const PLATFORM_STATUSES = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked'] as const
const IDENTITY_STATUSES = ['UpToDate', 'OutOfDate', 'Revoked'] as const

describe('keybroker and @phala/dcap-qvl on synthetic chains (custom root)', () => {
  it('agree across TCB levels: platform levels (SVNs, statuses), TDX module and QE identity levels', async () => {
    const svnShift = fc.constantFrom(-1, 0, 1)
    const level = fc.record({ status: fc.constantFrom(...PLATFORM_STATUSES), sgx: svnShift, pce: svnShift, tdx: svnShift })
    await fc.assert(
      fc.asyncProperty(
        fc.array(level, { minLength: 1, maxLength: 3 }),
        fc.constantFrom(...IDENTITY_STATUSES),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom(...IDENTITY_STATUSES),
        fc.integer({ min: 6, max: 10 }),
        async (levels, moduleStatus, moduleSvn, qeStatus, qeSvn) => {
          // A level's SVNs are the quote's shifted by -1, 0 or +1 (the quote matches levels at or below it).
          const spec: TcbInfoSpec = {
            levels: levels.map((l) => ({
              status: l.status,
              sgx: GEN_SGX_TCB.map((v) => Math.max(0, v + l.sgx)),
              pcesvn: Math.max(0, GEN_PCESVN + l.pce),
              tdx: [0, 0, Math.max(0, 2 + l.tdx), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
              ...(l.status === 'UpToDate' ? {} : { advisoryIDs: ['INTEL-SA-00001'] }),
            })),
            modules: [{ id: 'TDX_03', levels: [{ isvsvn: moduleSvn, status: moduleStatus }] }],
          }
          const qe = { levels: [{ isvsvn: qeSvn, status: qeStatus }] }
          const c = collateral(spec, qe)
          const quote = makeQuote(pki, quoteFields())
          const a = await ours(quote, c, GEN_NOW, [pki.rootSpkiSha256])
          const b = theirs(quote, c, GEN_NOW, pki.root.der)
          const context = JSON.stringify({ levels, moduleStatus, moduleSvn, qeStatus, qeSvn, ours: a, theirs: b })
          const outcome = explainDisagreement(a, b)
          if (outcome !== 'agree' && moduleStatus !== 'UpToDate') {
            // dcap-qvl 0.3.9 does not read tcbInfo.tdxModuleIdentities (nothing in its source
            // does): the module level's status is not part of its answer. Explained only if
            // keybroker, given the same collateral with that module level UpToDate, agrees.
            const withoutModule = collateral({ ...spec, modules: [{ id: 'TDX_03', levels: [{ isvsvn: moduleSvn, status: 'UpToDate' }] }] }, qe)
            expect(explainDisagreement(await ours(quote, withoutModule, GEN_NOW, [pki.rootSpkiSha256]), b), context).toBe('agree')
            return
          }
          expect(outcome, context).toBe('agree')
        },
      ),
      { numRuns: 60 },
    )
  })

  it('agree on each defect (or disagree only as DISAGREEMENTS explains)', async () => {
    const good = collateral()
    const cases: [string, () => Promise<[Uint8Array, Collateral, Date, Uint8Array | undefined, readonly string[]]>][] = [
      ['healthy', async () => [makeQuote(pki), good, GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]],
      ['quote signed by another attestation key', async () => [makeQuote(pki, quoteFields(), { attestationKey: rogue.attestationKey }), good, GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]],
      ['QE report signed by another PCK key', async () => [makeQuote(pki, quoteFields(), { pckKey: rogue.pck.privateKey }), good, GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]],
      ['QE report data not binding the attestation key', async () => [makeQuote(pki, quoteFields({ qe: { reportData: new Uint8Array(64).fill(7) } })), good, GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]],
      ['QE identity for another QE (MRSIGNER)', async () => [makeQuote(pki), collateral({}, { mrsigner: 'ee'.repeat(32) }), GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]],
      ['chain to an untrusted root', async () => [makeQuote(pki), good, GEN_NOW, rogue.root.der, [rogue.rootSpkiSha256]]],
      ['TCB info signed by another key', async () => [makeQuote(pki), collateral({}, {}, { tcbKey: rogue }), GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]],
      ['TCB info expired (after nextUpdate)', async () => [makeQuote(pki), good, new Date('2025-06-20T00:00:00Z'), pki.root.der, [pki.rootSpkiSha256]]],
      ['TCB info for another FMSPC', async () => [makeQuote(pki), collateral({ fmspc: '00906ed50001' }), GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]],
      // The generator's PCK has serial 5a01.
      ['PCK revoked by the PCK CRL', async () => [makeQuote(pki), collateral({}, {}, { pckCrl: await issueCrl(pki.platformCa, { revoked: ['5a01'] }) }), GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]],
      [
        'a byte of the TD report changed after signing',
        async () => {
          const q = makeQuote(pki)
          q[48 + 200] = (q[48 + 200] ?? 0) ^ 1
          return [q, good, GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]
        },
      ],
      ['TD_ATTRIBUTES.DEBUG set', async () => [makeQuote(pki, quoteFields({ body: { tdAttributes: 1n } })), good, GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]],
      ['no TCB level at or below the platform', async () => [makeQuote(pki), collateral({ levels: [{ status: 'UpToDate', pcesvn: GEN_PCESVN + 1 }] }), GEN_NOW, pki.root.der, [pki.rootSpkiSha256]]],
    ]
    const outcomes: Record<string, string> = {}
    for (const [name, build] of cases) {
      const [quote, c, now, rootDer, roots] = await build()
      const a = await ours(quote, c, now, roots)
      const b = theirs(quote, c, now, rootDer)
      outcomes[name] = explainDisagreement(a, b, name)
      if (name === 'healthy') expect(a).toEqual({ ok: true, status: 'UpToDate' })
      else if (name !== 'TD_ATTRIBUTES.DEBUG set') expect(a.ok, name).toBe(false)
    }
    expect(outcomes).toEqual(Object.fromEntries(cases.map(([name]) => [name, DISAGREEMENTS[name] === undefined ? 'agree' : `explained: ${DISAGREEMENTS[name]}`])))
  })
})

/**
 * Cases where keybroker and dcap-qvl differ, with the reason. Keyed by defect name.
 */
const DISAGREEMENTS: Record<string, string> = {}

/**
 * Status differences that follow from one documented difference of algorithm, not a defect.
 *
 * Convergence: Intel's QVL (QuoteVerification/QVL, TcbLevelCheck `convergeTcbStatusWithQeTcbStatus`
 * and the TDX module check) keeps the configuration part when a QE identity or TDX module level
 * is OutOfDate: platform ConfigurationNeeded or ConfigurationAndSWHardeningNeeded becomes
 * OutOfDateConfigurationNeeded, which keybroker implements (src/evidence/tdx/tcb.ts).
 * @phala/dcap-qvl 0.3.9 merges by taking the more severe of the two (tcb_info.js `merge`), so it
 * answers OutOfDate there. (That it ignores the TDX module identity levels is handled in the
 * property itself, by re-running keybroker without the module's status.)
 */
function explainStatus(ours: string, theirs: string): string | undefined {
  if (ours === 'OutOfDateConfigurationNeeded' && theirs === 'OutOfDate') return 'convergence keeps ConfigurationNeeded (Intel QVL), dcap-qvl takes the more severe'
  return undefined
}

function explainDisagreement(a: Verdict, b: Verdict, name?: string): string {
  if (a.ok && b.ok) {
    if (a.status === b.status) return 'agree'
    const why = explainStatus(a.status, b.status)
    return why === undefined ? `status differs: keybroker ${a.status}, dcap-qvl ${b.status}` : 'agree'
  }
  if (!a.ok && !b.ok) return 'agree'
  const known = name === undefined ? undefined : DISAGREEMENTS[name]
  if (known !== undefined) return `explained: ${known}`
  return `verdict differs: keybroker ${a.ok ? a.status : a.reason}, dcap-qvl ${b.ok ? b.status : b.reason}`
}

describe('keybroker and @phala/dcap-qvl on a real quote (Intel root)', () => {
  const vec = (p: string) => new Uint8Array(readFileSync(new URL(`../../vectors/tdx/${p}`, import.meta.url)))
  it('go-tdx-guest SPR quote with its 2023 collateral and CRLs: both refuse it, as no TCB level matches', async () => {
    const raw = vec('go-tdx-guest-v4-spr/tdx_prod_quote_SPR_E4.dat')
    // go-tdx-guest appended 39 bytes of test text; without them it is the real quote.
    const quote = raw.subarray(0, raw.byteLength - 39)
    const root = readFileSync(new URL('../../../reference-values/intel/intel-sgx-root-ca.pem', import.meta.url), 'latin1')
    const platformCa = readFileSync(new URL('../../vectors/tdx/intel-sgx-pck-platform-ca.pem', import.meta.url), 'latin1')
    const c: Collateral = {
      tcbInfo: vec('go-tdx-guest-v4-spr/sample_tcbInfo_response'),
      qeIdentity: vec('go-tdx-guest-v4-spr/sample_qeIdentity_response'),
      tcbSigningChain: new Uint8Array(Buffer.concat([Buffer.from(vec('intel-sgx-tcb-signing-2018-2025.pem')), Buffer.from(root, 'latin1')])),
      pckCrl: vec('go-tdx-guest-v4-spr/pckcrl'),
      rootCaCrl: vec('go-tdx-guest-v4-spr/rootcrl.der'),
      pckCrlIssuerChain: platformCa + root,
    }
    const at = new Date('2023-07-01T01:00:00Z')
    const a = await ours(quote, c, at, [])
    const b = theirs(quote, c, at)
    expect(a).toEqual({ ok: false, reason: 'tcb-below-minimum' })
    expect(b.ok, JSON.stringify(b)).toBe(false)
  })
})
