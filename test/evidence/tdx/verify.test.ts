/** Synthetic negatives: each test changes one thing of a quote / chain / collateral that otherwise verifies. */
import { generateKeyPairSync } from 'node:crypto'
import fc from 'fast-check'
import { beforeAll, describe, expect, test } from 'vitest'
import type { ErrorCode } from '../../../src/errors.js'
import { PROBLEMS } from '../../../src/server/problem.js'
import { toHex } from '../../../src/evidence/reader.js'
import { parseQuote } from '../../../src/evidence/tdx/quote/parse.js'
import {
  clearTdxCertificateCaches,
  TDX_COLLATERAL_KINDS,
  verifyTdxEvidence,
  type TdxEvidenceCollateral,
  type TdxVerifyInput,
  type TdxVerifyOptions,
} from '../../../src/evidence/tdx/index.js'
import type { CollateralLookup } from '../../../src/evidence/types.js'
import { asyncCodeOf } from '../../support/error-code.js'
import {
  createTdxPki,
  defaultCollateral,
  ecKeys,
  GEN_FMSPC,
  GEN_NOW,
  issueCert,
  issueCrl,
  issuePck,
  makeQuote,
  pckChainPem,
  quoteFields,
  quoteOffsets,
  signedQeIdentity,
  signedTcbInfo,
  tcbSigningChainPem,
  type CaKey,
  type QuoteFields,
  type TdxPki,
} from '../../generators/tdx.js'

let pki: TdxPki
let rogue: TdxPki
beforeAll(async () => {
  ;[pki, rogue] = await Promise.all([createTdxPki(), createTdxPki()])
})

type Overrides = {
  quote?: Uint8Array
  fields?: Parameters<typeof quoteFields>[0]
  collateral?: Partial<TdxEvidenceCollateral>
  options?: Partial<TdxVerifyOptions>
  now?: Date
  lookup?: CollateralLookup
  eventLog?: Uint8Array
}

function input(o: Overrides = {}): TdxVerifyInput {
  return {
    quote: o.quote ?? makeQuote(pki, quoteFields(o.fields)),
    collateral: { ...defaultCollateral(pki), ...o.collateral },
    now: o.now ?? GEN_NOW,
    options: { extraPinnedRoots: [pki.rootSpkiSha256], ...o.options },
    ...(o.lookup === undefined ? {} : { lookup: o.lookup }),
    ...(o.eventLog === undefined ? {} : { eventLog: o.eventLog }),
  }
}
const run = (o: Overrides = {}) => asyncCodeOf(() => verifyTdxEvidence(input(o)))

