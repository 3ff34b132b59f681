/** Synthetic negatives: each test changes one thing of a report/chain that otherwise verifies. */
import fc from 'fast-check'
import { beforeAll, describe, expect, test } from 'vitest'
import { PROBLEMS } from '../../../src/server/problem.js'
import type { ErrorCode } from '../../../src/errors.js'
import {
  buildCertTable,
  CERT_TABLE_GUIDS,
  clearSnpCaches,
  encodeTcb,
  verifySnpEvidence,
  type SnpVerifyInput,
  type SnpVerifyOptions,
} from '../../../src/evidence/snp/index.js'
import { REPORT, SIGNED_SIZE } from '../../../src/evidence/snp/report-layout.js'
import type { CollateralLookup } from '../../../src/evidence/types.js'
import {
  createCa,
  createSnpPki,
  defaultTcb,
  GEN_NOW,
  issueCrl,
  issueEndorsement,
  makeReport,
  rsaKeys,
  type CaKey,
  type ReportFields,
  type SnpPki,
} from '../../generators/snp.js'
import { codeOfAsync } from './codes.js'

let milan: SnpPki
let genoa: SnpPki
let turin: SnpPki
let vcek: Uint8Array
let vlek: Uint8Array
let turinVcek: Uint8Array
let rogueArk: CaKey

beforeAll(async () => {
  ;[milan, genoa, turin] = await Promise.all([createSnpPki('Milan'), createSnpPki('Genoa'), createSnpPki('Turin')])
  vcek = await issueEndorsement(milan)
  vlek = await issueEndorsement(milan, { kind: 'vlek' })
  turinVcek = await issueEndorsement(turin)
  rogueArk = await createCa(await rsaKeys(), { name: 'ARK-Milan' })
})

const pins = () => [milan, genoa, turin].map((p) => ({ product: p.product, spkiSha256: p.arkSpkiSha256 }))

/** Evidence for `pki` with its whole chain in the certificate list; overrides change one piece. */
function input(
  pki: SnpPki,
  o: { report?: Uint8Array; fields?: Partial<ReportFields>; leaf?: Uint8Array; ask?: Uint8Array; ark?: Uint8Array; crl?: Uint8Array; options?: Partial<SnpVerifyOptions>; now?: Date } = {},
): SnpVerifyInput {
  const kind = (o.fields?.signingKey ?? 0) === 1 ? 'vlek' : 'vcek'
  const leaf = o.leaf ?? (pki === turin ? turinVcek : kind === 'vlek' ? vlek : vcek)
  const intermediate = o.ask ?? (kind === 'vlek' ? pki.asvk.der : pki.ask.der)
  return {
    report: o.report ?? makeReport(pki, o.fields),
    certs: { form: 'list', certificates: [leaf, intermediate, o.ark ?? pki.ark.der] },
    ...(o.crl === undefined ? {} : { crl: o.crl }),
    now: o.now ?? GEN_NOW,
    options: { extraPinnedArks: pins(), useBuiltinAmdCertificates: false, ...o.options },
  }
}
const run = (i: SnpVerifyInput) => codeOfAsync(() => verifySnpEvidence(i))

