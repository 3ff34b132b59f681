/**
 * Benchmark (not a test): Intel TDX quote verification beside its floor, the two ECDSA P-256
 * verifies every quote needs (quote signature by the attestation key, QE report signature by the
 * PCK key), measured in the same run (these machines are shared and noisy: the ratio is the
 * figure to watch). Real input: trustee's EMR quote with its Intel tcbInfo and TD QE identity
 * (test/vectors/tdx), verified at their pinned time with the TCB Signing key pinned and OutOfDate
 * accepted (that platform's status).
 *
 *   npm run build && node dist/bench/tdx.js
 *   BENCH_TDX_ITERATIONS=5000 node dist/bench/tdx.js
 *
 * Rows: the floor (two node:crypto P-256 verifies); verifyTdxEvidence with collateral from an
 * in-memory lookup and the certificate, chain and verified-document caches warm ("cached
 * collateral", what /v1/attest does once the store has the collateral); the wire path (base64
 * quote through the registry's verifier); and cold (every cache cleared before each call: X.509
 * parsing, the chain's P-256 verifies, both PCS documents scanned, parsed and verified).
 *
 * Peer: @phala/dcap-qvl (dev dependency), the pure-JavaScript DCAP verifier a JavaScript user
 * would pick instead. It always needs both CRLs, which only the go-tdx-guest SPR vector has, so
 * the peer rows use that quote with its 2023 collateral at its time: both verifiers check every
 * signature, the chain and both CRLs, then refuse at the TCB level match (no level matches; see
 * test/evidence/tdx/dcap-qvl.test.ts). dcap-qvl keeps no caches; keybroker is shown cold and
 * cached.
 */
import { createHash, verify, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createVerifierRegistry, type CollateralLookup } from '../src/evidence/index.js'
import {
  attestationPublicKey,
  clearTdxCertificateCaches,
  clearTdxDocumentCache,
  parseQuote,
  QE_IDENTITY_KEY,
  TCB_SIGNING_CHAIN_KEY,
  TDX_COLLATERAL_KINDS,
  verifyTdxEvidence,
  type TdxVerifyOptions,
} from '../src/evidence/tdx/index.js'
import { createRequire } from 'node:module'
import { median, rate } from './support/rates.js'

/** The part of @phala/dcap-qvl's API the peer rows use. */
interface DcapQvl {
  verify(quote: Buffer, collateral: Record<string, string>, nowSecs: number): { status: string }
}
const qvl = createRequire(import.meta.url)('@phala/dcap-qvl') as DcapQvl
const PEER_ITERATIONS = Number(process.env.BENCH_TDX_PEER_ITERATIONS ?? 100)

const ITERATIONS = Number(process.env.BENCH_TDX_ITERATIONS ?? 3000)
const COLD_ITERATIONS = Number(process.env.BENCH_TDX_COLD_ITERATIONS ?? 300)
const ROUNDS = 5
const NOW = new Date('2025-11-01T00:00:00Z')

const root = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url))
const read = (p: string): Uint8Array => new Uint8Array(readFileSync(root(`test/vectors/tdx/${p}`)))
const QUOTE = read('trustee-v4-emr-with-collateral/tdx_quote_6.dat')
const TCB_INFO = read('trustee-v4-emr-with-collateral/tcbInfo.json')
const QE_IDENTITY = read('trustee-v4-emr-with-collateral/enclaveIdentity.json')
const SIGNING = read('intel-sgx-tcb-signing-2018-2025.pem')

const OPTIONS: Partial<TdxVerifyOptions> = {
  acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded', 'OutOfDate'],
  pinnedTcbSigningKeys: ['bd7d4b9c805d92607dee34683a104abfa7b2a487e06af2edf0740a8666cbc22f'],
}

