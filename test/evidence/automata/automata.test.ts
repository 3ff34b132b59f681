/**
 * `automata` evidence: collaterals built from the real Azure vector (test/vectors/automata/), then
 * synthetic collaterals (test/generators/automata.ts) for what real pieces cannot show — our
 * nonce in a TEE report or a quote, the GCP and AWS ties, the TPM boot log, the CCEL of a TD.
 */
import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, test } from 'vitest'
import { appraise } from '../../../src/appraisal/index.js'
import { KeybrokerError } from '../../../src/errors.js'
import { AUTOMATA_BINDING, automataVerifier, automataV1ReportData, createAutomataVerifier } from '../../../src/evidence/automata/index.js'
import type { SnpVerifyOptions } from '../../../src/evidence/snp/index.js'
import { agentNonceOf, NO_COLLATERAL, type Claims, type CollateralLookup } from '../../../src/evidence/index.js'
import { toHex } from '../../../src/evidence/reader.js'
import { akIdOf } from '../../../src/evidence/tpm/index.js'
import { PROBLEMS } from '../../../src/server/problem.js'
import { describeZodError } from '../../../src/server/validation.js'
import { appraisalClaims } from '../../../src/services/release-policy.js'
import { checkEvidenceBinding, computeBinding } from '../../../src/tokens/index.js'
import { asyncCodeOf, codeOf } from '../../support/error-code.js'
import { buildCollaterals, lookups, snpCollateralLookup, tdxCollateralLookup, tpmTrustLookup, vcekOf, type AutomataBuild } from '../../generators/automata.js'
import { createSnpPki, GEN_NOW, type SnpPki } from '../../generators/snp.js'
import { createTdxPki, type TdxPki } from '../../generators/tdx.js'
import { akKeyPair, createTestCa, issueAkCertificate, type TestCa } from '../../generators/tpm.js'
import { azureSnpCollaterals, azureSnpPcrs } from '../../vectors/automata/from-real-pieces.js'

const REAL_NOW = new Date('2026-11-23T00:00:00Z')
const vector = (path: string): Buffer => readFileSync(new URL(`../../vectors/${path}`, import.meta.url))
const realDoc = (): Record<string, unknown> => JSON.parse(vector('automata/azure-snp-collaterals.json').toString('utf8')) as Record<string, unknown>
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

/**
 * As the service does: the route schema (400 evidence-malformed naming the path), then the
 * verifier — the default one for real vectors, one that also pins the synthetic SNP ARK and
 * Intel root of the generators otherwise.
 */
async function verify(collaterals: unknown, collateral: CollateralLookup = NO_COLLATERAL, now: Date = REAL_NOW, snpOptions: Partial<SnpVerifyOptions> = {}): Promise<Claims> {
  const verifier =
    now === REAL_NOW && Object.keys(snpOptions).length === 0
      ? automataVerifier
      : createAutomataVerifier({
          snp: { extraPinnedArks: snp === undefined ? [] : [{ product: 'Milan', spkiSha256: snp.arkSpkiSha256 }], ...snpOptions },
          tdx: { extraPinnedRoots: tdx === undefined ? [] : [tdx.rootSpkiSha256] },
        })
  const parsed = verifier.schema.safeParse({ type: 'automata', collaterals })
  if (!parsed.success) throw new KeybrokerError('evidence-malformed', describeZodError(parsed.error, 'evidence'))
  return verifier.verify(parsed.data, { now, collateral })
}

async function failure(p: Promise<unknown>): Promise<{ code: string; detail: string; status: number }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof KeybrokerError)) throw new Error(`expected a KeybrokerError, got ${String(err)}`)
  return { code: err.code, detail: err.detail, status: PROBLEMS[err.code].status }
}

/** Deep copy with one member replaced (`path` through objects; `undefined` deletes). */
function withField(doc: unknown, path: readonly string[], value: unknown): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>
  let node: Record<string, unknown> = copy
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>
  const last = path[path.length - 1] ?? ''
  if (value === undefined) delete node[last]
  else node[last] = value
  return copy
}