describe('synthetic reports that verify', () => {
  test('Milan v2/v3/v5 VCEK, Milan VLEK, Turin (FMC, 8-byte hwID)', async () => {
    expect(await run(input(milan))).toBe('ok')
    expect(await run(input(milan, { fields: { version: 2 } }))).toBe('ok')
    expect(await run(input(milan, { fields: { version: 5 } }))).toBe('ok')
    expect(await run(input(milan, { fields: { signingKey: 1, maskChipKey: true, chipId: new Uint8Array(64) } }))).toBe('ok')
    const claims = await verifySnpEvidence(input(turin))
    expect(claims.tcb).toEqual(defaultTcb('Turin'))
    expect(claims.raw['product']).toBe('Turin')
  })

  test('Genoa VCEK whose hwID is an OCTET STRING', async () => {
    const leaf = await issueEndorsement(genoa, { hwIdEncoding: 'octet-string' })
    expect(await run(input(genoa, { leaf }))).toBe('ok')
  })

  test('VCEK with MASK_CHIP_KEY: zero CHIP_ID accepted, the chain binds the chip', async () => {
    expect(await run(input(milan, { fields: { maskChipKey: true, chipId: new Uint8Array(64) } }))).toBe('ok')
  })

  test('certificate table form, with a current CRL', async () => {
    const table = buildCertTable(
      [
        { guid: CERT_TABLE_GUIDS.vcek, data: vcek },
        { guid: CERT_TABLE_GUIDS.ask, data: milan.ask.der },
        { guid: CERT_TABLE_GUIDS.ark, data: milan.ark.der },
      ],
      8192,
    )
    const i = input(milan, { crl: await issueCrl(milan, { revoked: ['0badbeef'] }), options: { requireCrl: true } })
    const claims = await verifySnpEvidence({ ...i, certs: { form: 'table', entries: (await import('../../../src/evidence/snp/cert-table.js')).parseCertTable(table) } })
    expect(claims.raw['crl']).toBe('checked')
  })

  test('allowDebug, maxVmpl, allowMigrationAgent lift their checks', async () => {
    const policy = (1n << 17n) | (1n << 19n) | (1n << 18n)
    expect(await run(input(milan, { fields: { policy, vmpl: 2 }, options: { allowDebug: true, maxVmpl: 2, allowMigrationAgent: true } }))).toBe('ok')
  })
})