/** Collateral as the service's store hands it over: a map lookup. */
const STORE = new Map<string, Uint8Array>([
  [`${TDX_COLLATERAL_KINDS.tcbInfo}/00a06d080000`, TCB_INFO],
  [`${TDX_COLLATERAL_KINDS.qeIdentity}/${QE_IDENTITY_KEY}`, QE_IDENTITY],
  [`${TDX_COLLATERAL_KINDS.tcbSigningChain}/${TCB_SIGNING_CHAIN_KEY}`, SIGNING],
])
const LOOKUP: CollateralLookup = { get: async (kind, key) => STORE.get(`${kind}/${key}`) }

async function main(): Promise<void> {
  const q = parseQuote(QUOTE)
  const attestationKey = attestationPublicKey(q)
  const pckKey = new X509Certificate(q.pckChain[0] ?? new Uint8Array()).publicKey
  const p256 = (data: Uint8Array, key: typeof pckKey, sig: Uint8Array) => verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig)
  if (!p256(q.signedBytes, attestationKey, q.quoteSignature) || !p256(q.qeReportBytes, pckKey, q.qeReportSignature)) {
    throw new Error('floor: signatures do not verify')
  }
  const floorOp = () => {
    p256(q.signedBytes, attestationKey, q.quoteSignature)
    p256(q.qeReportBytes, pckKey, q.qeReportSignature)
  }
  const verifier = createVerifierRegistry({ allowSample: false, tdx: OPTIONS }).verifierFor('tdx')
  const wire = verifier.schema.parse({ type: 'tdx', quote: Buffer.from(QUOTE).toString('base64') })
  const cachedOp = () => verifyTdxEvidence({ quote: QUOTE, now: NOW, lookup: LOOKUP, options: OPTIONS })
  const wireOp = () => verifier.verify(wire, { now: NOW, collateral: LOOKUP })
  const claims = await cachedOp()
  if (claims.tcb['status'] !== 'OutOfDate') throw new Error('unexpected TCB status')
  for (let i = 0; i < 200; i++) {
    floorOp()
    await cachedOp()
    await wireOp()
  }
  const floors: number[] = []
  const cacheds: number[] = []
  const wires: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    floors.push(await rate(ITERATIONS, floorOp))
    cacheds.push(await rate(ITERATIONS, cachedOp))
    wires.push(await rate(ITERATIONS, wireOp))
  }
  const cold = await rate(COLD_ITERATIONS, () => {
    clearTdxCertificateCaches()
    clearTdxDocumentCache()
    return cachedOp()
  })
  const peer = await peerRows()
  const floor = median(floors)
  const cached = median(cacheds)
  const wirePath = median(wires)
  const cachedRatio = median(cacheds.map((c, i) => c / (floors[i] ?? 1)))
  const wireRatio = median(wires.map((w, i) => w / (floors[i] ?? 1)))

  const rows: [string, string][] = [
    ['input', `trustee EMR quote v4 (${QUOTE.byteLength} B), sha256 ${createHash('sha256').update(QUOTE).digest('hex').slice(0, 16)}…`],
    ['floor: 2 ECDSA P-256 verifies (quote + QE report) (quotes/s)', floor.toFixed(0)],
    ['floor: per quote (ms)', (1000 / floor).toFixed(3)],
    ['tdx verify, cached collateral (quotes/s)', cached.toFixed(0)],
    ['tdx verify, cached collateral (ms)', (1000 / cached).toFixed(3)],
    ['tdx verify, wire evidence (base64 via registry) (quotes/s)', wirePath.toFixed(0)],
    ['tdx verify, cold caches (quotes/s)', cold.toFixed(0)],
    ['tdx verify, cold caches (ms)', (1000 / cold).toFixed(3)],
    ['ratio cached / floor (median of rounds)', `${(cachedRatio * 100).toFixed(1)} %`],
    ['ratio wire / floor (median of rounds)', `${(wireRatio * 100).toFixed(1)} %`],
    ['floor spread over rounds', `${(((Math.max(...floors) - Math.min(...floors)) / floor) * 100).toFixed(1)} %`],
    ...peer,
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`)
}

/** keybroker and @phala/dcap-qvl on the SPR quote with full collateral and CRLs (both refuse at the TCB match). */
async function peerRows(): Promise<[string, string][]> {
  const raw = read('go-tdx-guest-v4-spr/tdx_prod_quote_SPR_E4.dat')
  const quote = raw.subarray(0, raw.byteLength - 39) // go-tdx-guest appended 39 bytes of test text
  const at = new Date('2023-07-01T01:00:00Z')
  const intelRoot = readFileSync(root('reference-values/intel/intel-sgx-root-ca.pem'), 'latin1')
  const platformCa = readFileSync(root('test/vectors/tdx/intel-sgx-pck-platform-ca.pem'), 'latin1')
  const tcbInfo = read('go-tdx-guest-v4-spr/sample_tcbInfo_response')
  const qeIdentity = read('go-tdx-guest-v4-spr/sample_qeIdentity_response')
  const pckCrl = read('go-tdx-guest-v4-spr/pckcrl')
  const rootCaCrl = read('go-tdx-guest-v4-spr/rootcrl.der')
  const split = (doc: Uint8Array, member: string) => {
    const text = Buffer.from(doc).toString('utf8')
    return { body: text.slice(text.indexOf('{', member.length + 3), text.lastIndexOf(',"signature":"')), signature: (JSON.parse(text) as { signature: string }).signature }
  }
  const chain = Buffer.from(SIGNING).toString('latin1') + intelRoot
  const tcb = split(tcbInfo, 'tcbInfo')
  const qe = split(qeIdentity, 'enclaveIdentity')
  const collateral = {
    pck_crl_issuer_chain: platformCa + intelRoot,
    root_ca_crl: Buffer.from(rootCaCrl).toString('hex'),
    pck_crl: Buffer.from(pckCrl).toString('hex'),
    tcb_info_issuer_chain: chain,
    tcb_info: tcb.body,
    tcb_info_signature: tcb.signature,
    qe_identity_issuer_chain: chain,
    qe_identity: qe.body,
    qe_identity_signature: qe.signature,
  }
  const nowSecs = Math.floor(at.getTime() / 1000)
  const expectRefusal = (f: () => unknown, what: string) => {
    try {
      f()
    } catch (err) {
      return err
    }
    throw new Error(`${what}: expected a refusal at the TCB match`)
  }
  const peerOp = () => expectRefusal(() => qvl.verify(Buffer.from(quote), collateral, nowSecs), 'dcap-qvl')
  const oursInput = { quote, now: at, collateral: { tcbInfo, qeIdentity, tcbSigningChain: SIGNING, pckCrl, rootCaCrl }, options: { requireCrls: true } }
  const oursOp = async () => {
    const err = await verifyTdxEvidence(oursInput).then(
      () => undefined,
      (e: unknown) => e,
    )
    if (!(err instanceof Error) || !err.message.startsWith('tcb-below-minimum')) throw new Error(`keybroker: expected tcb-below-minimum, got ${String(err)}`)
  }
  peerOp()
  await oursOp()
  const peer = await rate(PEER_ITERATIONS, peerOp)
  const oursCached = await rate(PEER_ITERATIONS * 10, oursOp)
  const oursCold = await rate(PEER_ITERATIONS, () => {
    clearTdxCertificateCaches()
    clearTdxDocumentCache()
    return oursOp()
  })
  return [
    ['peer input', 'go-tdx-guest SPR quote v4 + 2023 collateral + CRLs, refused at the TCB match by both'],
    ['@phala/dcap-qvl 0.3.9 verify (quotes/s)', peer.toFixed(0)],
    ['@phala/dcap-qvl 0.3.9 verify (ms)', (1000 / peer).toFixed(3)],
    ['keybroker, same input, cold caches (quotes/s)', oursCold.toFixed(0)],
    ['keybroker, same input, cached (quotes/s)', oursCached.toFixed(0)],
    ['speed-up keybroker cold / dcap-qvl', `${(oursCold / peer).toFixed(1)} x`],
    ['speed-up keybroker cached / dcap-qvl', `${(oursCached / peer).toFixed(1)} x`],
  ]
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/tdx: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