describe('collaterals built from the real Azure vector (trustee az-snp-vtpm, Milan)', () => {
  test('the checked-in document is what the builder makes of the real pieces', () => {
    expect(realDoc()).toEqual(azureSnpCollaterals())
  })

  test('verifies offline: the SNP measurement and every PCR of the vector; the TEE vouches for the AK (azure-var-data)', async () => {
    const claims = await verify(realDoc())
    expect(claims.evidenceType).toBe('automata')
    expect(claims.platform).toBe('automata-sev-snp')
    expect(claims.measurement).toBe('9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315')
    const pcrs = azureSnpPcrs()
    expect(Object.keys(pcrs)).toHaveLength(24)
    expect(claims.raw['pcrs']).toEqual({ sha256: pcrs })
    for (const [i, v] of Object.entries(pcrs)) expect(claims.measurements[`pcr${i}`]).toBe(v)
    expect(claims.measurements['pcr0']).toBe('f3a7e99a5f819a034386bce753a48a73cfdaa0bea0ecfc124bedbf5a8c4799be')
    expect(claims.teeTpmTie).toBe('azure-var-data')
    expect(claims.raw['teeTpmTie']).toBe('azure-var-data')
    expect(claims.instanceId).toBe('911b0ef8-9dba-48b0-b275-4e4df2d39252')
    expect(claims.tcb).toMatchObject({ bootloader: 3, tee: 0, snp: 8, microcode: 115 })
    expect(claims.raw['quote']).toMatchObject({ pcrDigest: '0daff74c2fca14910b1e9b54a384707434c3365db9f163cc73a39a9f7500833f' })
    expect(toHex(claims.reportData)).toBe(Buffer.from('challenge').toString('hex'))
    // Appraisal: the tie makes instance-identity trustworthy.
    expect(appraise(appraisalClaims(claims), []).trustVector['instance-identity']).toBe(2)
  })

  test('one PCR value changed is refused (the quote does not vouch for it)', async () => {
    const doc = realDoc() as { tpm: { pcrs: { pcrs: Record<string, string> } } }
    const pcr23 = Buffer.from(doc.tpm.pcrs.pcrs['23'] ?? '', 'base64')
    pcr23[31] = (pcr23[31] ?? 0) ^ 1
    const changed = withField(doc, ['tpm', 'pcrs', 'pcrs', '23'], b64(pcr23))
    expect(await failure(verify(changed))).toMatchObject({ code: 'signature-invalid', status: 403 })
  })

  test('a TEE report that does not belong to the vTPM quote: tee-tpm-mismatch (real reports of other machines)', async () => {
    // The trustee Milan report of another VM, with its own VCEK: genuine, but it vouches for other runtime claims.
    const other = withField(realDoc(), ['sev_snp'], {
      attestation_report: b64(vector('snp/trustee-milan-vcek/test-report.bin')),
      vek_cert: b64(vector('snp/trustee-milan-vcek/test-vcek.der')),
    })
    expect(await failure(verify(other))).toMatchObject({ code: 'tee-tpm-mismatch', status: 403 })
    // var_data changed by one byte: the TEE report no longer vouches for it.
    const varData = Buffer.from((realDoc() as { tpm: { var_data: string } }).tpm.var_data, 'base64')
    varData[100] = (varData[100] ?? 0) ^ 1
    expect((await failure(verify(withField(realDoc(), ['tpm', 'var_data'], b64(varData))))).code).toBe('tee-tpm-mismatch')
    // An ak_pub beside var_data that is not var_data's AK.
    const stranger = akKeyPair('rsa').publicKey.export({ type: 'spki', format: 'der' })
    expect((await failure(verify(withField(realDoc(), ['tpm', 'ak_pub'], b64(stranger)))))).toMatchObject({ code: 'tee-tpm-mismatch' })
  })

  test('the binding profile refuses it: no agent bound our nonce into this quote', async () => {
    const claims = await verify(realDoc())
    const B = await computeBinding('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4', { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' })
    expect(codeOf(() => checkEvidenceBinding(AUTOMATA_BINDING, claims, B))).toBe('binding-mismatch')
  })

  test('a real AWS VLEK report with an unregistered AK verifies, but nothing ties the two: instance-identity unrecognized', async () => {
    // The TEE report is real (trustee's AWS VLEK report); the vTPM pieces are synthetic.
    const doc = {
      ...(await build({ cloud: 'aws', generation: 'v2', ak: ecAk })),
      sev_snp: { attestation_report: b64(vector('snp/trustee-milan-vlek-aws/test-vlek-report.bin')), vek_cert: b64(vector('snp/trustee-milan-vlek-aws/test-vlek.der')) },
    }
    // The AWS report was requested at VMPL 1 (an SVSM below the guest): allowed here as a service would configure it.
    expect((await failure(verify(doc, NO_COLLATERAL, new Date('2025-06-01T00:00:00Z')))).code).toBe('policy-violation')
    const claims = await verify(doc, NO_COLLATERAL, new Date('2025-06-01T00:00:00Z'), { maxVmpl: 1 })
    expect(claims.measurement).toBe('8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0')
    expect(claims.raw['signingKey']).toBe('vlek')
    expect(claims.teeTpmTie).toBe('none')
    const appraisal = appraise(appraisalClaims(claims), [])
    expect(appraisal.trustVector['instance-identity']).toBe(97)
    expect(appraisal.status).toBe('contraindicated')
    // Its REPORT_DATA is neither generation's: the profile refuses it.
    expect(codeOf(() => checkEvidenceBinding(AUTOMATA_BINDING, claims, B))).toBe('binding-mismatch')
  })
})

// Synthetic from here on: a real TEE report or quote cannot carry our nonce (it is signed by
// hardware we do not control), and no GCP/AWS Automata collaterals are public.
let snp: SnpPki
let vcek: Uint8Array
let tdx: TdxPki
let akCa: TestCa
const ak = akKeyPair('rsa')
const ecAk = akKeyPair('p256')
const KEY = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }
let B: Uint8Array
let N: string

beforeAll(async () => {
  ;[snp, tdx, akCa] = await Promise.all([createSnpPki('Milan'), createTdxPki(), createTestCa('GCP vTPM AK CA (test)')])
  vcek = await vcekOf(snp)
  B = await computeBinding('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4', KEY)
  N = agentNonceOf(B)
})

const build = (o: Partial<AutomataBuild> & Pick<AutomataBuild, 'cloud' | 'generation'>) =>
  buildCollaterals({ tee: 'snp', nonce: N, ak, snp: { pki: snp, vcek }, ...o })
const snpLookup = () => snpCollateralLookup(snp)
const gcpLookup = () => lookups(snpLookup(), tpmTrustLookup({ akCaPem: akCa.pem }))
const gcpCert = async (key = ecAk.publicKey) => issueAkCertificate(akCa, new Uint8Array(key.export({ type: 'spki', format: 'der' })))

describe('synthetic collaterals of each cloud and generation', () => {
  test('Azure, v2: verifies; binding automata-v2; TPM boot log replayed; PCR 16 and 23 claims', async () => {
    const claims = await verify(await build({ cloud: 'azure', generation: 'v2' }), snpLookup(), GEN_NOW)
    expect(claims.teeTpmTie).toBe('azure-var-data')
    expect(checkEvidenceBinding(AUTOMATA_BINDING, claims, B)).toBe('automata-v2')
    expect(claims.measurement).toBe('a1'.repeat(48))
    expect(claims.raw['eventLog']).toMatchObject({ verifiedPcrs: [0, 4, 7, 16, 23] })
    expect(claims.measurements['pcr23']).toMatch(/^[0-9a-f]{64}$/)
    expect((claims.raw['pcrs'] as { sha256: Record<string, string> }).sha256['16']).toBe(claims.measurements['pcr16'])
    // The profile checks B: another key's binding is refused.
    const other = await computeBinding('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4', { ...KEY, x: KEY.y, y: KEY.x })
    expect(codeOf(() => checkEvidenceBinding(AUTOMATA_BINDING, claims, other))).toBe('binding-mismatch')
  })

  test('GCP, v2: the AK certificate chains to a registered AK CA (ak-certificate); TEE report data zero', async () => {
    const doc = await build({ cloud: 'gcp', generation: 'v2', ak: ecAk, akCertPem: await gcpCert() })
    const claims = await verify(doc, gcpLookup(), GEN_NOW)
    expect(claims.teeTpmTie).toBe('ak-certificate')
    expect(claims.raw['ak']).toMatchObject({ trust: 'certificate', certifiedBy: 'CN=GCP vTPM AK CA (test)' })
    expect(checkEvidenceBinding(AUTOMATA_BINDING, claims, B)).toBe('automata-v2')
    // Without the CA registered, the certificate is a refusal, not an untied AK.
    expect((await failure(verify(doc, snpLookup(), GEN_NOW))).code).toBe('chain-untrusted')
    // A certificate of another key than ak_pub: malformed, naming the field.
    const wrong = await build({ cloud: 'gcp', generation: 'v2', ak: ecAk, akCertPem: await gcpCert(akKeyPair('p256').publicKey) })
    expect(await failure(verify(wrong, gcpLookup(), GEN_NOW))).toMatchObject({ code: 'evidence-malformed' })
  })

  test('GCP/AWS, v1 (2025-05/06): report data 0³² ‖ SHA-256(magic ‖ nonce), extraData = nonce: automata-v1', async () => {
    const claims = await verify(await build({ cloud: 'gcp', generation: 'v1', ak: ecAk, akCertPem: await gcpCert() }), gcpLookup(), GEN_NOW)
    expect(checkEvidenceBinding(AUTOMATA_BINDING, claims, B)).toBe('automata-v1')
    expect(toHex(claims.binding?.['teeReportData'] ?? new Uint8Array())).toBe(toHex(automataV1ReportData(Buffer.from('External/collaterals'), Buffer.from(N))))
  })

  test('AWS: an unregistered AK ties nothing (none, contraindicated); a registered one does (registered-ak)', async () => {
    const doc = await build({ cloud: 'aws', generation: 'v2', ak: ecAk })
    const untied = await verify(doc, snpLookup(), GEN_NOW)
    expect(untied.teeTpmTie).toBe('none')
    expect(untied.raw['ak']).toMatchObject({ trust: 'none' })
    expect(checkEvidenceBinding(AUTOMATA_BINDING, untied, B)).toBe('automata-v2')
    expect(appraise(appraisalClaims(untied), []).status).toBe('contraindicated')
    const registered = await verify(doc, lookups(snpLookup(), tpmTrustLookup({ registeredAkIds: [akIdOf(ecAk.publicKey)] })), GEN_NOW)
    expect(registered.teeTpmTie).toBe('registered-ak')
    expect(appraise(appraisalClaims(registered), []).trustVector['instance-identity']).toBe(2)
  })

  test('GCP TDX, v2: the real GCP CCEL replays to the quote RTMRs; a CCEL of another boot is event-log-mismatch', async () => {
    const ccel = new Uint8Array(vector('eventlog/trustee/CCEL_data_gcp'))
    const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
    // RTMR0/1 of CCEL_data_gcp (test/vectors/eventlog/README.md), RTMR2/3 zero.
    const rtmr: [Uint8Array, Uint8Array, Uint8Array, Uint8Array] = [
      hex('3300980705adf09d28b707b79699d9874892164280832be2c386a715b6e204e0897fb564a064f810659207ba862b304f'),
      hex('204d49f78d29918fe7b2f694e76653861a0c2a018987d2c3a54266eff737232524cf0af68c4d180e2f8c2c0937f21967'),
      new Uint8Array(48),
      new Uint8Array(48),
    ]
    const doc = await buildCollaterals({ tee: 'tdx', cloud: 'gcp', generation: 'v2', nonce: N, ak: ecAk, akCertPem: await gcpCert(), tdx: { pki: tdx, body: { rtmr }, ccel } })
    const lookup = lookups(tdxCollateralLookup(tdx), tpmTrustLookup({ akCaPem: akCa.pem }))
    const claims = await verify(doc, lookup, GEN_NOW)
    expect(claims.platform).toBe('automata-tdx')
    expect(claims.measurements['rtmr0']).toBe(toHex(rtmr[0]))
    expect(Array.isArray(claims.raw['ccel'])).toBe(true)
    expect(claims.raw['uuid']).toBe('0c'.repeat(16))
    expect(checkEvidenceBinding(AUTOMATA_BINDING, claims, B)).toBe('automata-v2')
    const otherBoot = await buildCollaterals({ tee: 'tdx', cloud: 'gcp', generation: 'v2', nonce: N, ak: ecAk, akCertPem: await gcpCert(), tdx: { pki: tdx, ccel } })
    expect((await failure(verify(otherBoot, lookup, GEN_NOW))).code).toBe('event-log-mismatch')
  })

  test('a TPM boot log that does not replay to the quoted PCRs: event-log-mismatch', async () => {
    const doc = (await build({ cloud: 'azure', generation: 'v2' })) as { boot_log_tpm?: string }
    const other = await build({ cloud: 'azure', generation: 'v2', events: [{ pcrIndex: 23, eventType: 0x0d, data: new Uint8Array(Buffer.from('another workload')) }] })
    const mixed = withField(doc, ['boot_log_tpm'], (other as { boot_log_tpm?: string }).boot_log_tpm)
    expect((await failure(verify(mixed, snpLookup(), GEN_NOW))).code).toBe('event-log-mismatch')
  })
})

describe('binding: wrong magic, wrong nonce, mixed generations', () => {
  const bindingOf = async (o: Partial<AutomataBuild> & Pick<AutomataBuild, 'cloud' | 'generation'>, lookup: CollateralLookup = snpLookup()) => {
    const claims = await verify(await build(o), lookup, GEN_NOW)
    return codeOf(() => checkEvidenceBinding(AUTOMATA_BINDING, claims, B))
  }
  const magic = Buffer.from('External/collaterals')

  test('each is binding-mismatch', async () => {
    expect(await bindingOf({ cloud: 'azure', generation: 'v2', magic: 'Internal/collaterals' })).toBe('binding-mismatch')
    expect(await bindingOf({ cloud: 'azure', generation: 'v2', nonce: N.replace(/^./, N.startsWith('A') ? 'B' : 'A') })).toBe('binding-mismatch')
    // A v2 quote (magic ‖ nonce) with a v1 TEE report (0³² ‖ SHA-256(magic ‖ nonce)).
    expect(await bindingOf({ cloud: 'aws', generation: 'v2', ak: ecAk, teeReportData: automataV1ReportData(magic, Buffer.from(N)) })).toBe('binding-mismatch')
    // A v1 quote (nonce alone) with a v2 TEE report (zero).
    expect(await bindingOf({ cloud: 'aws', generation: 'v1', ak: ecAk, teeReportData: new Uint8Array(64) })).toBe('binding-mismatch')
    // Azure never bound the nonce alone in the quote.
    expect(await bindingOf({ cloud: 'azure', generation: 'v1' })).toBe('binding-mismatch')
    // A quote whose extraData is neither (here: keybroker's native B[0:32]).
    expect(await bindingOf({ cloud: 'aws', generation: 'v2', ak: ecAk, extraData: B.slice(0, 32) })).toBe('binding-mismatch')
    // The controls pass.
    expect(await bindingOf({ cloud: 'aws', generation: 'v2', ak: ecAk })).toBe('no-error')
    expect(await bindingOf({ cloud: 'aws', generation: 'v1', ak: ecAk })).toBe('no-error')
  })

  test('claims without Automata binding data (another type) are refused by the profile', () => {
    const claims: Claims = { evidenceType: 'snp', platform: 'x', hardwareBacked: true, measurement: '00', measurements: {}, reportData: B, debug: false, tcb: {}, raw: {} }
    expect(AUTOMATA_BINDING.check(claims, { binding: B, agentNonce: N }).ok).toBe(false)
  })
})

describe('malformed fields: 400 evidence-malformed naming the field', () => {
  let good: Record<string, unknown>
  beforeAll(async () => {
    good = (await build({ cloud: 'azure', generation: 'v2' })) as unknown as Record<string, unknown>
  })
  const cases: readonly [string, readonly string[], unknown][] = [
    ['collaterals.tpm', ['tpm'], undefined],
    ['collaterals.magic', ['magic'], undefined],
    ['collaterals.nonce', ['nonce'], 'not base64!'],
    ['collaterals.sev_snp.attestation_report', ['sev_snp', 'attestation_report'], 'AAAA'],
    ['collaterals.sev_snp.attestation_report', ['sev_snp', 'attestation_report'], '@@@@'],
    ['collaterals.sev_snp.vek_cert', ['sev_snp', 'vek_cert'], 'MIIBAAAA'],
    ['sev_snp and tdx', ['sev_snp'], undefined],
    ['sev_snp and tdx', ['tdx'], { attestation_report: 'AAAA' }],
    ['collaterals.tpm.quote', ['tpm', 'quote'], 'AAAAAAAA'],
    ['collaterals.tpm.raw_sig', ['tpm', 'raw_sig'], 'AAEC'],
    ['collaterals.tpm.pcrs.hash', ['tpm', 'pcrs', 'hash'], 'sha256'],
    ['collaterals.tpm.pcrs.pcrs', ['tpm', 'pcrs', 'pcrs', '24'], b64(new Uint8Array(32))],
    ['collaterals.tpm.pcrs.pcrs.23', ['tpm', 'pcrs', 'pcrs', '23'], b64(new Uint8Array(20))],
    ['collaterals.tpm.pcrs', ['tpm', 'pcrs', 'pcrs', '0'], undefined],
    ['collaterals.tpm.ak_pub', ['tpm', 'ak_pub'], 'MAMCAQE='],
    ['collaterals.uuid', ['uuid'], b64(new Uint8Array(15))],
    ['collaterals.boot_log_tpm', ['boot_log_tpm'], b64(new Uint8Array(40).fill(7))],
    ['collaterals.boot_log_ccel', ['boot_log_ccel'], b64(new Uint8Array(40).fill(7))],
  ]
  test.each(cases)('%s', async (field, path, value) => {
    const f = await failure(verify(withField(good, path, value), snpLookup(), GEN_NOW))
    expect(f.status).toBe(400)
    expect(['evidence-malformed', 'evidence-unsupported']).toContain(f.code)
    expect(f.detail).toContain(field)
  })

  test('an unknown PCR bank is evidence-unsupported, naming the field', async () => {
    const f = await failure(verify(withField(good, ['tpm', 'pcrs', 'hash'], 0x0099), snpLookup(), GEN_NOW))
    expect(f).toMatchObject({ code: 'evidence-unsupported', status: 400 })
    expect(f.detail).toContain('collaterals.tpm.pcrs.hash')
  })

  test('var_data that the TEE report vouches for but that is not runtime claims names var_data', async () => {
    const garbage = new Uint8Array(Buffer.from('not json'))
    const { runtimeReportData } = await import('../../generators/azure.js')
    const doc = withField(await build({ cloud: 'azure', generation: 'v2', teeReportData: runtimeReportData(garbage) }), ['tpm', 'var_data'], b64(garbage))
    const f = await failure(verify(doc, snpLookup(), GEN_NOW))
    expect(f.code).toBe('evidence-malformed')
    expect(f.detail).toContain('collaterals.tpm.var_data')
  })

  test('neither ak_pub nor ak_cert outside Azure names the tpm member', async () => {
    const doc = withField(await build({ cloud: 'aws', generation: 'v2', ak: ecAk }), ['tpm', 'ak_pub'], undefined)
    const f = await failure(verify(doc, snpLookup(), GEN_NOW))
    expect(f.code).toBe('evidence-malformed')
    expect(f.detail).toContain('collaterals.tpm')
  })

  test('the unmodified document verifies (the control)', async () => {
    expect(await asyncCodeOf(() => verify(good, snpLookup(), GEN_NOW))).toBe('no-error')
  })
})