describe('one defect each', () => {
  const cases: [string, () => Promise<SnpVerifyInput>, ErrorCode][] = [
    ['bad signature (r flipped)', async () => {
      const report = makeReport(milan)
      report[REPORT.signature.at] = (report[REPORT.signature.at] ?? 0) ^ 0x01
      return input(milan, { report })
    }, 'signature-invalid'],
    ['signed by another key', async () => {
      const { generateKeyPairSync } = await import('node:crypto')
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
      return input(milan, { report: makeReport(milan, {}, privateKey) })
    }, 'signature-invalid'],
    ['SIGNING_KEY none', async () => input(milan, { fields: { signingKey: 7 } }), 'signature-invalid'],
    ['debug bit', async () => input(milan, { fields: { policy: (1n << 17n) | (1n << 19n) } }), 'debug-enabled'],
    ['VMPL 1', async () => input(milan, { fields: { vmpl: 1 } }), 'policy-violation'],
    ['VMPL 2 above maxVmpl 1', async () => input(milan, { fields: { vmpl: 2 }, options: { maxVmpl: 1 } }), 'policy-violation'],
    ['migration agent allowed', async () => input(milan, { fields: { policy: (1n << 17n) | (1n << 18n) } }), 'policy-violation'],
    ['old TCB (microcode below the floor)', async () => input(milan, { options: { minimumTcb: { Milan: { microcode: 116 } } } }), 'tcb-below-minimum'],
    ['Turin FMC below the floor', async () => input(turin, { options: { minimumTcb: { Turin: { fmc: 2 } } } }), 'tcb-below-minimum'],
    ['report version below minimum', async () => input(milan, { fields: { version: 2 }, options: { minimumReportVersion: 3 } }), 'tcb-below-minimum'],
    ['firmware below minimum', async () => input(milan, { options: { minimumFirmware: { major: 1, minor: 55, build: 30 } } }), 'tcb-below-minimum'],
    ['wrong chip id in VCEK', async () => input(milan, { leaf: await issueEndorsement(milan, { hwId: new Uint8Array(64).fill(9) }) }), 'chain-untrusted'],
    ['VCEK without hwID', async () => input(milan, { leaf: await issueEndorsement(milan, { hwId: null }) }), 'chain-untrusted'],
    ['wrong TCB in VCEK', async () => input(milan, { leaf: await issueEndorsement(milan, { tcb: { ...defaultTcb('Milan'), snp: 9 } }) }), 'chain-untrusted'],
    ['Turin VCEK without FMC', async () => {
      const { fmc: _fmc, ...noFmc } = defaultTcb('Turin')
      return input(turin, { leaf: await issueEndorsement(turin, { tcb: noFmc }) })
    }, 'chain-untrusted'],
    ['report TCB differs from VCEK', async () => input(milan, { fields: { reportedTcb: encodeTcb({ ...defaultTcb('Milan'), microcode: 200 }, 'Milan') } }), 'chain-untrusted'],
    ['VCEK of another product name', async () => input(milan, { leaf: await issueEndorsement(milan, { productName: 'Genoa-B0' }) }), 'chain-untrusted'],
    ['expired VCEK', async () => input(milan, { leaf: await issueEndorsement(milan, { notAfter: new Date(GEN_NOW.getTime() - 1000) }) }), 'chain-untrusted'],
    ['VCEK not yet valid', async () => input(milan, { leaf: await issueEndorsement(milan, { notBefore: new Date(GEN_NOW.getTime() + 1000) }) }), 'chain-untrusted'],
    ['ASK not signed by ARK', async () => input(milan, { ask: (await createCa(await rsaKeys(), { name: 'SEV-Milan' }, rogueArk)).der }), 'chain-untrusted'],
    ['VCEK not signed by ASK', async () => input(milan, { leaf: await issueEndorsement(milan, { signer: genoa.ask }) }), 'chain-untrusted'],
    ['ASK is not a CA', async () => {
      const ask = await createCa(milan.ask.keys, { name: 'SEV-Milan', isCa: false }, milan.ark)
      return input(milan, { ask: ask.der })
    }, 'chain-untrusted'],
    ['ASK keyUsage lacks keyCertSign', async () => {
      const { KeyUsageFlags } = await import('@peculiar/x509')
      const ask = await createCa(milan.ask.keys, { name: 'SEV-Milan', keyUsage: KeyUsageFlags.cRLSign }, milan.ark)
      return input(milan, { ask: ask.der })
    }, 'chain-untrusted'],
    ['unpinned ARK', async () => ({ ...input(milan), options: { useBuiltinAmdCertificates: false } }), 'chain-untrusted'],
    ['unpinned ARK with AMD certificates available', async () => ({ ...input(milan), options: {} }), 'chain-untrusted'],
    ['wrong product: Genoa CPUID, Milan chain', async () => input(milan, { fields: { cpuid: { family: 0x19, model: 0x11, stepping: 1 } } }), 'chain-untrusted'],
    ['wrong product: Milan report with the Genoa ARK', async () => input(milan, { ark: genoa.ark.der }), 'chain-untrusted'],
    ['VLEK report with a VCEK', async () => input(milan, { fields: { signingKey: 1 }, leaf: vcek, ask: milan.asvk.der }), 'collateral-missing'],
    ['revoked VCEK in CRL', async () => input(milan, { crl: await issueCrl(milan, { revoked: ['0a'] }) }), 'chain-untrusted'],
    ['revoked ASK in stale CRL', async () => input(milan, { crl: await issueCrl(milan, { revoked: ['010001'], nextUpdate: new Date('2024-06-01T00:00:00Z') }) }), 'chain-untrusted'],
    ['CRL not signed by the ARK', async () => input(milan, { crl: await issueCrl(milan, { signer: milan.ask }) }), 'chain-untrusted'],
    ['CRL signed by a rogue key under the ARK name', async () => input(milan, { crl: await issueCrl(milan, { signer: rogueArk }) }), 'chain-untrusted'],
    ['CRL required but absent', async () => input(milan, { options: { requireCrl: true } }), 'collateral-missing'],
    ['CRL required but stale', async () => input(milan, { crl: await issueCrl(milan, { nextUpdate: new Date('2024-06-01T00:00:00Z') }), options: { requireCrl: true } }), 'collateral-missing'],
    ['CRL garbage', async () => input(milan, { crl: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]) }), 'evidence-malformed'],
    ['reserved byte 0x1eb non-zero', async () => {
      const report = makeReport(milan)
      report[0x1eb] = 1
      return input(milan, { report })
    }, 'evidence-malformed'],
    ['unknown version 4', async () => input(milan, { fields: { version: 4 } }), 'evidence-unsupported'],
    ['unknown CPUID product', async () => input(milan, { fields: { cpuid: { family: 0x17, model: 0x31, stepping: 0 } } }), 'evidence-unsupported'],
    ['truncated', async () => input(milan, { report: makeReport(milan).subarray(0, 1000) }), 'evidence-malformed'],
    ['oversized', async () => input(milan, { report: new Uint8Array([...makeReport(milan), 0]) }), 'evidence-malformed'],
    ['no certificates, no collateral', async () => ({ ...input(milan), certs: { form: 'list', certificates: [] } }), 'collateral-missing'],
    ['garbage certificate', async () => ({ ...input(milan), certs: { form: 'list', certificates: [new Uint8Array([1, 2, 3])] } }), 'evidence-malformed'],
  ]
  for (const [name, make, code] of cases) {
    test(`${name} → ${code} (HTTP ${PROBLEMS[code].status})`, async () => {
      expect(PROBLEMS[code].status).toBeGreaterThanOrEqual(400)
      expect(await run(await make())).toBe(code)
    })
  }
})

