/**
 * The request-time collateral lookup: the KDS-layout cache directory, then the admin store, then
 * the opt-in AMD KDS fetcher (against a fake KDS on 127.0.0.1), with its disk cache, back-off,
 * negative cache and timeout. Real vector: trustee's Milan VCEK report (test/vectors/snp).
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/config.js'
import { decodePemCertificates, verifySnpEvidence } from '../../src/evidence/snp/index.js'
import { createLogger } from '../../src/log/logger.js'
import { continueTrace } from '../../src/log/trace-context.js'
import { createCollateralService, STORE_CACHE_TTL_MS, type CollateralFetcher } from '../../src/services/collateral.js'
import { createServices } from '../../src/services/services.js'
import { createKdsFetcher, KDS_BACKOFF_BASE_MS, parseVcekKey, SNP_KDS_LAYOUT } from '../../src/services/snp-kds.js'
import { openTestDatabase } from '../support/databases.js'
import { FakeKds } from '../support/fake-kds.js'
import { deleteCollateral, putCollateral, type Database } from '../../src/storage/index.js'

const vector = (p: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../vectors/snp/${p}`, import.meta.url)))
const amdPem = (p: string): string => readFileSync(new URL(`../../reference-values/amd/${p}`, import.meta.url), 'utf8')

const REPORT = vector('trustee-milan-vcek/test-report.bin')
const VCEK = vector('trustee-milan-vcek/test-vcek.der')
const HWID =
  'c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e'
const KEY = `Milan/${HWID}/7308000000000003`
const KDS_PATH = `/vcek/v1/Milan/${HWID}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115`
const NOW = new Date('2026-11-23T00:00:00Z')
const log = createLogger('silent')


describe('SNP KDS directory layout', () => {
  it('maps each kind and key to the KDS URL path; malformed keys map to nothing', () => {
    expect(SNP_KDS_LAYOUT.locate('snp-vcek', KEY)?.path).toBe(KDS_PATH.slice(1))
    expect(SNP_KDS_LAYOUT.locate('snp-vcek', `Turin/0102030405060708/${'1'.padStart(16, '0')}`)?.path).toBe(
      'vcek/v1/Turin/0102030405060708?blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=0&fmcSPL=1',
    )
    expect(SNP_KDS_LAYOUT.locate('snp-ask', 'Genoa')?.path).toBe('vcek/v1/Genoa/cert_chain')
    expect(SNP_KDS_LAYOUT.locate('snp-ark', 'Genoa')?.path).toBe('vcek/v1/Genoa/cert_chain')
    expect(SNP_KDS_LAYOUT.locate('snp-asvk', 'Turin')?.path).toBe('vlek/v1/Turin/cert_chain')
    expect(SNP_KDS_LAYOUT.locate('snp-crl', 'Milan/vlek')?.path).toBe('vlek/v1/Milan/crl')
    for (const [kind, key] of [
      ['snp-vcek', `Milan/../../etc/7308000000000003`],
      ['snp-vcek', `Milan/${HWID.slice(2)}/7308000000000003`],
      ['snp-vcek', `Turin/${HWID}/7308000000000003`],
      ['snp-vcek', `Rome/${HWID}/7308000000000003`],
      ['snp-crl', 'Milan/ask'],
      ['snp-ask', '../Milan'],
      ['snp-vlek', 'Milan/7308000000000003'],
      ['tdx-tcb-info', 'x'],
    ] as const) {
      expect(SNP_KDS_LAYOUT.locate(kind, key)).toBeUndefined()
    }
    expect(parseVcekKey(KEY)?.tcb).toEqual({ bootloader: 3, tee: 0, snp: 8, microcode: 115 })
  })
})

describe('collateral lookup: directory → admin store → KDS', () => {
  let dir: string
  let database: Database
  let kds: FakeKds
  let clockMs: number
  const now = () => new Date(clockMs)

  beforeAll(async () => {
    database = await openTestDatabase('pglite')
    kds = new FakeKds((path) => (path === KDS_PATH ? VCEK : undefined), vector('trustee-synthetic-vcek-negative/test-vcek-invalid-new.der'))
    await kds.start()
  })
  afterAll(async () => {
    await kds?.stop()
    await database?.close()
  })
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kb-collateral-'))
    kds.mode = 'ok'
    kds.requests = []
    kds.traceparents = []
    clockMs = NOW.getTime()
  })
  afterEach(async () => {
    kds.releaseHanging()
    await rm(dir, { recursive: true, force: true })
  })

  const kdsFetcher = (timeoutMs = 2000): CollateralFetcher => createKdsFetcher({ baseUrl: kds.url, timeoutMs, now, log })
  const service = (fetchers: CollateralFetcher[] = [], withStore = true) =>
    createCollateralService({ directory: dir, layouts: [SNP_KDS_LAYOUT], ...(withStore ? { db: database.db } : {}), fetchers, log })

  it('reads the KDS layout: a VCEK file, both certificates of cert_chain, a CRL', async () => {
    await mkdir(join(dir, 'vcek/v1/Milan'), { recursive: true })
    await writeFile(join(dir, KDS_PATH.slice(1)), VCEK)
    await writeFile(join(dir, 'vcek/v1/Milan/cert_chain'), amdPem('milan/ask-milan.pem') + amdPem('milan/ark-milan.pem'))
    // The bare report verifies with the VCEK from the directory and the chain from cert_chain.
    const claims = await verifySnpEvidence({ report: REPORT, now: NOW, collateral: service([], false).lookup() })
    expect(claims.raw['product']).toBe('Milan')

    await writeFile(join(dir, 'vcek/v1/Milan/crl'), new Uint8Array([0x30, 0x00]))
    const lookup = service([], false).lookup()
    expect(await lookup.get('snp-vcek', KEY)).toEqual(VCEK)
    expect(await lookup.get('snp-ask', 'Milan')).toEqual(decodePemCertificates(amdPem('milan/ask-milan.pem'), 'ask')[0])
    expect(await lookup.get('snp-ark', 'Milan')).toEqual(decodePemCertificates(amdPem('milan/ark-milan.pem'), 'ark')[0])
    expect(await lookup.get('snp-crl', 'Milan/vcek')).toEqual(new Uint8Array([0x30, 0x00]))
    expect(await lookup.get('snp-asvk', 'Milan')).toBeUndefined()
    expect(await lookup.get('snp-vcek', KEY.replace('7308', '7408'))).toBeUndefined()
  })

  it('the directory wins over the admin store; the store answers when the directory has nothing', async () => {
    await putCollateral(database.db, { kind: 'snp-vcek', key: KEY, bytes: new Uint8Array([1, 2, 3]), uploadedAt: NOW, uploadedBy: 't', notAfter: null })
    expect(await service().lookup().get('snp-vcek', KEY)).toEqual(new Uint8Array([1, 2, 3]))
    await mkdir(join(dir, 'vcek/v1/Milan'), { recursive: true })
    await writeFile(join(dir, KDS_PATH.slice(1)), VCEK)
    expect(await service().lookup().get('snp-vcek', KEY)).toEqual(VCEK)
    expect(await deleteCollateral(database.db, 'snp-vcek', KEY)).toBeDefined()
  })

  it('reuses admin-store answers for STORE_CACHE_TTL_MS (other replicas), forgets them on invalidate (this one)', async () => {
    const svc = createCollateralService({ directory: dir, layouts: [SNP_KDS_LAYOUT], db: database.db, log, now })
    const put = (b: number[]) =>
      putCollateral(database.db, { kind: 'snp-ask', key: 'Turin', bytes: new Uint8Array(b), uploadedAt: NOW, uploadedBy: 't', notAfter: null })
    await put([1])
    expect(await svc.lookup().get('snp-ask', 'Turin')).toEqual(new Uint8Array([1]))
    await put([2]) // as another replica would
    expect(await svc.lookup().get('snp-ask', 'Turin')).toEqual(new Uint8Array([1]))
    clockMs += STORE_CACHE_TTL_MS + 1
    expect(await svc.lookup().get('snp-ask', 'Turin')).toEqual(new Uint8Array([2]))
    await deleteCollateral(database.db, 'snp-ask', 'Turin')
    expect(await svc.lookup().get('snp-ask', 'Turin')).toEqual(new Uint8Array([2]))
    svc.invalidate()
    expect(await svc.lookup().get('snp-ask', 'Turin')).toBeUndefined()
    await put([3])
    expect(await svc.lookup().get('snp-ask', 'Turin')).toBeUndefined() // the absence is cached too
    svc.invalidate()
    expect(await svc.lookup().get('snp-ask', 'Turin')).toEqual(new Uint8Array([3]))
    await deleteCollateral(database.db, 'snp-ask', 'Turin')
    const uncached = createCollateralService({ directory: dir, layouts: [SNP_KDS_LAYOUT], db: database.db, log, now, storeCacheTtlMs: 0 })
    expect(await uncached.lookup().get('snp-ask', 'Turin')).toBeUndefined()
  })

  it('without a fetcher (the default) nothing goes to the network', async () => {
    const lookup = service([], false).lookup()
    expect(await lookup.get('snp-vcek', KEY)).toBeUndefined()
    expect(kds.requests).toEqual([])
  })

  it('fetches a missing VCEK from the KDS once, caches it on disk, then serves it from the directory', async () => {
    const svc = service([kdsFetcher()], false)
    const [a, b] = await Promise.all([svc.lookup().get('snp-vcek', KEY), svc.lookup().get('snp-vcek', KEY)])
    expect(a).toEqual(VCEK)
    expect(b).toEqual(VCEK)
    expect(kds.requests).toEqual([KDS_PATH])
    expect(new Uint8Array(readFileSync(join(dir, KDS_PATH.slice(1))))).toEqual(VCEK)
    const claims = await verifySnpEvidence({ report: REPORT, now: NOW, collateral: svc.lookup() })
    expect(claims.measurement.startsWith('a1f39304')).toBe(true)
    expect(kds.requests).toHaveLength(1)
    // Only VCEKs are fetched.
    expect(await svc.lookup().get('snp-ask', 'Milan')).toBeUndefined()
    expect(kds.requests).toHaveLength(1)
  })

  it("sends the request's trace to the KDS as a child span and logs it; no trace, no header", async () => {
    const lines: string[] = []
    const svc = createCollateralService({
      directory: dir,
      layouts: [SNP_KDS_LAYOUT],
      fetchers: [createKdsFetcher({ baseUrl: kds.url, timeoutMs: 2000, now, log: createLogger('info', (l) => lines.push(l)) })],
      log,
    })
    const request = continueTrace('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
    expect(await svc.lookup(request).get('snp-vcek', KEY)).toEqual(VCEK)
    const sent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(kds.traceparents[0] ?? '')
    expect(sent?.[1]).toBe(request.traceId)
    expect(sent?.[3]).toBe('01')
    expect(sent?.[2]).not.toBe(request.parentId)
    expect(sent?.[2]).not.toBe(request.spanId)
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r['msg'] === 'kds: VCEK fetched')).toMatchObject({ traceId: request.traceId, spanId: sent?.[2] })
    // Work no request caused (a lookup without a trace) sends no traceparent.
    await rm(join(dir, KDS_PATH.slice(1)))
    expect(await svc.lookup().get('snp-vcek', KEY)).toEqual(VCEK)
    expect(kds.traceparents).toEqual([kds.traceparents[0], undefined])
  })

  it('backs off after a failure (10 s, doubling) and recovers', async () => {
    const svc = service([kdsFetcher()], false)
    kds.mode = '500'
    expect(await svc.lookup().get('snp-vcek', KEY)).toBeUndefined()
    expect(await svc.lookup().get('snp-vcek', KEY)).toBeUndefined()
    expect(kds.requests).toHaveLength(1)
    clockMs += KDS_BACKOFF_BASE_MS + 1
    expect(await svc.lookup().get('snp-vcek', KEY)).toBeUndefined()
    expect(kds.requests).toHaveLength(2)
    clockMs += KDS_BACKOFF_BASE_MS + 1 // the second back-off is 20 s
    expect(await svc.lookup().get('snp-vcek', KEY)).toBeUndefined()
    expect(kds.requests).toHaveLength(2)
    kds.mode = 'ok'
    clockMs += KDS_BACKOFF_BASE_MS
    expect(await svc.lookup().get('snp-vcek', KEY)).toEqual(VCEK)
    expect(kds.requests).toHaveLength(3)
    expect(existsSync(join(dir, KDS_PATH.slice(1)))).toBe(true)
  })

  it('honours Retry-After of a 429', async () => {
    const svc = service([kdsFetcher()], false)
    kds.mode = '429'
    expect(await svc.lookup().get('snp-vcek', KEY)).toBeUndefined()
    kds.mode = 'ok'
    clockMs += 30_000
    expect(await svc.lookup().get('snp-vcek', KEY)).toBeUndefined()
    expect(kds.requests).toHaveLength(1)
    clockMs += 31_000
    expect(await svc.lookup().get('snp-vcek', KEY)).toEqual(VCEK)
  })

  it('remembers a 404 for that VCEK without backing off the others', async () => {
    const svc = service([kdsFetcher()], false)
    kds.mode = '404'
    expect(await svc.lookup().get('snp-vcek', KEY)).toBeUndefined()
    expect(await svc.lookup().get('snp-vcek', KEY)).toBeUndefined()
    expect(kds.requests).toHaveLength(1)
    kds.mode = 'ok'
    expect(await svc.lookup().get('snp-vcek', KEY.replace(/.{16}$/, '7408000000000003'))).toBeUndefined() // 404 from the fake (other path)
    expect(kds.requests).toHaveLength(2)
  })

  it('gives up after the timeout, without caching anything', async () => {
    const svc = service([kdsFetcher(200)], false)
    kds.mode = 'hang'
    const started = Date.now()
    expect(await svc.lookup().get('snp-vcek', KEY)).toBeUndefined()
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(kds.requests).toHaveLength(1)
    expect(existsSync(join(dir, KDS_PATH.slice(1)))).toBe(false)
  })

  it('refuses what is not the requested VCEK (junk, another certificate) and does not cache it', async () => {
    for (const mode of ['junk', 'other-vcek'] as const) {
      const svc = service([kdsFetcher()], false)
      kds.mode = mode
      expect(await svc.lookup().get('snp-vcek', KEY)).toBeUndefined()
      expect(existsSync(join(dir, KDS_PATH.slice(1)))).toBe(false)
    }
    expect(kds.requests).toHaveLength(2)
  })

  it('the service wires the fetcher only with KEYBROKER_SNP_KDS_FETCH=1', async () => {
    // Both services open the same database, so they share one KEK (the start-up check refuses another).
    const kek = randomBytes(32).toString('base64')
    for (const fetch of ['0', '1']) {
      const dataDir = await mkdtemp(join(tmpdir(), 'kb-services-'))
      try {
        const config = loadConfig({
          KEYBROKER_DATA_DIR: dataDir,
          KEYBROKER_SNP_KDS_URL: kds.url,
          KEYBROKER_SNP_KDS_FETCH: fetch,
          KEYBROKER_KEK: kek,
        })
        const s = await createServices(config, log, { database, now })
        expect(s.collateral.directory).toBe(join(dataDir, 'collateral'))
        const got = await s.collateral.lookup().get('snp-vcek', KEY)
        expect(got === undefined ? 'none' : 'vcek').toBe(fetch === '1' ? 'vcek' : 'none')
        expect(kds.requests).toHaveLength(fetch === '1' ? 1 : 0)
      } finally {
        await rm(dataDir, { recursive: true, force: true })
      }
    }
  })
})