describe('synthetic quotes that verify', () => {
  test('v4, v5 with a TDX 1.0 body and v5 with a TDX 1.5 body; claims carry the fields', async () => {
    for (const [version, bodyType] of [
      [4, 2],
      [5, 2],
      [5, 3],
    ] as const) {
      const f = quoteFields({ version, bodyType })
      const claims = await verifyTdxEvidence(input({ quote: makeQuote(pki, f) }))
      expect(claims.platform).toBe('intel-tdx')
      expect(claims.evidenceType).toBe('tdx')
      expect(claims.hardwareBacked).toBe(true)
      expect(claims.measurement).toBe(toHex(f.body.mrTd))
      expect(claims.measurements['rtmr2']).toBe(toHex(f.body.rtmr[2]))
      expect(claims.measurements['mrServiceTd']).toBe(bodyType === 3 ? '00'.repeat(48) : undefined)
      expect(claims.reportData).toEqual(f.body.reportData)
      expect(claims.debug).toBe(false)
      expect(claims.hostData).toBe(toHex(f.body.mrConfigId))
      expect(claims.tcb).toMatchObject({ status: 'UpToDate', qeStatus: 'UpToDate', tdxModuleStatus: 'UpToDate', fmspc: GEN_FMSPC, pceSvn: 13 })
      expect(claims.raw).toMatchObject({ quoteVersion: version, tdxVersion: bodyType === 3 ? '1.5' : '1.0', tdxModuleIdentity: 'TDX_03', advisoryIds: [] })
      expect(claims.raw['tdAttributesFlags']).toMatchObject({ debug: false, septVeDisable: true, pks: false })
    }
  })

  test('zero padding after the quote (as configfs-tsm outblobs carry) verifies', async () => {
    expect(await run({ fields: { trailing: new Uint8Array(70) } })).toBe('no-error')
  })

  test('collateral from the lookup when the evidence has none, keyed as collateral.ts documents', async () => {
    const c = defaultCollateral(pki)
    const asked: string[] = []
    const store = new Map<string, Uint8Array>([
      [`${TDX_COLLATERAL_KINDS.tcbInfo}/${GEN_FMSPC}`, c.tcbInfo],
      [`${TDX_COLLATERAL_KINDS.qeIdentity}/td-qe`, c.qeIdentity],
      [`${TDX_COLLATERAL_KINDS.tcbSigningChain}/intel`, c.tcbSigningChain],
    ])
    const lookup: CollateralLookup = {
      get: async (kind, key) => {
        asked.push(`${kind}/${key}`)
        return store.get(`${kind}/${key}`)
      },
    }
    const quote = makeQuote(pki)
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote, now: GEN_NOW, lookup, options: { extraPinnedRoots: [pki.rootSpkiSha256] } }))).toBe('no-error')
    expect(asked).toEqual(
      expect.arrayContaining([...store.keys(), `${TDX_COLLATERAL_KINDS.rootCaCrl}/intel`, `${TDX_COLLATERAL_KINDS.pckCrl}/platform`]),
    )
    // Without any source: collateral-missing, naming nothing secret.
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote, now: GEN_NOW, options: { extraPinnedRoots: [pki.rootSpkiSha256] } }))).toBe('collateral-missing')
    // A failing lookup is collateral-missing too, not an unmapped error.
    const broken: CollateralLookup = { get: async () => Promise.reject(new Error('disk on fire')) }
    expect(await asyncCodeOf(() => verifyTdxEvidence({ quote, now: GEN_NOW, lookup: broken, options: { extraPinnedRoots: [pki.rootSpkiSha256] } }))).toBe('collateral-missing')
  })
})

describe('signatures', () => {
  test('bad quote signature: another attestation key signed it', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
    expect(await run({ quote: makeQuote(pki, quoteFields(), { attestationKey: other }) })).toBe('signature-invalid')
  })

  test('bad QE report signature: not signed by the PCK key', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
    expect(await run({ quote: makeQuote(pki, quoteFields(), { pckKey: other }) })).toBe('signature-invalid')
  })

  test('wrong QE report data: does not hash attestation key and auth data, or its upper half is not zero', async () => {
    expect(await run({ fields: { qe: { reportData: new Uint8Array(64).fill(1) } } })).toBe('signature-invalid')
    const f = quoteFields()
    const good = (await import('node:crypto')).createHash('sha256').update(pki.attestationPublic).update(f.qeAuthData).digest()
    const upper = new Uint8Array(64)
    upper.set(good)
    upper[63] = 1
    expect(await run({ fields: { qe: { reportData: upper } } })).toBe('signature-invalid')
  })

  test('an attestation key that is not a P-256 point is signature-invalid', async () => {
    expect(await run({ quote: makeQuote(pki, quoteFields(), { attestationPublic: new Uint8Array(64).fill(7) }) })).toBe('signature-invalid')
  })

  test('property: flipping any bit of the signed header and body is never accepted', async () => {
    const f = quoteFields({ version: 5, bodyType: 3 })
    const q = makeQuote(pki, f)
    const c = defaultCollateral(pki)
    await fc.assert(
      fc.asyncProperty(fc.nat(quoteOffsets(f).signedEnd - 1), fc.nat(7), async (at, bit) => {
        const b = q.slice()
        b[at] = (b[at] ?? 0) ^ (1 << bit)
        const code = await asyncCodeOf(() => verifyTdxEvidence({ quote: b, collateral: c, now: GEN_NOW, options: { extraPinnedRoots: [pki.rootSpkiSha256] } }))
        expect(code).not.toBe('no-error')
        expect(code).not.toBe('foreign-error')
      }),
      { numRuns: 300 },
    )
  })

  test('property: flipping any bit of the QE report or the signature data is never accepted', async () => {
    const f = quoteFields()
    const q = makeQuote(pki, f)
    const c = defaultCollateral(pki)
    const { sigData, qeReport } = quoteOffsets(f)
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: sigData, max: qeReport + 384 + 64 + 2 + 32 - 1 }), fc.nat(7), async (at, bit) => {
        const b = q.slice()
        b[at] = (b[at] ?? 0) ^ (1 << bit)
        const code = await asyncCodeOf(() => verifyTdxEvidence({ quote: b, collateral: c, now: GEN_NOW, options: { extraPinnedRoots: [pki.rootSpkiSha256] } }))
        expect(code).not.toBe('no-error')
        expect(code).not.toBe('foreign-error')
      }),
      { numRuns: 300 },
    )
  })
})