describe('collateral lookup', () => {
  test('leaf, ASK and ARK from the collateral store under the documented keys', async () => {
    const report = makeReport(milan)
    const seen: string[] = []
    const collateral: CollateralLookup = {
      get: async (kind, key) => {
        seen.push(`${kind}:${key.length > 20 ? key.split('/').map((s) => s.slice(0, 8)).join('/') : key}`)
        if (kind === 'snp-vcek') return vcek
        if (kind === 'snp-ask' && key === 'Milan') return new TextEncoder().encode(`-----BEGIN CERTIFICATE-----\n${Buffer.from(milan.ask.der).toString('base64')}\n-----END CERTIFICATE-----\n`)
        if (kind === 'snp-ark' && key === 'Milan') return milan.ark.der
        if (kind === 'snp-crl' && key === 'Milan/vcek') return issueCrl(milan)
        return undefined
      },
    }
    const claims = await verifySnpEvidence({ report, now: GEN_NOW, collateral, options: { extraPinnedArks: pins(), requireCrl: true } })
    expect(claims.raw['crl']).toBe('checked')
    expect(seen).toEqual(['snp-vcek:Milan/030a1118/73080000', 'snp-ask:Milan', 'snp-ark:Milan', 'snp-crl:Milan/vcek'])
  })

  test('a failing lookup is collateral-missing', async () => {
    const collateral: CollateralLookup = { get: async () => { throw new Error('db down') } }
    expect(await run({ report: makeReport(milan), now: GEN_NOW, collateral })).toBe('collateral-missing')
  })
})

describe('properties', () => {
  test('flipping any bit of the signed range is never accepted', async () => {
    const base = makeReport(milan)
    // collateral-missing: the bits at 0x48 name the signing key (VCEK, VLEK, none); a flip there
    // makes the report ask for a key that was not sent (seed 691716997 found bit 578, VCEK → VLEK).
    const allowed = ['signature-invalid', 'evidence-malformed', 'evidence-unsupported', 'collateral-missing']
    expect(allowed).toContain(await run(input(milan, { report: flip(base, 578) })))
    await fc.assert(
      fc.asyncProperty(fc.nat(SIGNED_SIZE * 8 - 1), async (bitIndex) => {
        expect(allowed).toContain(await run(input(milan, { report: flip(base, bitIndex) })))
      }),
      { numRuns: 300 },
    )
  })

  test('arbitrary report bytes with a valid chain: only evidence-malformed or evidence-unsupported', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0x4a0, maxLength: 0x4a0 }), async (report) => {
        expect(['evidence-malformed', 'evidence-unsupported']).toContain(await run(input(milan, { report })))
      }),
      { numRuns: 200 },
    )
  })
})

describe('chain cache', () => {
  test('a cached chain still fails outside its validity window', async () => {
    clearSnpCaches()
    expect(await run(input(milan))).toBe('ok')
    expect(await run(input(milan, { now: new Date('2040-01-01T00:00:00Z') }))).toBe('chain-untrusted')
  })

  test('a chain verified with an extra pin is not trusted once the pin is gone', async () => {
    expect(await run(input(milan))).toBe('ok')
    expect(await run({ ...input(milan), options: { useBuiltinAmdCertificates: false } })).toBe('chain-untrusted')
  })
})

/** A copy of `bytes` with bit `bitIndex` flipped. */
function flip(bytes: Uint8Array, bitIndex: number): Uint8Array {
  const out = bytes.slice()
  out[bitIndex >> 3] = (out[bitIndex >> 3] ?? 0) ^ (1 << (bitIndex & 7))
  return out
}
