/** Real SEV-SNP reports (test/vectors/snp/README.md): expected values from the vectors' MANIFEST. */
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { verifierFor } from '../../../src/evidence/registry.js'
import { toHex } from '../../../src/evidence/reader.js'
import {
  buildCertTable,
  CERT_TABLE_GUIDS,
  parseReport,
  verifySnpEvidence,
  vcekCollateralKey,
} from '../../../src/evidence/snp/index.js'
import { PINNED_ARK_SPKI_SHA256 } from '../../../src/evidence/snp/products.js'
import { readEndorsementExtensions } from '../../../src/evidence/snp/vcek-extensions.js'
import { parseCertificateCached, verifyEndorsementChain } from '../../../src/evidence/snp/vcek-chain.js'
import type { CollateralLookup } from '../../../src/evidence/types.js'
import { NO_COLLATERAL } from '../../../src/evidence/types.js'
import { codeOfAsync, codeOf } from './codes.js'

const vector = (p: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../vectors/snp/${p}`, import.meta.url)))
const pemDer = (p: string): Uint8Array =>
  new Uint8Array(Buffer.from(readFileSync(new URL(`../../../reference-values/amd/${p}`, import.meta.url), 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'))

const TODAY = new Date('2026-11-23T00:00:00Z')
const list = (...certificates: Uint8Array[]) => ({ form: 'list' as const, certificates })

/** Cosmian tee-tools `Quote` bincode: report, u64 count, per cert u32 type (+ uuid in the old enum), u64 length, DER. Test-only. */
function unpackBincode(b: Uint8Array, oldEnum = false): { report: Uint8Array; certs: Uint8Array[] } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  let p = 1184
  const n = Number(dv.getBigUint64(p, true))
  p += 8
  const certs: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    const type = dv.getUint32(p, true)
    p += 4
    if (oldEnum && type === 3) p += 8 + Number(dv.getBigUint64(p, true))
    const len = Number(dv.getBigUint64(p, true))
    p += 8
    certs.push(b.slice(p, p + len))
    p += len
  }
  return { report: b.slice(0, 1184), certs }
}

describe('trustee Milan VCEK report (v2)', () => {
  const report = vector('trustee-milan-vcek/test-report.bin')
  const vcek = vector('trustee-milan-vcek/test-vcek.der')

  test('verifies today with the MANIFEST field values', async () => {
    const claims = await verifySnpEvidence({ report, certs: list(vcek), now: TODAY })
    expect(claims.platform).toBe('amd-sev-snp')
    expect(claims.hardwareBacked).toBe(true)
    expect(claims.measurement).toBe('a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c')
    expect(claims.instanceId).toBe(
      'c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e',
    )
    expect(claims.tcb).toEqual({ bootloader: 3, tee: 0, snp: 8, microcode: 115 })
    expect(toHex(claims.reportData)).toBe('ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2' + '00'.repeat(32))
    expect(claims.debug).toBe(false)
    expect(claims.hostData).toBe('00'.repeat(32))
    expect(claims.raw).toMatchObject({
      product: 'Milan',
      version: 2,
      guestSvn: 4,
      policy: '000000000003001f',
      vmpl: 0,
      signingKey: 'vcek',
      platformInfo: '0000000000000001',
      familyId: '01' + '00'.repeat(15),
      imageId: '02' + '00'.repeat(15),
      idKeyDigest: '0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3',
      reportId: '385eba81216de4776548fcb86f8ead03c1ebc92b6207f3210d9ccebb89c99005',
      currentTcb: { raw: 'ce08000000000003', bootloader: 3, tee: 0, snp: 8, microcode: 206 },
      reportedTcb: { raw: '7308000000000003' },
      committedTcb: { raw: '7308000000000003' },
      launchTcb: { raw: '7308000000000003' },
      currentVersion: { major: 1, minor: 52, build: 4 },
      committedVersion: { major: 1, minor: 52, build: 4 },
      productName: 'Milan-B0',
      endorsementSerial: '0',
      crl: 'absent',
    })
    expect(JSON.parse(JSON.stringify(claims.raw))).toEqual(claims.raw)
  })

  test('verifies at the VCEK bounds and not outside them', async () => {
    const at = (iso: string) => codeOfAsync(() => verifySnpEvidence({ report, certs: list(vcek), now: new Date(iso) }))
    expect(await at('2023-01-24T17:58:26Z')).toBe('ok')
    expect(await at('2030-01-24T17:58:26Z')).toBe('ok')
    expect(await at('2023-01-24T17:58:25Z')).toBe('chain-untrusted')
    expect(await at('2030-01-24T17:58:27Z')).toBe('chain-untrusted')
  })

  test('flipping byte 42 or 384 fails the signature', async () => {
    for (const at of [42, 384]) {
      const bad = report.slice()
      bad[at] = (bad[at]! + 1) & 0xff
      expect(await codeOfAsync(() => verifySnpEvidence({ report: bad, certs: list(vcek), now: TODAY }))).toBe('signature-invalid')
    }
  })

  test('a modified VCEK (byte 42) fails', async () => {
    const bad = vcek.slice()
    bad[42] = (bad[42]! + 1) & 0xff
    expect(['chain-untrusted', 'evidence-malformed', 'signature-invalid']).toContain(
      await codeOfAsync(() => verifySnpEvidence({ report, certs: list(bad), now: TODAY })),
    )
  })

  test('wire form through the registry: configfs-tsm outblob + auxblob in base64', async () => {
    const auxblob = buildCertTable(
      [
        { guid: CERT_TABLE_GUIDS.vcek, data: vcek },
        { guid: CERT_TABLE_GUIDS.ask, data: pemDer('milan/ask-milan.pem') },
        { guid: CERT_TABLE_GUIDS.ark, data: pemDer('milan/ark-milan.pem') },
      ],
      16384,
    )
    const verifier = verifierFor('snp', { allowSample: false })
    const evidence = verifier.schema.parse({
      type: 'snp',
      report: Buffer.from(report).toString('base64'),
      certs: Buffer.from(auxblob).toString('base64'),
    })
    const claims = await verifier.verify(evidence, { now: TODAY, collateral: NO_COLLATERAL })
    expect(claims.instanceId?.startsWith('c38427a3')).toBe(true)
  })

  test('without certificates: collateral-missing; with the VCEK in the collateral store under its documented key: verifies', async () => {
    expect(await codeOfAsync(() => verifySnpEvidence({ report, now: TODAY }))).toBe('collateral-missing')
    const key = vcekCollateralKey('Milan', parseReport(report).chipId, parseReport(report).reportedTcb)
    expect(key).toBe(
      'Milan/c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e/7308000000000003',
    )
    const asked: string[] = []
    const collateral: CollateralLookup = {
      get: async (kind, k) => {
        asked.push(`${kind} ${k}`)
        return kind === 'snp-vcek' && k === key ? vcek : undefined
      },
    }
    const claims = await verifySnpEvidence({ report, now: TODAY, collateral })
    expect(claims.raw['product']).toBe('Milan')
    expect(asked).toContain(`snp-vcek ${key}`)
  })

  test('requireCrl without a CRL: collateral-missing', async () => {
    expect(await codeOfAsync(() => verifySnpEvidence({ report, certs: list(vcek), now: TODAY, options: { requireCrl: true } }))).toBe(
      'collateral-missing',
    )
  })

  test('configured as Genoa, the Milan chain is untrusted', async () => {
    // v2 reports carry no CPUID: the configured product decides which pinned ARK the chain must reach.
    expect(await codeOfAsync(() => verifySnpEvidence({ report, certs: list(vcek), now: TODAY, options: { product: 'Genoa' } }))).toBe(
      'chain-untrusted',
    )
  })
})

describe('trustee Milan VLEK report (v3, AWS)', () => {
  const report = vector('trustee-milan-vlek-aws/test-vlek-report.bin')
  const vlek = vector('trustee-milan-vlek-aws/test-vlek.der')
  const PINNED = new Date('2025-06-01T00:00:00Z')

  test('verifies at 2025-06-01 with maxVmpl 1, with the MANIFEST values', async () => {
    const claims = await verifySnpEvidence({ report, certs: list(vlek), now: PINNED, options: { maxVmpl: 1 } })
    expect(claims.measurement).toBe('8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0')
    expect(toHex(claims.reportData)).toBe(
      '819770b7e6ea6df8dd8fd4dd146b073c0bf4f3ce5b0977ecac486e3a05ed1bd54e2a7ac1f5d1ca02e7d7d5ef9f73b8574fd9359e3a480d741a4478e8a7bc27ca',
    )
    expect(claims.tcb).toEqual({ bootloader: 4, tee: 0, snp: 24, microcode: 217 })
    expect(claims.instanceId).toBe('00'.repeat(64))
    expect(claims.raw).toMatchObject({
      version: 3,
      vmpl: 1,
      signingKey: 'vlek',
      platformInfo: '0000000000000027',
      cpuid: { family: 0x19, model: 0x01, stepping: 0x01 },
      currentTcb: { raw: 'dc18000000000004' },
      committedTcb: { raw: 'db18000000000004', microcode: 219 },
      currentVersion: { major: 1, minor: 55, build: 29 },
      productName: 'Milan',
      cspId: 'CN=cc-us-east-2.amazonaws.com',
    })
  })

  test('default options refuse VMPL 1 with policy-violation', async () => {
    expect(await codeOfAsync(() => verifySnpEvidence({ report, certs: list(vlek), now: PINNED }))).toBe('policy-violation')
  })

  test('fails today: the VLEK expired 2025-12-10', async () => {
    expect(await codeOfAsync(() => verifySnpEvidence({ report, certs: list(vlek), now: TODAY, options: { maxVmpl: 1 } }))).toBe(
      'chain-untrusted',
    )
  })

  test('chained via the ASK (SEV-Milan) instead of the ASVK it fails', async () => {
    const leaf = parseCertificateCached(vlek, 'vlek')
    const ask = parseCertificateCached(pemDer('milan/ask-milan.pem'), 'ask')
    const ark = parseCertificateCached(pemDer('milan/ark-milan.pem'), 'ark')
    const asvk = parseCertificateCached(pemDer('milan/asvk-milan.pem'), 'asvk')
    expect(codeOf(() => verifyEndorsementChain({ leaf, intermediate: asvk, ark }, 'vlek', 'Milan', [], PINNED))).toBe('ok')
    expect(codeOf(() => verifyEndorsementChain({ leaf, intermediate: ask, ark }, 'vlek', 'Milan', [], PINNED))).toBe('chain-untrusted')
    // …and even if the ASK were named like an ASVK, its signature would not match.
    expect(codeOf(() => verifyEndorsementChain({ leaf, intermediate: { ...ask, subjectCommonName: 'SEV-VLEK-Milan', subject: asvk.subject }, ark }, 'vlek', 'Milan', [], PINNED))).toBe('chain-untrusted')
    // Through the verifier: only the ASK offered and no built-in certificates → no ASVK.
    expect(
      await codeOfAsync(() =>
        verifySnpEvidence({
          report,
          certs: list(vlek, pemDer('milan/ask-milan.pem'), pemDer('milan/ark-milan.pem')),
          now: PINNED,
          options: { maxVmpl: 1, useBuiltinAmdCertificates: false },
        }),
      ),
    ).toBe('collateral-missing')
  })
})

describe('trustee synthetic negative VCEKs', () => {
  for (const [file, validFrom, tcb] of [
    ['test-vcek-invalid-legacy.der', '2023-02-03', { bootloader: 3, tee: 0, snp: 10, microcode: 169 }],
    ['test-vcek-invalid-new.der', '2023-08-17', { bootloader: 0, tee: 0, snp: 0, microcode: 30 }],
  ] as const) {
    test(`${file}: extensions parse (hwID in either encoding), chain to Milan fails`, () => {
      const cert = parseCertificateCached(vector(`trustee-synthetic-vcek-negative/${file}`), file)
      const ext = readEndorsementExtensions(cert, 64)
      expect(ext.hwId).toEqual(new Uint8Array(64).map((_, i) => i))
      expect({ bootloader: ext.bootloader, tee: ext.tee, snp: ext.snp, microcode: ext.microcode }).toEqual(tcb)
      const ask = parseCertificateCached(pemDer('milan/ask-milan.pem'), 'ask')
      const ark = parseCertificateCached(pemDer('milan/ark-milan.pem'), 'ark')
      const now = new Date(`${validFrom}T12:00:00Z`)
      expect(codeOf(() => verifyEndorsementChain({ leaf: cert, intermediate: ask, ark }, 'vcek', 'Milan', [], now))).toBe('chain-untrusted')
    })
  }
})

describe('Cosmian tee-tools reports', () => {
  const withChain = unpackBincode(vector('cosmian-tee-tools/report-ark-ask-vcek.bin'))

  test('report-ark-ask-vcek (v2, VMPL 1, ARK+ASK+VCEK): verifies today with maxVmpl 1', async () => {
    const claims = await verifySnpEvidence({ report: withChain.report, certs: list(...withChain.certs), now: TODAY, options: { maxVmpl: 1 } })
    expect(claims.tcb).toEqual({ bootloader: 3, tee: 0, snp: 8, microcode: 207 })
    expect(claims.measurement).toBe('41a95b6fbe794f1d3bb919934adc5e44583b57e4a5c3f489ffe775ecb8e23d3947001e886277751ba06ae793c2c8904d')
    expect(Buffer.from(claims.reportData.subarray(0, 16)).toString('latin1')).toBe('0123456789abcdef')
  })

  test('report-no-cert: collateral-missing alone; verifies with the same chip VCEK from collateral', async () => {
    const report = vector('cosmian-tee-tools/report-no-cert.bin')
    expect(await codeOfAsync(() => verifySnpEvidence({ report, now: TODAY, options: { maxVmpl: 1 } }))).toBe('collateral-missing')
    const vcek = withChain.certs[2]!
    const collateral: CollateralLookup = { get: async (kind) => (kind === 'snp-vcek' ? vcek : undefined) }
    expect(await codeOfAsync(() => verifySnpEvidence({ report, now: TODAY, collateral, options: { maxVmpl: 1, product: 'Milan' } }))).toBe('ok')
  })

  test('report-vlek-aws (v3): verifies at 2025-06-01 with the built-in ASVK and ARK', async () => {
    const { report, certs } = unpackBincode(vector('cosmian-tee-tools/report-vlek-aws.bin'))
    const claims = await verifySnpEvidence({ report, certs: list(...certs), now: new Date('2025-06-01T00:00:00Z'), options: { maxVmpl: 1 } })
    expect(claims.tcb).toEqual({ bootloader: 4, tee: 0, snp: 24, microcode: 217 })
  })

  test('report-vlek (v2, old bincode): verifies at 2024-01-01, not today', async () => {
    const { report, certs } = unpackBincode(vector('cosmian-tee-tools/report-vlek.bin'), true)
    const run = (now: Date) => codeOfAsync(() => verifySnpEvidence({ report, certs: list(...certs), now, options: { maxVmpl: 1 } }))
    expect(await run(new Date('2024-01-01T00:00:00Z'))).toBe('ok')
    expect(await run(TODAY)).toBe('chain-untrusted')
  })

  test('az_sev_report_with_chain (Azure, v2, PEM chain): verifies today with default options', async () => {
    const blob = vector('cosmian-tee-tools/az_sev_report_with_chain.bin')
    const pem = Buffer.from(blob.subarray(1184)).toString('latin1')
    const verifier = verifierFor('snp', { allowSample: false })
    const evidence = verifier.schema.parse({ type: 'snp', report: Buffer.from(blob.subarray(0, 1184)).toString('base64url'), certs: pem.trim() })
    const claims = await verifier.verify(evidence, { now: TODAY, collateral: NO_COLLATERAL })
    expect(claims.measurement).toBe('440646682b40e0aea370884d874e4504f7dc94867d6fae0b9b6d95c3818431ff37e2e3041784edf060a3ee5f33c4c163')
    expect(claims.tcb).toEqual({ bootloader: 3, tee: 0, snp: 8, microcode: 115 })
  })
})

describe('vendor roots', () => {
  test('pinned fingerprints equal the SPKI SHA-256 of reference-values/amd ARKs (MANIFEST)', () => {
    for (const [product, pin] of Object.entries(PINNED_ARK_SPKI_SHA256)) {
      const ark = parseCertificateCached(pemDer(`${product.toLowerCase()}/ark-${product.toLowerCase()}.pem`), 'ark')
      expect(ark.spkiSha256).toBe(pin)
      expect(ark.subjectCommonName).toBe(`ARK-${product}`)
    }
  })
})