describe('PCK chain', () => {
  test('untrusted root: a chain to a root that is not pinned', async () => {
    expect(await run({ options: { extraPinnedRoots: [] } })).toBe('chain-untrusted')
    const chain = pckChainPem([rogue.pck, rogue.platformCa, rogue.root])
    expect(await run({ fields: { pckChain: chain } })).toBe('chain-untrusted')
  })

  test('a PCK issued by a rogue CA under another name, or a CA issuing from the wrong role', async () => {
    const impostor = await issueCert({ cn: 'Intel SGX PCK Platform CA', isCa: true, pathLength: 0 }, rogue.root)
    const pck = await issuePck({ platformCa: impostor })
    expect(await run({ fields: { pckChain: pckChainPem([pck, impostor, pki.root]) } })).toBe('chain-untrusted')
    // The TCB Signing certificate is not a PCK CA.
    expect(await run({ fields: { pckChain: pckChainPem([pki.pck, pki.tcbSigning, pki.root]) } })).toBe('chain-untrusted')
  })

  test('PCK certificate expired or not yet valid at now', async () => {
    const expired = await issuePck(pki, {}, { notAfter: new Date('2025-01-01T00:00:00Z'), keys: pki.pck.keys })
    expect(await run({ fields: { pckChain: pckChainPem([expired, pki.platformCa, pki.root]) } })).toBe('chain-untrusted')
    expect(await run({ now: new Date('2023-12-31T23:59:59Z') })).toBe('chain-untrusted')
  })

  test('a PCK certificate without the SGX extension is chain-untrusted', async () => {
    const bare = await issueCert({ cn: 'Intel SGX PCK Certificate', keys: pki.pck.keys }, pki.platformCa)
    expect(await run({ fields: { pckChain: pckChainPem([bare, pki.platformCa, pki.root]) } })).toBe('chain-untrusted')
  })

  test('a two-certificate chain is completed with the built-in root (which is not the test root, so it fails here)', async () => {
    expect(await run({ fields: { pckChain: pckChainPem([pki.pck, pki.platformCa]) } })).toBe('chain-untrusted')
  })
})

describe('revocation', () => {
  let rootCrl: Uint8Array
  beforeAll(async () => {
    rootCrl = await issueCrl(pki.root)
  })

  test('a current CRL pair verifies and is reported as checked', async () => {
    const claims = await verifyTdxEvidence(input({ collateral: { rootCaCrl: rootCrl, pckCrl: await issueCrl(pki.platformCa) }, options: { requireCrls: true } }))
    expect(claims.raw['crl']).toBe('checked')
  })

  test('revoked PCK in the PCK CRL', async () => {
    const pckCrl = await issueCrl(pki.platformCa, { revoked: ['5a01'] })
    expect(await run({ collateral: { pckCrl, rootCaCrl: rootCrl } })).toBe('chain-untrusted')
  })

  test('revoked Platform CA or TCB Signing certificate in the Root CA CRL', async () => {
    expect(await run({ collateral: { rootCaCrl: await issueCrl(pki.root, { revoked: ['0b00'] }) } })).toBe('chain-untrusted')
    expect(await run({ collateral: { rootCaCrl: await issueCrl(pki.root, { revoked: ['0c00'] }) } })).toBe('chain-untrusted')
  })

  test('a stale CRL still revokes; requireCrls refuses stale or absent CRLs', async () => {
    const stale = { thisUpdate: new Date('2024-01-01T00:00:00Z'), nextUpdate: new Date('2024-02-01T00:00:00Z') }
    expect(await run({ collateral: { pckCrl: await issueCrl(pki.platformCa, { ...stale, revoked: ['5a01'] }), rootCaCrl: rootCrl } })).toBe('chain-untrusted')
    const staleOk = await issueCrl(pki.platformCa, stale)
    expect((await verifyTdxEvidence(input({ collateral: { pckCrl: staleOk, rootCaCrl: rootCrl } }))).raw['crl']).toBe('stale')
    expect(await run({ collateral: { pckCrl: staleOk, rootCaCrl: rootCrl }, options: { requireCrls: true } })).toBe('collateral-missing')
    expect(await run({ options: { requireCrls: true } })).toBe('collateral-missing')
  })

  test('a CRL signed by another CA, or PEM/hex encoded', async () => {
    expect(await run({ collateral: { pckCrl: await issueCrl(rogue.platformCa) } })).toBe('chain-untrusted')
    const der = await issueCrl(pki.platformCa)
    const pem = `-----BEGIN X509 CRL-----\n${Buffer.from(der).toString('base64')}\n-----END X509 CRL-----\n`
    expect(await run({ collateral: { pckCrl: new Uint8Array(Buffer.from(pem)) } })).toBe('no-error')
    expect(await run({ collateral: { pckCrl: new Uint8Array(Buffer.from(Buffer.from(der).toString('hex'))) } })).toBe('no-error')
    expect(await run({ collateral: { pckCrl: new Uint8Array(Buffer.from('not a crl')) } })).toBe('evidence-malformed')
  })
})

