/**
 * Benchmark (not a test): attest+release of SEV-SNP evidence over HTTPS against a real service
 * process, beside its one-core crypto floor measured in the same run: the attest+release crypto
 * of bench/attest.ts plus the one ECDSA P-384 verify of a real report signature (trustee's Milan
 * VCEK report, test/vectors/snp). The certificate chain is verified once and then cached by
 * certificate digest, as in production ("cached chain").
 *
 * A real report cannot carry this run's nonce, so the reports sent are made by the synthetic SNP
 * signer the tests use (test/generators/snp.ts: an RSA-4096 ARK/ASK chain and a P-384 VCEK, like
 * AMD's), pinned in the service by its ARK's SPKI digest (bench/support/snp-serve.ts, the
 * tests' pin). What the service runs on them is the real path: report parsing, the VCEK chain
 * (cache), the P-384 signature, policy, TCB and binding checks, appraisal, release, audit. The
 * client signs each report too (P-384) on the same machine.
 *
 *   npm run build && node dist/bench/snp-attest.js
 *   DATABASE_URL=postgres://… BENCH_REQUESTS=1500 node dist/bench/snp-attest.js
 */
import { verify, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { generateAttestationKey, reportDataFor, type AttestationKey } from '../src/clients/index.js'
import { parseReport, SIGNED_SIZE } from '../src/evidence/snp/index.js'
import { createSnpPki, issueEndorsement, makeReport } from '../test/generators/snp.js'
import { measureFloor } from './support/floor.js'
import { createReleasableSecret, runRounds } from './support/rounds.js'
import { cpuSecondsOf, percentile, startService } from './support/service.js'

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8)
const FLOOR_ITERATIONS = Number(process.env.BENCH_FLOOR_ITERATIONS ?? 1000)
/** The generator's default MEASUREMENT. */
const MEASUREMENT = 'a1'.repeat(48)

const root = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url))

async function main(): Promise<void> {
  const keys = await Promise.all(Array.from({ length: 16 }, () => generateAttestationKey('P-256')))
  // The floor's report check: the real report's P-384 signature by its real VCEK.
  const report = new Uint8Array(readFileSync(root('test/vectors/snp/trustee-milan-vcek/test-report.bin')))
  const vcekKey = new X509Certificate(readFileSync(root('test/vectors/snp/trustee-milan-vcek/test-vcek.der'))).publicKey
  const parsed = parseReport(report)
  const signature = new Uint8Array([...parsed.signatureR, ...parsed.signatureS])
  const signed = report.subarray(0, SIGNED_SIZE)
  const verifyReport = () => {
    if (!verify('sha384', signed, { key: vcekKey, dsaEncoding: 'ieee-p1363' }, signature)) throw new Error('floor: report signature does not verify')
  }
  const floor = await measureFloor(keys, { iterations: FLOOR_ITERATIONS, measurement: MEASUREMENT, evidenceType: 'snp', verifyEvidence: verifyReport })

  const pki = await createSnpPki('Milan')
  const certs = [await issueEndorsement(pki), pki.ask.der, pki.ark.der].map((d) => Buffer.from(d).toString('base64'))
  const server = await startService({
    concurrency: CONCURRENCY,
    entry: './snp-serve.js',
    env: { BENCH_SNP_ARK_SPKI_SHA256: pki.arkSpkiSha256, KEYBROKER_SNP_MIN_TCB: '{"milan": {"snp": 8}}' },
  })
  try {
    await createReleasableSecret(server, { set: 'snp-bench', secret: 'snp-bench-secret' }, MEASUREMENT)
    const options = {
      concurrency: CONCURRENCY,
      release: ['snp-bench-secret'],
      evidence: async (nonce: string, key: AttestationKey) => ({ type: 'snp', report: Buffer.from(makeReport(pki, { reportData: await reportDataFor(nonce, key) })).toString('base64'), certs }),
    }
    const warm = await runRounds(server, keys, { ...options, requests: 50, concurrency: 1 })
    const cpuStart = await cpuSecondsOf(server.pid)
    const measured = await runRounds(server, keys, { ...options, requests: REQUESTS })
    const { seconds, attestLatencies: latencies } = measured
    // Warm-up failures count too: they show a setup problem as well as the measured ones.
    const errors = warm.errors + measured.errors
    const lastError = measured.lastError || warm.lastError
    const cpuMsPerRound = (((await cpuSecondsOf(server.pid)) - cpuStart) * 1000) / REQUESTS
    const throughput = REQUESTS / seconds
    const database = process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'
    const rows: [string, string][] = [
      ['floor: attest+release crypto + P-384 report verify, one core (ops/s)', floor.throughput.toFixed(0)],
      ['floor: CPU per operation (ms)', floor.cpuMsPerOp.toFixed(3)],
      [`service: SNP attest+release over HTTPS, ${CONCURRENCY} concurrent (req/s)`, throughput.toFixed(0)],
      ['service: attest p50 / p99 (ms)', `${percentile(latencies, 0.5).toFixed(2)} / ${percentile(latencies, 0.99).toFixed(2)}`],
      ['service: CPU per challenge+attest round (ms)', cpuMsPerRound.toFixed(3)],
      ['CPU ratio floor / service', `${((floor.cpuMsPerOp / cpuMsPerRound) * 100).toFixed(1)} %`],
      ['service: errors', errors === 0 ? '0' : `${errors} (last: ${lastError})`],
      ['service: database', database.toLowerCase()],
      ['ratio service / floor', `${((throughput / floor.throughput) * 100).toFixed(1)} %`],
    ]
    const width = Math.max(...rows.map(([k]) => k.length))
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`)
    const load = loadavg().map((l) => l.toFixed(1)).join(' ')
    process.stdout.write(
      `\n| SEV-SNP attest+release, cached chain, synthetic signer (${database}, ${cpus().length} cores, load average ${load}) | keybroker | floor | ratio |\n|---|---|---|---|\n` +
        `| throughput, ${CONCURRENCY} concurrent | ${throughput.toFixed(0)} req/s | ${floor.throughput.toFixed(0)} ops/s | ${((throughput / floor.throughput) * 100).toFixed(1)} % |\n` +
        `| CPU per round | ${cpuMsPerRound.toFixed(2)} ms | ${floor.cpuMsPerOp.toFixed(2)} ms | ${((floor.cpuMsPerOp / cpuMsPerRound) * 100).toFixed(1)} % |\n`,
    )
    if (errors > 0) process.exitCode = 1
  } finally {
    await server.stop()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exitCode = 1
})
