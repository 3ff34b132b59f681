/**
 * The configured SEV-SNP and TDX settings reach the Azure vTPM verifiers: `az-snp-vtpm` and
 * `az-tdx-vtpm` check their SNP report / TD quote with what `loadConfig` read from the
 * environment (src/evidence/registry.ts), as `snp` and `tdx` do. Each case is built so that the
 * default options would decide otherwise: dropping the settings makes it fail.
 *
 * Synthetic evidence (test/generators/azure.ts around the SNP / TDX generators): a real Azure
 * report cannot be re-signed with a low TCB, the debug bit or another TCB status.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeybrokerClientError } from '../../src/clients/index.js'
import { loadConfig } from '../../src/config/config.js'
import { encodeTcb } from '../../src/evidence/snp/index.js'
import { POLICY_BITS } from '../../src/evidence/snp/report-layout.js'
import { NO_COLLATERAL } from '../../src/evidence/index.js'
import { createVerifiers, type TestTrustAnchors } from '../../src/services/verifiers.js'
import type { Database } from '../../src/storage/index.js'
import { hclReport, runtimeClaimsJson, runtimeReportData, tdReport } from '../generators/azure.js'
import { createSnpPki, defaultTcb, GEN_NOW as SNP_NOW, issueCrl as issueSnpCrl, issueEndorsement, makeReport, reportFields, type SnpPki } from '../generators/snp.js'
import {
  createTdxPki,
  GEN_NOW as TDX_NOW,
  issueCrl as issueTdxCrl,
  makeQuote,
  quoteFields,
  signedQeIdentity,
  signedTcbInfo,
  tcbSigningChainPem,
  type TdxPki,
} from '../generators/tdx.js'
import { encodeQuote, pcrValuesFor, quoteFields as tpmQuoteFields, signQuote, wirePcrs } from '../generators/tpm.js'
import { asyncCodeOf } from '../support/error-code.js'
import { testDatabases } from '../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
const ak = generateKeyPairSync('rsa', { modulusLength: 2048 })
const OLD_TCB = { ...defaultTcb('Milan'), snp: 7 }

let snp: SnpPki
let vcek: Uint8Array
let oldTcbVcek: Uint8Array
let snpCrl: Uint8Array
let tdx: TdxPki
let tdxCrls: { pckCrl: string; rootCaCrl: string }
let anchors: TestTrustAnchors

beforeAll(async () => {
  ;[snp, tdx] = await Promise.all([createSnpPki('Milan'), createTdxPki()])
  vcek = await issueEndorsement(snp)
  oldTcbVcek = await issueEndorsement(snp, { tcb: OLD_TCB, serial: '0b' })
  snpCrl = await issueSnpCrl(snp)
  tdxCrls = { pckCrl: b64(await issueTdxCrl(tdx.platformCa)), rootCaCrl: b64(await issueTdxCrl(tdx.root)) }
  anchors = { snpArks: [{ product: 'Milan', spkiSha256: snp.arkSpkiSha256 }], tdxRoots: [tdx.rootSpkiSha256] }
}, 60_000)

/** The vTPM part: a quote of `extraData` (B[0:32] over HTTP) by the AK the runtime claims name. */
function vtpm(extraData: Uint8Array, key: KeyObject = ak.privateKey) {
  const f = tpmQuoteFields({ extraData, banks: [{ bank: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7] }] })
  const values = pcrValuesFor(f.banks)
  const quote = encodeQuote(f, values)
  return { quote: b64(quote), signature: b64(signQuote(quote, key, 'rsassa')), pcrs: wirePcrs(values) }
}

interface AzSnpOptions {
  readonly debug?: boolean
  readonly oldTcb?: boolean
  readonly crl?: boolean
}

function azSnp(extraData: Uint8Array, o: AzSnpOptions = {}) {
  const runtime = runtimeClaimsJson({ ak: ak.publicKey })
  const base = reportFields('Milan')
  const tcb = o.oldTcb === true ? encodeTcb(OLD_TCB, 'Milan') : base.reportedTcb
  const report = makeReport(snp, {
    reportData: runtimeReportData(runtime),
    ...(o.debug === true ? { policy: base.policy | (1n << BigInt(POLICY_BITS.debug)) } : {}),
    ...(o.oldTcb === true ? { reportedTcb: tcb, currentTcb: tcb, committedTcb: tcb, launchTcb: tcb } : {}),
  })
  return {
    type: 'az-snp-vtpm',
    hclReport: b64(hclReport('snp', report, runtime)),
    ...vtpm(extraData),
    certs: [o.oldTcb === true ? oldTcbVcek : vcek, snp.ask.der, snp.ark.der].map(b64),
    ...(o.crl === true ? { crl: b64(snpCrl) } : {}),
  }
}