describe('TD attributes', () => {
  test('DEBUG is debug-enabled unless allowed; other flags are claims', async () => {
    expect(await run({ fields: { body: { tdAttributes: 1n } } })).toBe('debug-enabled')
    const claims = await verifyTdxEvidence(input({ fields: { body: { tdAttributes: 1n | (1n << 30n) | (1n << 63n) } }, options: { allowDebug: true } }))
    expect(claims.debug).toBe(true)
    expect(claims.raw['tdAttributesFlags']).toEqual({ debug: true, septVeDisable: false, migratable: false, pks: true, kl: false, perfmon: true })
    expect(claims.raw['tdAttributes']).toBe('0100004000000080')
  })
})

describe('collateral', () => {
  test('expired or not yet valid TCB info / QE identity is collateral-missing', async () => {
    expect(await run({ now: new Date('2025-06-19T00:00:01Z') })).toBe('collateral-missing')
    expect(await run({ now: new Date('2025-05-19T23:59:59Z') })).toBe('collateral-missing')
    expect(await run({ now: new Date('2025-06-19T00:00:00Z') })).toBe('no-error')
    expect(await run({ collateral: { qeIdentity: signedQeIdentity(pki, { nextUpdate: '2025-05-31T00:00:00Z' }) } })).toBe('collateral-missing')
  })

  test('TCB info or QE identity not signed by the TCB Signing key is signature-invalid', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
    expect(await run({ collateral: { tcbInfo: signedTcbInfo(pki, {}, other) } })).toBe('signature-invalid')
    expect(await run({ collateral: { qeIdentity: signedQeIdentity(pki, {}, other) } })).toBe('signature-invalid')
    // One changed byte in the signed member.
    const tampered = new Uint8Array(Buffer.from(Buffer.from(signedTcbInfo(pki)).toString().replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18')))
    expect(await run({ collateral: { tcbInfo: tampered } })).toBe('signature-invalid')
  })

  test('TCB Signing chain: untrusted root, wrong role, expired; a pinned signing key bridges an expired certificate', async () => {
    expect(await run({ collateral: { tcbSigningChain: tcbSigningChainPem(rogue) } })).toBe('chain-untrusted')
    expect(await run({ collateral: { tcbSigningChain: new Uint8Array(Buffer.from(pckChainPem([pki.platformCa, pki.root]))) } })).toBe('chain-untrusted')
    const expired: CaKey = await issueCert({ cn: 'Intel SGX TCB Signing', notAfter: new Date('2025-05-21T00:00:00Z'), keys: pki.tcbSigning.keys }, pki.root)
    const chain = tcbSigningChainPem(pki, expired)
    expect(await run({ collateral: { tcbSigningChain: chain } })).toBe('chain-untrusted')
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pki.tcbSigning.keys.publicKey))
    const pin = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', spki)))
    expect(await run({ collateral: { tcbSigningChain: chain }, options: { pinnedTcbSigningKeys: [pin] } })).toBe('no-error')
    // The pin bridges validity only: a pinned key under an untrusted root still fails.
    const rogueSigning = await issueCert({ cn: 'Intel SGX TCB Signing', keys: pki.tcbSigning.keys }, rogue.root)
    expect(await run({ collateral: { tcbSigningChain: tcbSigningChainPem(rogue, rogueSigning) }, options: { pinnedTcbSigningKeys: [pin] } })).toBe('chain-untrusted')
  })

  test('TCB info of another FMSPC or PCE-ID is collateral-missing; of another TEE or version evidence-unsupported', async () => {
    expect(await run({ collateral: { tcbInfo: signedTcbInfo(pki, { fmspc: '00A06D080000' }) } })).toBe('collateral-missing')
    expect(await run({ collateral: { tcbInfo: signedTcbInfo(pki, { pceId: '0100' }) } })).toBe('collateral-missing')
    expect(await run({ collateral: { tcbInfo: signedTcbInfo(pki, { id: 'SGX' }) } })).toBe('evidence-unsupported')
    expect(await run({ collateral: { tcbInfo: signedTcbInfo(pki, { version: 2 }) } })).toBe('evidence-unsupported')
  })

  test('malformed PCS documents are evidence-malformed', async () => {
    const bad = (s: string) => new Uint8Array(Buffer.from(s))
    for (const doc of ['', '{}', '[1]', '{"tcbInfo":{},"signature":"00"}', '{"tcbInfo":{"a":1},"signature":"' + '0'.repeat(128) + '","x":1}', '{"tcbInfo":{"a":', 'null']) {
      expect(await run({ collateral: { tcbInfo: bad(doc) } }), doc).toBe('evidence-malformed')
    }
    // Signed correctly but not the schema (a TCB level without tdxtcbcomponents).
    const obj = (await import('../../generators/tdx.js')).tcbInfoObject()
    const levels = obj['tcbLevels'] as { tcb: Record<string, unknown> }[]
    delete levels[0]!.tcb['tdxtcbcomponents']
    const { signCollateral } = await import('../../generators/tdx.js')
    expect(await run({ collateral: { tcbInfo: signCollateral('tcbInfo', obj, pki.tcbSigning.privateKey) } })).toBe('evidence-malformed')
  })

  test('QE identity mismatches (MRSIGNER, ISVPRODID, MISCSELECT, ATTRIBUTES) are chain-untrusted', async () => {
    expect(await run({ collateral: { qeIdentity: signedQeIdentity(pki, { mrsigner: 'AB'.repeat(32) }) } })).toBe('chain-untrusted')
    expect(await run({ collateral: { qeIdentity: signedQeIdentity(pki, { isvprodid: 1 }) } })).toBe('chain-untrusted')
    expect(await run({ collateral: { qeIdentity: signedQeIdentity(pki, { miscselect: '01000000' }) } })).toBe('chain-untrusted')
    expect(await run({ collateral: { qeIdentity: signedQeIdentity(pki, { attributes: '13000000000000000000000000000000' }) } })).toBe('chain-untrusted')
  })

  test('TDX module not the signer the TCB info names, or non-zero SEAM attributes, is chain-untrusted', async () => {
    expect(await run({ fields: { body: { mrSignerSeam: new Uint8Array(48).fill(1) } } })).toBe('chain-untrusted')
    expect(await run({ fields: { body: { seamAttributes: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]) } } })).toBe('chain-untrusted')
  })
})

