/**
 * Benchmark (not a test): TPM quote verification beside its floor (the AK signature verify alone,
 * node:crypto), measured in the same run; plus the log work a quote may bring (TCG event log
 * parse + replay + decode, IMA list parse + replay) and an Azure SNP vTPM chain. Real inputs from
 * test/vectors (trustee's RSA-2048 quote with 24 PCRs, go-attestation's crypto-agile log, Cosmian's
 * IMA lists, trustee's Azure evidence).
 *
 *   npm run build && node dist/bench/tpm.js
 *   BENCH_TPM_ITERATIONS=5000 node dist/bench/tpm.js
 */
import { constants, createPublicKey, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createVerifierRegistry, type CollateralLookup } from '../src/evidence/index.js'
import { describeEvent, parseTcgEventLog, replayTcgEventLog, TPM_ALG } from '../src/evidence/tcg-event-log/index.js'
import { hashByName, parseSignature } from '../src/evidence/tpm/index.js'
import { parseImaAscii, parseImaBinary } from '../src/evidence/tpm/ima/parse.js'
import { replayIma } from '../src/evidence/tpm/ima/replay.js'
import { median, rate } from './support/rates.js'

const ITERATIONS = Number(process.env.BENCH_TPM_ITERATIONS ?? 3000)
const ROUNDS = 5
const root = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url))
const read = (p: string): Buffer => readFileSync(root(`test/vectors/${p}`))

const trustee = JSON.parse(read('tpm/trustee/tpm_evidence.json').toString('utf8')) as {
  ak_public: string
  tpm_quote: { message: string; signature: string; pcrs: string[] }
}
const AK_ID = 'a517f03ffdaee469aef1a19569547e330726335d0461c3ef6383409c6295679e'
const REGISTRY: CollateralLookup = {
  get: async (kind, key) => (kind === 'tpm-ak' && key === AK_ID ? new Uint8Array(Buffer.from('{"source":"registered","name":"bench"}')) : undefined),
}

async function msPer(n: number, op: () => unknown): Promise<number> {
  return 1000 / (await rate(n, op))
}
async function main(): Promise<void> {
  const registry = createVerifierRegistry({ allowSample: false })
  const tpm = registry.verifierFor('tpm')
  const wire = tpm.schema.parse({
    type: 'tpm',
    quote: trustee.tpm_quote.message,
    signature: trustee.tpm_quote.signature,
    pcrs: { sha256: Object.fromEntries(trustee.tpm_quote.pcrs.map((v, i) => [String(i), v])) },
    ak: { public: trustee.ak_public },
  })
  const now = new Date()
  const message = Buffer.from(trustee.tpm_quote.message, 'base64')
  const sig = parseSignature(new Uint8Array(Buffer.from(trustee.tpm_quote.signature, 'base64')))
  if (sig.sigAlg === 'ecdsa') throw new Error('expected an RSA quote')
  const key = createPublicKey({ key: Buffer.from(trustee.ak_public, 'base64'), format: 'der', type: 'spki' })
  const floorOp = () => verify('sha256', message, { key, padding: constants.RSA_PKCS1_PADDING }, sig.sig)
  if (!floorOp()) throw new Error('floor: signature does not verify')
  const tpmOp = () => tpm.verify(wire, { now, collateral: REGISTRY })
  await tpmOp()
  for (let i = 0; i < 300; i++) {
    floorOp()
    await tpmOp()
  }
  const floors: number[] = []
  const tpms: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    floors.push(await rate(ITERATIONS, floorOp))
    tpms.push(await rate(ITERATIONS, tpmOp))
  }
  const floor = median(floors)
  const full = median(tpms)
  const ratio = median(tpms.map((t, i) => t / (floors[i] ?? 1)))

  const log = new Uint8Array(read('tpm/go-attestation/crypto_agile_eventlog'))
  const eventLogMs = await msPer(500, () => {
    const parsed = parseTcgEventLog(log)
    replayTcgEventLog(parsed, TPM_ALG.sha256)
    for (const e of parsed.events) describeEvent(e, TPM_ALG.sha256)
  })
  const imaBin = new Uint8Array(read('tpm/cosmian/ima/ima_with_000000.bin'))
  const imaAscii = read('tpm/cosmian/ima/ima.ascii').toString('utf8')
  const sha256 = hashByName('sha256')!
  const imaBinMs = await msPer(20, () => replayIma(parseImaBinary(imaBin).entries, sha256))
  const imaAsciiMs = await msPer(50, () => replayIma(parseImaAscii(imaAscii).entries, sha256))

  const az = registry.verifierFor('az-snp-vtpm')
  const azWire = az.schema.parse(az.fromFile!(new Uint8Array(read('azure/snp/evidence-v1.json')), { certs: [] }))
  const azOp = () => az.verify(azWire, { now, collateral: { get: async () => undefined } })
  await azOp()
  const azRate = await rate(Math.max(100, ITERATIONS / 10), azOp)

  const rows: [string, string][] = [
    ['input', 'trustee tpm_evidence.json: RSA-2048 RSASSA-SHA256 quote, 24 SHA-256 PCRs, AK registered (in-memory lookup)'],
    ['floor: RSA-2048 PKCS#1 v1.5 verify of the quote (quotes/s)', floor.toFixed(0)],
    ['floor: per quote (ms)', (1000 / floor).toFixed(3)],
    ['tpm verify, wire evidence via registry (quotes/s)', full.toFixed(0)],
    ['tpm verify, wire evidence via registry (ms)', (1000 / full).toFixed(3)],
    ['ratio tpm verify / floor (median of rounds)', `${(ratio * 100).toFixed(1)} %`],
    ['floor spread over rounds', `${(((Math.max(...floors) - Math.min(...floors)) / floor) * 100).toFixed(1)} %`],
    ['TCG event log, 26 events: parse + replay + decode (ms)', eventLogMs.toFixed(3)],
    ['IMA binary list, 2127 entries: parse + SHA-256 replay (ms)', imaBinMs.toFixed(2)],
    ['IMA ASCII list, 446 entries: parse + SHA-256 replay (ms)', imaAsciiMs.toFixed(2)],
    ['az-snp-vtpm (SNP report + VCEK chain cached + vTPM quote) (chains/s)', azRate.toFixed(0)],
    ['az-snp-vtpm (ms)', (1000 / azRate).toFixed(3)],
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/tpm: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
})