interface AzTdxOptions {
  readonly debug?: boolean
  readonly status?: 'UpToDate' | 'SWHardeningNeeded' | 'OutOfDate'
  readonly crls?: boolean
}

function azTdx(extraData: Uint8Array, o: AzTdxOptions = {}) {
  const runtime = runtimeClaimsJson({ ak: ak.publicKey })
  const rd = runtimeReportData(runtime)
  const body = { reportData: rd, ...(o.debug === true ? { tdAttributes: 1n } : {}) }
  return {
    type: 'az-tdx-vtpm',
    hclReport: b64(hclReport('tdx', tdReport(rd), runtime)),
    tdQuote: b64(makeQuote(tdx, quoteFields({ body }))),
    collateral: {
      // One TCB level, matched by the default quote, with the status under test.
      tcbInfo: Buffer.from(signedTcbInfo(tdx, { levels: [{ status: o.status ?? 'UpToDate', ...(o.status === 'UpToDate' || o.status === undefined ? {} : { advisoryIDs: ['INTEL-SA-00001'] }) }] })).toString(),
      qeIdentity: Buffer.from(signedQeIdentity(tdx)).toString(),
      tcbSigningChain: Buffer.from(tcbSigningChainPem(tdx)).toString(),
      ...(o.crls === true ? tdxCrls : {}),
    },
    ...vtpm(extraData),
  }
}

/** Verifies wire evidence with the registry the service builds from `env` through `loadConfig`. */
function verifyWith(env: Record<string, string>, evidence: { type: string }, now: Date) {
  const verifier = createVerifiers(loadConfig(env), anchors, true).verifierFor(evidence.type)
  return asyncCodeOf(() => verifier.verify(verifier.schema.parse(evidence), { now, collateral: NO_COLLATERAL }))
}

const X = new Uint8Array(32).fill(0xb1)

describe('az-snp-vtpm with the configured SEV-SNP settings', () => {
  it('accepts the healthy report with the defaults and with every setting below satisfied', async () => {
    expect(await verifyWith({}, azSnp(X), SNP_NOW)).toBe('no-error')
    expect(await verifyWith({ KEYBROKER_SNP_MIN_TCB: '{"milan": {"snp": 8}}', KEYBROKER_SNP_REQUIRE_CRL: '1' }, azSnp(X, { crl: true }), SNP_NOW)).toBe('no-error')
  })

  it('refuses the debug bit (never allowed by configuration)', async () => {
    expect(await verifyWith({}, azSnp(X, { debug: true }), SNP_NOW)).toBe('debug-enabled')
  })

  it('refuses a TCB below KEYBROKER_SNP_MIN_TCB, which the defaults accept', async () => {
    expect(await verifyWith({}, azSnp(X, { oldTcb: true }), SNP_NOW)).toBe('no-error')
    expect(await verifyWith({ KEYBROKER_SNP_MIN_TCB: '{"milan": {"snp": 8}}' }, azSnp(X, { oldTcb: true }), SNP_NOW)).toBe('tcb-below-minimum')
  })

  it('refuses evidence without a CRL under KEYBROKER_SNP_REQUIRE_CRL, which the defaults accept', async () => {
    expect(await verifyWith({ KEYBROKER_SNP_REQUIRE_CRL: '1' }, azSnp(X), SNP_NOW)).toBe('collateral-missing')
    expect(await verifyWith({ KEYBROKER_SNP_REQUIRE_CRL: '1' }, azSnp(X, { crl: true }), SNP_NOW)).toBe('no-error')
  })

  it('refuses firmware below KEYBROKER_SNP_MIN_FIRMWARE (the generator writes 1.55)', async () => {
    expect(await verifyWith({ KEYBROKER_SNP_MIN_FIRMWARE: '1.56' }, azSnp(X), SNP_NOW)).toBe('tcb-below-minimum')
    expect(await verifyWith({ KEYBROKER_SNP_MIN_FIRMWARE: '1.55' }, azSnp(X), SNP_NOW)).toBe('no-error')
  })
})