describe('TCB status', () => {
  const statusOf = async (o: Overrides): Promise<string> => {
    try {
      return String((await verifyTdxEvidence(input({ ...o, options: { acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'TDRelaunchAdvised', 'TDRelaunchAdvisedConfigurationNeeded', 'Revoked'], ...o.options } }))).tcb['status'])
    } catch (err) {
      return `error:${(err as { code?: string }).code ?? '?'}`
    }
  }

  test('each platform TCB level status comes through; only UpToDate and SWHardeningNeeded pass by default', async () => {
    for (const status of ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked']) {
      const tcbInfo = signedTcbInfo(pki, { levels: [{ status, advisoryIDs: ['INTEL-SA-00001'] }] })
      expect(await statusOf({ collateral: { tcbInfo } })).toBe(status)
      const byDefault = await run({ collateral: { tcbInfo } })
      expect(byDefault, status).toBe(status === 'UpToDate' || status === 'SWHardeningNeeded' ? 'no-error' : 'tcb-below-minimum')
    }
  })

  test('the first level the platform reaches decides: SGX components, PCESVN, then TEE_TCB_SVN', async () => {
    const levels = [
      { status: 'UpToDate', sgx: [4, 4, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0] },
      { status: 'SWHardeningNeeded', pcesvn: 14 },
      { status: 'ConfigurationNeeded', tdx: [0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
      { status: 'OutOfDate', advisoryIDs: ['INTEL-SA-00837', 'INTEL-SA-00106'] },
    ]
    const claims = await verifyTdxEvidence(input({ collateral: { tcbInfo: signedTcbInfo(pki, { levels }) }, options: { acceptedTcbStatuses: ['OutOfDate'] } }))
    expect(claims.tcb['status']).toBe('OutOfDate')
    expect(claims.raw['advisoryIds']).toEqual(['INTEL-SA-00106', 'INTEL-SA-00837'])
    expect(claims.raw['sgxTcbStatus']).toBe('ConfigurationNeeded')
  })

  test('TEE_TCB_SVN bytes 0-1 are compared only when the module version (byte 1) is zero', async () => {
    const levels = [{ status: 'UpToDate', tdx: [9, 9, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }]
    expect(await statusOf({ collateral: { tcbInfo: signedTcbInfo(pki, { levels }) } })).toBe('UpToDate')
    const v0 = new Uint8Array([5, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    expect(await statusOf({ fields: { body: { teeTcbSvn: v0 } }, collateral: { tcbInfo: signedTcbInfo(pki, { levels }) } })).toBe('error:tcb-below-minimum')
  })

  test('no matching level is tcb-below-minimum ("TCB not supported")', async () => {
    expect(await run({ collateral: { tcbInfo: signedTcbInfo(pki, { levels: [{ status: 'UpToDate', pcesvn: 99 }] }) } })).toBe('tcb-below-minimum')
    expect(await run({ collateral: { qeIdentity: signedQeIdentity(pki, { levels: [{ isvsvn: 9, status: 'UpToDate' }] }) } })).toBe('tcb-below-minimum')
    expect(await run({ collateral: { tcbInfo: signedTcbInfo(pki, { modules: [{ id: 'TDX_01', levels: [{ isvsvn: 1, status: 'UpToDate' }] }] }) } })).toBe('tcb-below-minimum')
    expect(await run({ collateral: { tcbInfo: signedTcbInfo(pki, { modules: [{ id: 'TDX_03', levels: [{ isvsvn: 6, status: 'UpToDate' }] }] }) } })).toBe('tcb-below-minimum')
  })

  test('an out-of-date TDX module or QE converges into the platform status', async () => {
    const moduleOutOfDate = signedTcbInfo(pki, { modules: [{ id: 'TDX_03', levels: [{ isvsvn: 5, status: 'OutOfDate', advisoryIDs: ['INTEL-SA-01036'] }] }] })
    expect(await statusOf({ collateral: { tcbInfo: moduleOutOfDate } })).toBe('OutOfDate')
    const configModule = signedTcbInfo(pki, {
      levels: [{ status: 'ConfigurationNeeded' }],
      modules: [{ id: 'TDX_03', levels: [{ isvsvn: 5, status: 'OutOfDate' }] }],
    })
    expect(await statusOf({ collateral: { tcbInfo: configModule } })).toBe('OutOfDateConfigurationNeeded')
    const revokedModule = signedTcbInfo(pki, { modules: [{ id: 'TDX_03', levels: [{ isvsvn: 5, status: 'Revoked' }] }] })
    expect(await statusOf({ collateral: { tcbInfo: revokedModule } })).toBe('Revoked')
    const qeOld = signedQeIdentity(pki, { levels: [{ isvsvn: 9, status: 'UpToDate' }, { isvsvn: 4, status: 'OutOfDate', advisoryIDs: ['INTEL-SA-00999'] }] })
    expect(await statusOf({ collateral: { qeIdentity: qeOld } })).toBe('OutOfDate')
    const claims = await verifyTdxEvidence(input({ collateral: { qeIdentity: qeOld, tcbInfo: moduleOutOfDate }, options: { acceptedTcbStatuses: ['OutOfDate'] } }))
    expect(claims.raw).toMatchObject({ qeTcbStatus: 'OutOfDate', tdxModuleStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00999', 'INTEL-SA-01036'] })
    const qeRevoked = signedQeIdentity(pki, { levels: [{ isvsvn: 8, status: 'Revoked' }] })
    expect(await statusOf({ collateral: { qeIdentity: qeRevoked } })).toBe('Revoked')
  })

  test('TDX 1.5: an out-of-date TD whose running module (TEE_TCB_SVN2) is current is TDRelaunchAdvised', async () => {
    const tcbInfo = signedTcbInfo(pki, {
      levels: [
        { status: 'UpToDate', tdx: [0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
        { status: 'OutOfDate' },
      ],
      modules: [{ id: 'TDX_03', levels: [{ isvsvn: 6, status: 'UpToDate' }, { isvsvn: 5, status: 'OutOfDate' }] }],
    })
    const teeTcbSvn2 = new Uint8Array([6, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    expect(await statusOf({ fields: { version: 5, bodyType: 3, body: { teeTcbSvn2 } }, collateral: { tcbInfo } })).toBe('TDRelaunchAdvised')
    // Same quote with a TDX 1.0 body: plain OutOfDate.
    expect(await statusOf({ fields: { version: 5, bodyType: 2 }, collateral: { tcbInfo } })).toBe('OutOfDate')
    // The running module is not current either: no relaunch advice.
    expect(await statusOf({ fields: { version: 5, bodyType: 3 }, collateral: { tcbInfo } })).toBe('OutOfDate')
  })

  test('TDX 1.5 as the 2026 QVL evaluates it: TEE_TCB_SVN (launch) and TEE_TCB_SVN_2 (current) each get a full evaluation, then checkForRelaunch', async () => {
    const svn = (...head: number[]) => new Uint8Array([...head, ...new Array<number>(16 - head.length).fill(0)])
    const v15 = (teeTcbSvn2: Uint8Array, teeTcbSvn = svn(5, 3, 2)) => ({ version: 5, bodyType: 3, body: { teeTcbSvn, teeTcbSvn2 } }) as const
    const levels = (top: 'UpToDate' | 'ConfigurationNeeded', below: 'OutOfDate' | 'OutOfDateConfigurationNeeded') => [
      { status: top, tdx: [0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
      { status: below },
    ]
    // Launch out of date by the platform level alone (module current), current platform level up to date.
    const platformOnly = signedTcbInfo(pki, { levels: levels('UpToDate', 'OutOfDate'), modules: [{ id: 'TDX_03', levels: [{ isvsvn: 5, status: 'UpToDate' }] }] })
    expect(await statusOf({ fields: v15(svn(5, 3, 3)), collateral: { tcbInfo: platformOnly } })).toBe('TDRelaunchAdvised')
    const claims = await verifyTdxEvidence(input({ fields: v15(svn(5, 3, 3)), collateral: { tcbInfo: platformOnly }, options: { acceptedTcbStatuses: ['TDRelaunchAdvised'] } }))
    expect(claims.raw).toMatchObject({ tcbStatus: 'TDRelaunchAdvised', currentTcbStatus: 'UpToDate', tdxTcbStatus: 'OutOfDate', teeTcbSvn2: '05030300000000000000000000000000' })
    // Configuration needed on either side: the ConfigurationNeeded variant.
    const config = signedTcbInfo(pki, { levels: levels('ConfigurationNeeded', 'OutOfDateConfigurationNeeded'), modules: [{ id: 'TDX_03', levels: [{ isvsvn: 5, status: 'UpToDate' }] }] })
    expect(await statusOf({ fields: v15(svn(5, 3, 3)), collateral: { tcbInfo: config } })).toBe('TDRelaunchAdvisedConfigurationNeeded')
    // An out-of-date QE makes the current TCB out of date too: no relaunch advice.
    const qeOld = signedQeIdentity(pki, { levels: [{ isvsvn: 9, status: 'UpToDate' }, { isvsvn: 4, status: 'OutOfDate' }] })
    expect(await statusOf({ fields: v15(svn(5, 3, 3)), collateral: { tcbInfo: platformOnly, qeIdentity: qeOld } })).toBe('OutOfDate')
    // The current TCB must be supported: a module version the TCB info does not list, or SVNs below every level.
    expect(await statusOf({ fields: v15(svn(6, 7, 3)), collateral: { tcbInfo: platformOnly } })).toBe('error:tcb-below-minimum')
    const oneLevel = signedTcbInfo(pki, { levels: [{ status: 'UpToDate', tdx: [0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }] })
    expect(await statusOf({ fields: v15(svn(5, 3, 2), svn(5, 3, 3)), collateral: { tcbInfo: oneLevel } })).toBe('error:tcb-below-minimum')
    expect(await statusOf({ fields: v15(svn(5, 3, 3), svn(5, 3, 3)), collateral: { tcbInfo: oneLevel } })).toBe('UpToDate')
    // A current launch TCB is never changed by the relaunch check, whatever TEE_TCB_SVN_2 says.
    expect(await statusOf({ fields: v15(svn(5, 3, 2), svn(5, 3, 3)), collateral: { tcbInfo: platformOnly } })).toBe('UpToDate')
  })

  test('a refusal names the status and advisories in the problem extensions (client-safe)', async () => {
    const tcbInfo = signedTcbInfo(pki, { levels: [{ status: 'OutOfDate', advisoryIDs: ['INTEL-SA-00837'] }] })
    const err = await verifyTdxEvidence(input({ collateral: { tcbInfo } })).then(
      () => undefined,
      (e: unknown) => e as { code: ErrorCode; extensions?: Record<string, unknown> },
    )
    expect(err?.code).toBe('tcb-below-minimum')
    expect(err?.extensions).toEqual({ tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00837'] })
  })
})

describe('error codes map to HTTP', () => {
  test('each code the verifier throws has a problem type and a 4xx status', () => {
    const codes: ErrorCode[] = ['evidence-malformed', 'evidence-unsupported', 'signature-invalid', 'chain-untrusted', 'collateral-missing', 'debug-enabled', 'tcb-below-minimum', 'event-log-mismatch']
    for (const c of codes) expect(PROBLEMS[c].status).toBeGreaterThanOrEqual(400)
    for (const c of codes) expect(PROBLEMS[c].status).toBeLessThan(500)
  })
})

describe('caches', () => {
  test('verification gives the same answer with cold caches', async () => {
    clearTdxCertificateCaches()
    expect(await run()).toBe('no-error')
    expect(await run({ options: { extraPinnedRoots: [] } })).toBe('chain-untrusted')
    expect(await run()).toBe('no-error')
  })
})

// Keys made here exercise the generator itself.
test('generator keys are P-256', async () => {
  const k = await ecKeys()
  expect((k.publicKey.algorithm as EcKeyAlgorithm).namedCurve).toBe('P-256')
})

export type { QuoteFields }

describe('properties over the whole quote', () => {
  test('random overwrites anywhere (PCK chain PEM included) give a typed error, never acceptance or a foreign error', async () => {
    const f = quoteFields()
    const q = makeQuote(pki, f)
    const pemStart = quoteOffsets(f).qeReport + 384 + 64 + 2 + f.qeAuthData.byteLength + 6
    const c = defaultCollateral(pki)
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(q.byteLength - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (writes) => {
        const b = q.slice()
        for (const [at, v] of writes) b[at] = v
        fc.pre(!b.every((v, i) => v === q[i]))
        const code = await asyncCodeOf(() => verifyTdxEvidence({ quote: b, collateral: c, now: GEN_NOW, options: { extraPinnedRoots: [pki.rootSpkiSha256] } }))
        if (code === 'no-error') {
          // Only the unsigned PEM text may change without effect (white space, base64 padding bits): same certificates, same everything else.
          expect(writes.every(([at]) => at >= pemStart)).toBe(true)
          expect(parseQuote(b).pckChain).toEqual(parseQuote(q).pckChain)
          return
        }
        expect(['evidence-malformed', 'evidence-unsupported', 'signature-invalid', 'chain-untrusted', 'debug-enabled', 'tcb-below-minimum', 'collateral-missing']).toContain(code)
      }),
      { numRuns: 600 },
    )
  })
})