describe('az-tdx-vtpm with the configured TDX settings', () => {
  it('refuses TD_ATTRIBUTES.DEBUG (never allowed by configuration)', async () => {
    expect(await verifyWith({}, azTdx(X), TDX_NOW)).toBe('no-error')
    expect(await verifyWith({}, azTdx(X, { debug: true }), TDX_NOW)).toBe('debug-enabled')
  })

  it('decides the TCB status by KEYBROKER_TDX_ACCEPTED_TCB_STATUSES, in both directions', async () => {
    // Defaults: UpToDate and SWHardeningNeeded accepted, OutOfDate refused.
    expect(await verifyWith({}, azTdx(X, { status: 'SWHardeningNeeded' }), TDX_NOW)).toBe('no-error')
    expect(await verifyWith({}, azTdx(X, { status: 'OutOfDate' }), TDX_NOW)).toBe('tcb-below-minimum')
    expect(await verifyWith({ KEYBROKER_TDX_ACCEPTED_TCB_STATUSES: 'UpToDate' }, azTdx(X, { status: 'SWHardeningNeeded' }), TDX_NOW)).toBe('tcb-below-minimum')
    expect(await verifyWith({ KEYBROKER_TDX_ACCEPTED_TCB_STATUSES: 'UpToDate,OutOfDate' }, azTdx(X, { status: 'OutOfDate' }), TDX_NOW)).toBe('no-error')
  })

  it('refuses collateral without CRLs under KEYBROKER_TDX_REQUIRE_CRLS, which the defaults accept', async () => {
    expect(await verifyWith({ KEYBROKER_TDX_REQUIRE_CRLS: '1' }, azTdx(X), TDX_NOW)).toBe('collateral-missing')
    expect(await verifyWith({ KEYBROKER_TDX_REQUIRE_CRLS: '1' }, azTdx(X, { crls: true }), TDX_NOW)).toBe('no-error')
  })
})

async function problemOf(p: Promise<unknown>): Promise<{ status: number; code: string } | 'ok'> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (err === undefined) return 'ok'
  if (!(err instanceof KeybrokerClientError)) throw err
  return { status: err.status, code: err.code }
}

describe.each(testDatabases())('Azure attestation over HTTP with configured settings on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(
      database,
      { KEYBROKER_SNP_MIN_TCB: '{"milan": {"snp": 8}}', KEYBROKER_TDX_ACCEPTED_TCB_STATUSES: 'UpToDate', KEYBROKER_TDX_REQUIRE_CRLS: '1' },
      undefined,
      anchors,
    )
    // The generated collateral is current at the generators' GEN_NOW (both 2025-06-01).
    kb.clock.advance((TDX_NOW.getTime() - Date.now()) / 1000)
    // az-* claims.measurement is the vTPM PCR digest, the same for every generated quote.
    const claims = await createVerifiers(kb.config, anchors, true)
      .verifierFor('az-snp-vtpm')
      .verify(azSnp(X) as never, { now: SNP_NOW, collateral: NO_COLLATERAL })
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'azure', measurements: [claims.measurement] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'azure-secret', generate: { bytes: 16 }, referenceValues: ['azure'] })).status).toBe(201)
  }, 60_000)
  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  const attest = (build: (b: Uint8Array) => object) => problemOf(kb.client.attestAndOpen((b) => build(b.subarray(0, 32)) as never, ['azure-secret']))

  it('az-snp-vtpm: released at the floor; below it tcb-below-minimum (403); debug-enabled (403)', async () => {
    expect(await attest((b) => azSnp(b))).toBe('ok')
    expect(await attest((b) => azSnp(b, { oldTcb: true }))).toEqual({ status: 403, code: 'tcb-below-minimum' })
    expect(await attest((b) => azSnp(b, { debug: true }))).toEqual({ status: 403, code: 'debug-enabled' })
  })

  it('az-tdx-vtpm: released with CRLs and UpToDate; SWHardeningNeeded tcb-below-minimum (403), no CRLs collateral-missing (422)', async () => {
    expect(await attest((b) => azTdx(b, { crls: true }))).toBe('ok')
    expect(await attest((b) => azTdx(b, { crls: true, status: 'SWHardeningNeeded' }))).toEqual({ status: 403, code: 'tcb-below-minimum' })
    expect(await attest((b) => azTdx(b))).toEqual({ status: 422, code: 'collateral-missing' })
  })
})
